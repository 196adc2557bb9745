"""The example app on Django: ``python -m examples.django_app --host H --port P``.

``create_app`` lives in :mod:`examples.django_app.app`, the views and URLconf in
:mod:`examples.django_app.urls`; the embedded sandboxes are the Flask example's
(:mod:`examples.flask_app.sandbox`, which needs no Flask).
"""
