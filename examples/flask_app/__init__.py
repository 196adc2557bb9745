"""The example app on Flask: ``python -m examples.flask_app --host H --port P``.

``create_app`` lives in :mod:`examples.flask_app.app`; the embedded sandboxes in
:mod:`examples.flask_app.sandbox`.
"""
