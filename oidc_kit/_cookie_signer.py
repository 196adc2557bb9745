"""The kit's signed cookies: the session cookie naming a session id, and the login cookie
holding a browser's recent login bindings (itsdangerous, secrets that rotate).

The browser holds only these signed, opaque values; what they name lives in the store.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, Signer, TimestampSigner

from ._crypto import derive_key

__all__ = ["LOGIN_BINDINGS", "CookieSigner"]

#: Cookies whose signature was verified with the newest secret, kept (about 100 B each).
_VERIFIED_CACHE = 4096
#: Login bindings a login cookie keeps: a browser's logins under way at once (tabs). A further
#: login start pushes out the oldest, whose callback then fails with ``invalid_state``.
LOGIN_BINDINGS = 5
#: Between the bindings in a login cookie: cookie-safe (no quoting in ``Set-Cookie``), and
#: neither in ``secrets.token_urlsafe``'s alphabet nor itsdangerous's ``.`` separator.
_BINDING_SEP = "~"


class CookieSigner:
    """Signs session ids and login-binding ids for cookies (itsdangerous, key rotation)."""

    def __init__(self, session_secrets: Sequence[str], login_max_age: int) -> None:
        # One HKDF key per purpose, so itsdangerous needs no key derivation of its own (it
        # would otherwise run an extra HMAC on every request to derive the key from a salt).
        # itsdangerous takes keys oldest first and signs with the last one.
        oldest_first = list(reversed(session_secrets))
        session_keys = [derive_key(s, "cookie-signing:session") for s in oldest_first]
        login_keys = [derive_key(s, "cookie-signing:login") for s in oldest_first]
        options: dict[str, Any] = {"key_derivation": "none", "digest_method": hashlib.sha256}
        self._session = Signer(session_keys, **options)
        self._session_newest = Signer(session_keys[-1], **options)
        self._login = TimestampSigner(login_keys, **options)
        self._login_max_age = login_max_age
        self._verified: OrderedDict[str, str] = OrderedDict()

    def sign_session(self, sid: str) -> str:
        return self._session.sign(sid).decode()

    def read_session(self, cookie: str) -> tuple[str | None, bool]:
        """The session id in a cookie, and whether it is signed with the newest secret.

        One HMAC for the usual case (signed with the newest secret); the older secrets are
        tried only when that fails, and such a cookie is then re-issued.
        """
        known = self._verified.get(cookie)
        if known is not None:
            return known, True
        try:
            sid = self._session_newest.unsign(cookie).decode()
        except (BadSignature, UnicodeError):
            return self.session_id(cookie), False
        # Remember verified cookies: the same few come back on every request, and the
        # HMAC is a large part of a protected request's cost. Only verified values enter.
        self._verified[cookie] = sid
        if len(self._verified) > _VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return sid, True

    def session_id(self, cookie: str) -> str | None:
        """The session id in a cookie value, or ``None`` when the signature is bad."""
        try:
            return self._session.unsign(cookie).decode()
        except (BadSignature, UnicodeError):
            return None

    def sign_login(self, binding: str) -> str:
        """One short-lived signed value (the logout cookie's ``state``)."""
        return self._login.sign(binding).decode()

    def login_binding(self, cookie: str) -> str | None:
        """The value :meth:`sign_login` signed, ``None`` when forged or older than allowed."""
        try:
            return self._login.unsign(cookie, max_age=self._login_max_age).decode()
        except (BadSignature, UnicodeError):
            return None

    def sign_login_bindings(self, bindings: Sequence[str]) -> str:
        """The login cookie: this browser's most recent bindings, newest first, the first
        :data:`LOGIN_BINDINGS` of ``bindings`` kept."""
        return self.sign_login(_BINDING_SEP.join(bindings[:LOGIN_BINDINGS]))

    def login_bindings(self, cookie: str) -> list[str]:
        """The bindings in a login cookie, newest first; none when it is forged or older than
        ``login_timeout`` (a cookie of one binding, as older versions wrote, gives that one)."""
        value = self.login_binding(cookie)
        if not value:
            return []
        return [b for b in value.split(_BINDING_SEP) if b][:LOGIN_BINDINGS]
