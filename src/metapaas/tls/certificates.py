"""Certificates: a certificate authority and the server certificates it signs.

Keys are ECDSA P-256: every engine MetaPaaS runs (PostgreSQL, Redis, SeaweedFS,
Python's ``ssl``) speaks it, and making one takes well under a millisecond, so
issuing a node's certificate costs its instance's pass nothing it would notice.
Nothing here touches the database; :mod:`metapaas.tls.authority` keeps the
authority.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metapaas.client.trust import fingerprint

AUTHORITY_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=90)
RENEW_BEFORE = timedelta(days=30)
"""A server certificate is replaced once this little of its life is left: a month in
which a failed renewal is seen and mended before any client is refused."""
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
BACKDATE = timedelta(minutes=5)
"""Certificates start a little in the past, so a peer whose clock lags still takes them."""


class CertificateError(ValueError):
    """A certificate or key that cannot serve as it was meant to (the message says why)."""


@dataclass(frozen=True)
class Issued:
    """A server certificate and its key, both PEM, and when it must be renewed."""

    certificate: str
    key: str
    names: tuple[str, ...]
    not_after: datetime

    @property
    def renew_at(self) -> datetime:
        return self.not_after - RENEW_BEFORE


@dataclass(frozen=True)
class Authority:
    """A CA that signs server certificates: its certificate (public) and key (secret)."""

    certificate: x509.Certificate
    key: SigningKey

    @classmethod
    def new(cls, common_name: str, now: datetime) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            _builder(name, name, key.public_key(), now, AUTHORITY_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(signs_certificates=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @classmethod
    def load(cls, certificate_pem: bytes, key_pem: bytes) -> Authority:
        """An authority from PEM files (an operator's); refused unless the certificate is
        a CA's and the key is its own."""
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except ValueError as exc:
            raise CertificateError(f"not a PEM certificate and key: {exc}") from exc
        if not isinstance(key, SigningKey):
            raise CertificateError("the CA key must be an EC or RSA key")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.value.ca:
            raise CertificateError("the certificate is not a CA's (basicConstraints CA:TRUE)")
        if _public_bytes(certificate.public_key()) != _public_bytes(key.public_key()):
            raise CertificateError("the key is not the CA certificate's")
        return cls(certificate, key)

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return _private_pem(self.key)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Read for every node a resync sweeps: computed once."""
        return fingerprint(self.certificate_pem)

    def issue(
        self, names: Sequence[str], now: datetime, lifetime: timedelta = SERVER_LIFETIME
    ) -> Issued:
        """A server certificate for ``names`` (addresses and DNS names; the first is its
        common name) with a key of its own."""
        if not names:
            raise CertificateError("a server certificate needs at least one name")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
        certificate = (
            _builder(subject, self.certificate.subject, key.public_key(), now, lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(signs_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(list(_general_names(names))), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Issued(
            certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            key=_private_pem(key),
            names=tuple(names),
            not_after=certificate.not_valid_after_utc,
        )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
    )


def _usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _general_names(names: Iterable[str]) -> Iterable[x509.GeneralName]:
    """An address is an IP name (what ``verify-full`` matches a numeric host against),
    and a DNS name as well: pgBackRest (Debian's 2.45) matches a host only against DNS
    names and the common name, so an S3 repository served by a node (an ``s3``
    instance) is refused without it (pgbackrest/pgbackrest#1977); clients that match
    addresses against IP names ignore it. Anything else is a DNS name."""
    for name in dict.fromkeys(names):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            yield x509.DNSName(name)
            continue
        yield x509.IPAddress(address)
        yield x509.DNSName(str(address))


def _private_pem(key: SigningKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_bytes(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
