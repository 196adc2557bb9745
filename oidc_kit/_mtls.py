"""Mutual TLS (RFC 8705): the client's certificate, checked once at load, and the one place
that builds the TLS context presenting it.

The certificate and its key are a PEM file's path or the PEM itself (``client_cert``,
``client_cert_key``), like ``client_key``. At load the key must match the certificate and the
certificate must be in its validity period: a mismatch or an expired certificate would
otherwise surface as a handshake failure at the first login, far from its cause.

:func:`tls_context` is what every connection presenting the certificate uses: the kit's own
HTTP client for the provider's mTLS endpoints, and the app's client for its API, which must
present the same certificate when access tokens are certificate-bound (RFC 8705 3). It trusts
what httpx trusts by default (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi's
bundle), so a private CA is configured the way every httpx client of the app is.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass, field

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ._errors import ConfigurationError

__all__ = ["ClientCertificate", "cert_thumbprint", "load_client_certificate"]

_CERT_SETTING = "client_cert (OIDC_CLIENT_CERT)"
_KEY_SETTING = "client_cert_key (OIDC_CLIENT_CERT_KEY)"
_PEM_BEGIN = "-----BEGIN"


def cert_thumbprint(der: bytes) -> str:
    """RFC 8705 3.1 ``x5t#S256``: the certificate's DER, SHA-256, base64url without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class ClientCertificate:
    """The client's certificate (the first of its PEM chain) and its private key, checked."""

    #: The certificate chain as PEM text, the client's certificate first.
    chain_pem: str = field(repr=False)
    key_pem: str = field(repr=False)
    cert: x509.Certificate = field(repr=False)

    @property
    def subject_dn(self) -> str:
        """The subject DN, RFC 4514 text (what ``tls_client_auth`` registers)."""
        return self.cert.subject.rfc4514_string()

    @property
    def thumbprint(self) -> str:
        """``x5t#S256`` of the certificate: what a bound token's ``cnf`` carries."""
        return cert_thumbprint(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def not_after(self) -> datetime.datetime:
        """When the certificate expires (UTC)."""
        return self.cert.not_valid_after_utc

    def tls_context(self) -> ssl.SSLContext:
        """A client TLS context presenting this certificate, trusting what httpx trusts by
        default; pass it as ``httpx.AsyncClient(verify=...)``."""
        context = httpx.create_ssl_context()
        # The ssl module loads a chain from files only: a private directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="oidc_kit_mtls_") as directory:
            cert_path = os.path.join(directory, "cert.pem")
            key_path = os.path.join(directory, "key.pem")
            for path, text in ((cert_path, self.chain_pem), (key_path, self.key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(text)
            context.load_cert_chain(cert_path, key_path)
        return context


def _read(value: str, setting: str) -> str:
    """The PEM text ``value`` is, or is the path of."""
    if value.lstrip().startswith(_PEM_BEGIN):
        return value
    try:
        with open(value, encoding="ascii") as source:
            return source.read()
    except (OSError, UnicodeDecodeError, ValueError):
        # Not the value itself: it may be a PEM pasted wrongly, which must not be echoed.
        raise ConfigurationError(f"{setting} is neither a PEM nor a readable PEM file") from None


def load_client_certificate(
    cert: str, key: str, now: datetime.datetime | None = None
) -> ClientCertificate:
    """``cert`` and ``key`` (PEM or a PEM file's path) loaded and checked: the key is the
    certificate's, the certificate valid at ``now`` (default: the current time); else a
    :class:`ConfigurationError` naming the variable at fault."""
    chain_pem = _read(cert, _CERT_SETTING)
    key_pem = _read(key, _KEY_SETTING)
    try:
        certificate = x509.load_pem_x509_certificate(chain_pem.encode())
    except ValueError:
        raise ConfigurationError(f"{_CERT_SETTING} holds no PEM certificate") from None
    try:
        private = load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError(f"{_KEY_SETTING} holds no unencrypted PEM private key") from None
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if private.public_key().public_bytes(der, raw) != certificate.public_key().public_bytes(
        der, raw
    ):
        raise ConfigurationError(
            f"{_KEY_SETTING} is not the key of the certificate in {_CERT_SETTING}"
        )
    at = now or datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
        raise ConfigurationError(
            f"the certificate in {_CERT_SETTING} is outside its validity period",
            expected=f"{certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
            actual=f"{at:%Y-%m-%dT%H:%M:%SZ}",
        )
    return ClientCertificate(chain_pem, key_pem, certificate)
