"""Tests of the web layer (see docs/architecture.md)."""
