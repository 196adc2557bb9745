"""The kit's own conformance suite: one test per OpenID Foundation RP certification case."""
