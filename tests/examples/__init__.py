"""The black-box contract every example app keeps (see docs/architecture.md)."""
