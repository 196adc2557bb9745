"""Sealing tokens at rest: AES-256-GCM with keys derived from the session secrets by HKDF.

Secrets are listed newest first (as ``SESSION_SECRET`` is written). New data is sealed with the
newest key; data sealed with any listed key still opens, so a secret is rotated by putting the
new one first and, once old sessions have expired or been re-sealed, dropping the old one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealError", "Sealer", "derive_key"]

_VERSION = 1
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4


class SealError(Exception):
    """A sealed blob does not open: unknown key, tampered, truncated or another format."""


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    """Derive an independent key for ``purpose`` from one session secret (HKDF-SHA256)."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=b"oidc_kit/v1",
        info=purpose.encode(),
    )
    return hkdf.derive(secret.encode())


class Sealer:
    """AES-GCM sealing with a key list for rotation.

    A sealed blob is ``version (1) | key id (4) | nonce (12) | ciphertext+tag``. The key id is a
    hash of the derived key, so opening picks the right key without trying each one.
    """

    def __init__(self, secrets: Sequence[str], purpose: str = "token-sealing") -> None:
        """One AES key per secret, derived for ``purpose``: what is sealed for one purpose
        never opens as another's."""
        if not secrets:
            raise ValueError("at least one secret is needed")
        keys = [derive_key(s, purpose) for s in secrets]
        self._by_id = {self._key_id(k): AESGCM(k) for k in keys}
        self._current_id = self._key_id(keys[0])
        self._current = self._by_id[self._current_id]

    @staticmethod
    def _key_id(key: bytes) -> bytes:
        return hashlib.sha256(key).digest()[:_KEY_ID_BYTES]

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``associated_data`` (the session id)."""
        nonce = os.urandom(_NONCE_BYTES)
        body = self._current.encrypt(nonce, plaintext, associated_data)
        return bytes([_VERSION]) + self._current_id + nonce + body

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` was sealed with the newest key (else: re-seal it on next write)."""
        return blob[1 : 1 + _KEY_ID_BYTES] == self._current_id

    def open(self, blob: bytes, associated_data: bytes) -> bytes:
        """Decrypt a blob from :meth:`seal`; :class:`SealError` if it does not authenticate."""
        header = 1 + _KEY_ID_BYTES + _NONCE_BYTES
        if len(blob) < header + 16 or blob[0] != _VERSION:
            raise SealError("not a sealed blob of a known version")
        aead = self._by_id.get(blob[1 : 1 + _KEY_ID_BYTES])
        if aead is None:
            raise SealError("sealed with a key that is no longer configured")
        try:
            return aead.decrypt(blob[1 + _KEY_ID_BYTES : header], blob[header:], associated_data)
        except InvalidTag:
            raise SealError("sealed blob failed authentication") from None
