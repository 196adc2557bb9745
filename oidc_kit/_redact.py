"""A logging filter that keeps tokens out of log lines written by other libraries.

The kit itself never logs a token. But a server's access log writes whole request lines: the
callback's ``GET /auth/callback?code=...`` (a code is a credential until it is redeemed, and
a log is read by more people than the app's secrets), and, with a provider embedded in the
same process (the sandbox), the logout redirect's ``id_token_hint``. :func:`redact_server_logs`
puts the filter on uvicorn's access logger and the kit's own, so that ``uvicorn app:app``
logs no token with no set-up (``OIDCAuth`` calls it); an app that logs elsewhere installs
:class:`RedactTokens` on its handlers, as the example app does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED_LOGGERS", "RedactTokens", "redact_server_logs"]

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
        redacted = _redact(message)
        if redacted != message:
            _rewrite(record, redacted)
        return True


def _redact(text: str) -> str:
    return _PARAMS.sub(r"\1[redacted]", _JWT.sub("[redacted-jwt]", text))


def _redact_arg(value: object) -> object:
    """A format argument, redacted; left as it is (a number stays a number) when clean."""
    text = value if isinstance(value, str) else str(value)
    redacted = _redact(text)
    return value if redacted == text else redacted


def _rewrite(record: logging.LogRecord, redacted: str) -> None:
    """Redact the record's format string and each argument, keeping the arguments when they
    give the redacted message: a formatter may read them (uvicorn's access-log formatter
    unpacks its five). Otherwise, the redacted message without arguments."""
    args: Any = record.args
    if isinstance(args, tuple):
        args = tuple(_redact_arg(arg) for arg in args)
    elif isinstance(args, Mapping):
        args = {key: _redact_arg(arg) for key, arg in args.items()}
    msg = _redact(record.msg) if isinstance(record.msg, str) else record.msg
    try:
        kept = (str(msg) % args if args else str(msg)) == redacted
    except (TypeError, ValueError, KeyError):  # a %d given a redacted string, say
        kept = False
    record.msg, record.args = (msg, args) if kept else (redacted, None)


#: The loggers :func:`redact_server_logs` filters: uvicorn's access log (which gunicorn's
#: uvicorn workers write too), and the kit's own. A filter on a logger sees only the records
#: logged on that logger itself, so each one is named.
REDACTED_LOGGERS = ("uvicorn.access", "oidc_kit")


def redact_server_logs(names: tuple[str, ...] = REDACTED_LOGGERS) -> None:
    """Put a :class:`RedactTokens` on each logger in ``names``, once however often called.

    On the logger rather than a handler, so it holds whatever handlers the server's logging
    configuration adds later (``logging.config`` replaces a logger's handlers, not its filters).
    """
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
