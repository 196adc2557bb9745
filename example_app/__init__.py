"""example_app: the oidc_kit demo, and a starter template for your own Starlette app.

Run it with ``python -m example_app`` (``make demo``): with no configuration it logs users in
at an embedded sandbox provider (alice/alice, bob/bob) and shows their made-up accounts from an
embedded sandbox ORCA API. ``create_app`` lives in :mod:`example_app.app`.
"""
