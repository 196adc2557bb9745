"""Benchmarks of oidc_kit's hot path (``make bench``; see docs/performance.md)."""
