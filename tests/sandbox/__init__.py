"""Tests of the sandbox layer (see docs/architecture.md)."""
