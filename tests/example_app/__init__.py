"""Tests of the example_app layer (see docs/architecture.md)."""
