"""Tests of the stores layer (see docs/architecture.md)."""
