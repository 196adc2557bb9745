"""The example app's contract on other web frameworks: ``python -m examples.flask_app``.

Each example serves the same routes and reads the same environment as ``example_app`` (the
kit's routes under ``/auth``, ``/api/accounts``, the sandbox provider and sandbox ORCA when
``OIDC_ISSUER`` and ``ORCA_API_BASE`` are unset), on the same kit.
"""
