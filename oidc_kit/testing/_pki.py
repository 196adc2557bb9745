"""A throwaway certificate authority for mutual TLS on loopback (RFC 8705), made in memory.

The sandbox's TLS front (``_tls_front.py``), the offline demo and the tests all need a CA the
client trusts, a server certificate for ``127.0.0.1``/``localhost``, and client certificates:
one issued by the CA with a subject DN (``tls_client_auth``) and one self-signed
(``self_signed_tls_client_auth``). Every key is new (EC P-256) and nothing is ever written
unless asked (:meth:`TestCA.write`); nothing is committed, nothing downloaded.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Issued", "TestCA", "self_signed_client"]

#: How long the certificates are valid by default: longer than any test or workshop, and than
#: the doctor's 30-day expiry warning, so a served sandbox's certificates check out clean.
_LIFETIME = datetime.timedelta(days=90)


@dataclass(frozen=True)
class Issued:
    """One certificate and its private key, as PEM text (what ``OIDC_CLIENT_CERT`` and
    ``OIDC_CLIENT_CERT_KEY`` take)."""

    cert_pem: str
    key_pem: str = field(repr=False)
    cert: x509.Certificate = field(repr=False)

    @property
    def subject_dn(self) -> str:
        """The subject DN as RFC 4514 text (what ``tls_client_auth_subject_dn`` registers)."""
        return self.cert.subject.rfc4514_string()

    def write(self, directory: str, name: str) -> tuple[str, str]:
        """The certificate and key written to ``directory`` as ``{name}.pem`` and
        ``{name}.key`` (the key readable by its owner only); their paths."""
        os.makedirs(directory, exist_ok=True)
        cert_path = os.path.join(directory, f"{name}.pem")
        key_path = os.path.join(directory, f"{name}.key")
        _write(cert_path, self.cert_pem)
        _write(key_path, self.key_pem)
        return cert_path, key_path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _window(
    not_before: datetime.datetime | None, not_after: datetime.datetime | None
) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return not_before or now - datetime.timedelta(minutes=5), not_after or now + _LIFETIME


#: What a CA certificate may do: sign certificates and CRLs, nothing else.
_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


class TestCA:
    """A new CA (its key in memory only) that issues server and client certificates."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, name: str = "oidc_kit test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(f"{name} {uuid.uuid4().hex}")
        not_before, not_after = _window(None, None)
        self.cert = (
            _builder(self.name, self.name, self._key.public_key(), not_before, not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> str:
        """The CA certificate, PEM: what a client or server trusts."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def _issue(
        self,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        san: list[x509.GeneralName] | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = _window(not_before, not_after)
        builder = (
            _builder(subject, self.name, key.public_key(), start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return Issued(pem, _pem_key(key), cert)

    def server(self) -> Issued:
        """A server certificate for ``127.0.0.1`` and ``localhost`` (SAN)."""
        san: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
        ]
        return self._issue(_name("127.0.0.1"), ExtendedKeyUsageOID.SERVER_AUTH, san)

    def client(
        self,
        common_name: str = "oidc_kit test client",
        *,
        organization: str | None = "oidc_kit",
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> Issued:
        """A client certificate with the subject DN ``CN=common_name,O=organization``."""
        return self._issue(
            _name(common_name, organization),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            not_before=not_before,
            not_after=not_after,
        )

    def write(self, directory: str) -> str:
        """The CA certificate written to ``directory/ca.pem``; its path."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "ca.pem")
        _write(path, self.cert_pem)
        return path


def self_signed_client(common_name: str = "oidc_kit self-signed client") -> Issued:
    """A self-signed client certificate (``self_signed_tls_client_auth``: the client registers
    it in its JWKS; no CA vouches for it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name)
    start, end = _window(None, None)
    cert = (
        _builder(subject, subject, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key), cert)
