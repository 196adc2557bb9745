"""AES-GCM sealing of tokens at rest: integrity, binding to the session, key rotation."""

from __future__ import annotations

import pytest

from oidc_kit._crypto import Sealer, SealError, derive_key

OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-fedcba9876543210"
AD = b"session:abc123"
TOKENS = b'{"access_token": "eyJhbGciOiJSUzI1NiJ9.secret-access-token", "refresh_token": "rt"}'


def test_roundtrip() -> None:
    sealer = Sealer([NEW])
    assert sealer.open(sealer.seal(TOKENS, AD), AD) == TOKENS


@pytest.mark.parametrize("plaintext", [b"", b"\x00", bytes(range(256)) * 40])
def test_roundtrip_any_bytes(plaintext: bytes) -> None:
    sealer = Sealer([NEW])
    assert sealer.open(sealer.seal(plaintext, AD), AD) == plaintext


def test_another_sealer_with_the_same_secret_opens() -> None:
    # Another process configured with the same SESSION_SECRET.
    assert Sealer([NEW]).open(Sealer([NEW]).seal(TOKENS, AD), AD) == TOKENS


def test_associated_data_mismatch_is_refused() -> None:
    # A blob copied from one session's record to another's must not open.
    sealer = Sealer([NEW])
    blob = sealer.seal(TOKENS, AD)
    with pytest.raises(SealError):
        sealer.open(blob, b"session:other")


@pytest.mark.parametrize("position", [0, 1, 5, 17, 20, -17, -1])
def test_tampered_byte_is_refused(position: int) -> None:
    # Version, key id, nonce, ciphertext and tag: a flipped bit anywhere fails.
    sealer = Sealer([NEW])
    blob = bytearray(sealer.seal(TOKENS, AD))
    blob[position] ^= 0x01
    with pytest.raises(SealError):
        sealer.open(bytes(blob), AD)


@pytest.mark.parametrize("length", [0, 1, 5, 17, 32, -1])
def test_truncated_is_refused(length: int) -> None:
    sealer = Sealer([NEW])
    blob = sealer.seal(TOKENS, AD)
    with pytest.raises(SealError):
        sealer.open(blob[:length], AD)


@pytest.mark.parametrize("garbage", [b"", b"not sealed at all", b"\x00" * 64, b"\x01" * 64])
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(SealError):
        Sealer([NEW]).open(garbage, AD)


def test_rotation_opens_old_blobs_and_seals_with_newest() -> None:
    old_blob = Sealer([OLD]).seal(TOKENS, AD)
    rotated = Sealer([NEW, OLD])  # newest first
    assert rotated.open(old_blob, AD) == TOKENS
    new_blob = rotated.seal(TOKENS, AD)
    # Sealed with NEW: it opens once OLD is dropped, and not with OLD alone.
    assert Sealer([NEW]).open(new_blob, AD) == TOKENS
    with pytest.raises(SealError):
        Sealer([OLD]).open(new_blob, AD)


def test_dropped_secret_is_refused() -> None:
    old_blob = Sealer([OLD]).seal(TOKENS, AD)
    with pytest.raises(SealError):
        Sealer([NEW]).open(old_blob, AD)


def test_no_secrets_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        Sealer([])


def test_ciphertext_does_not_contain_plaintext() -> None:
    blob = Sealer([NEW]).seal(TOKENS, AD)
    assert TOKENS not in blob
    assert b"secret-access-token" not in blob
    assert b"access_token" not in blob


def test_two_seals_differ() -> None:
    sealer = Sealer([NEW])
    first, second = sealer.seal(TOKENS, AD), sealer.seal(TOKENS, AD)
    assert first != second
    assert sealer.open(first, AD) == sealer.open(second, AD) == TOKENS


def test_seal_error_does_not_leak_plaintext() -> None:
    sealer = Sealer([NEW])
    blob = sealer.seal(TOKENS, AD)
    with pytest.raises(SealError) as info:
        sealer.open(blob, b"session:other")
    assert "secret-access-token" not in str(info.value)


def test_derive_key_purposes_are_independent() -> None:
    sealing = derive_key(NEW, "token-sealing")
    cookies = derive_key(NEW, "cookie-signing")
    assert sealing != cookies
    assert len(sealing) == len(cookies) == 32


def test_derive_key_is_deterministic_and_secret_dependent() -> None:
    assert derive_key(NEW, "token-sealing") == derive_key(NEW, "token-sealing")
    assert derive_key(NEW, "token-sealing") != derive_key(OLD, "token-sealing")
    assert NEW.encode() not in derive_key(NEW, "token-sealing")


def test_derive_key_length() -> None:
    assert len(derive_key(NEW, "x", length=16)) == 16
    assert len(derive_key(NEW, "x", length=64)) == 64
