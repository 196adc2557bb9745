"""A logging filter that keeps tokens out of log lines written by other libraries.

The kit itself never logs a token. But a server's access log writes whole request lines, and
the RP-initiated logout redirect carries ``id_token_hint`` in its query string; a provider
embedded in the same process (the sandbox) would have its URL logged. Install this filter on
the handlers of an app that embeds the kit, as the example app does.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactTokens"]

# Compact JWS/JWE: base64url of a JSON header always starts with "eyJ" ('{"').
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}")
_PARAMS = re.compile(
    r"\b((?:id_token_hint|id_token|access_token|refresh_token|logout_token|code|code_verifier"
    r"|client_secret|client_assertion)=)[^&\s\"']+"
)


class RedactTokens(logging.Filter):
    """Rewrites a record's message with JWTs and token-bearing URL parameters redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record``'s message in place; the record is always kept."""
        message = record.getMessage()
        redacted = _PARAMS.sub(r"\1[redacted]", _JWT.sub("[redacted-jwt]", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
