"""Tests of the core layer (see docs/architecture.md)."""
