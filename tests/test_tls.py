"""The certificate authority: what it signs, where it is kept, who may see what of it."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import verification
from pydantic import ValidationError

from metapaas import tls
from metapaas.agent.client import CONTROL_PLANE_CA
from metapaas.agent.client import verification as agent_verification
from metapaas.config import Settings
from metapaas.db import CORE_STREAM, Sealer, make_engine, make_sessionmaker, migrate, models
from metapaas.sdk import PermanentError
from metapaas.testing import InProcessControlPlane

NOW = models.utcnow()


def verifies(authority: tls.Authority, certificate_pem: str, name: str) -> bool:
    """Whether a client trusting ``authority`` alone accepts the certificate for ``name``
    (the checks a TLS client makes: chain, validity, name)."""
    store = verification.Store([authority.certificate])
    subject: x509.GeneralName = (
        x509.IPAddress(ipaddress.ip_address(name)) if name[0].isdigit() else x509.DNSName(name)
    )
    verifier = verification.PolicyBuilder().store(store).time(NOW).build_server_verifier(subject)
    try:
        verifier.verify(x509.load_pem_x509_certificate(certificate_pem.encode()), [])
    except verification.VerificationError:
        return False
    return True


def test_a_server_certificate_verifies_for_its_names_against_its_authority_only() -> None:
    authority = tls.Authority.new("test CA", NOW)
    issued = authority.issue(["10.1.2.3", "node-a"], NOW)

    assert verifies(authority, issued.certificate, "10.1.2.3")  # an IP name, for verify-full
    assert verifies(authority, issued.certificate, "node-a")
    names = x509.load_pem_x509_certificate(issued.certificate.encode()).extensions
    dns = names.get_extension_for_class(x509.SubjectAlternativeName).value
    # pgBackRest matches a numeric host against DNS names only (pgbackrest#1977).
    assert dns.get_values_for_type(x509.DNSName) == ["10.1.2.3", "node-a"]
    assert not verifies(authority, issued.certificate, "10.1.2.4")
    assert not verifies(tls.Authority.new("another CA", NOW), issued.certificate, "10.1.2.3")
    assert abs(issued.not_after - NOW - tls.SERVER_LIFETIME) < timedelta(
        seconds=1
    )  # in X.509 seconds
    assert issued.renew_at == issued.not_after - tls.RENEW_BEFORE


def test_an_operators_authority_must_be_a_ca_with_its_own_key(tmp_path: Path) -> None:
    authority = tls.Authority.new("operator CA", NOW)
    same = tls.Authority.load(authority.certificate_pem.encode(), authority.key_pem.encode())
    assert same.fingerprint == authority.fingerprint

    server = authority.issue(["127.0.0.1"], NOW)
    with pytest.raises(tls.CertificateError, match="not a CA's"):
        tls.Authority.load(server.certificate.encode(), server.key.encode())
    other = tls.Authority.new("other", NOW)
    with pytest.raises(tls.CertificateError, match="not the CA certificate's"):
        tls.Authority.load(authority.certificate_pem.encode(), other.key_pem.encode())
    with pytest.raises(tls.CertificateError, match="not a PEM"):
        tls.Authority.load(b"junk", b"junk")


def test_the_fingerprint_is_the_certificates_sha256_as_openssl_prints_it() -> None:
    authority = tls.Authority.new("test CA", NOW)
    der = ssl.PEM_cert_to_DER_cert(authority.certificate_pem)
    digest = hashlib.sha256(der).hexdigest().upper()
    assert authority.fingerprint == "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def test_the_own_authority_is_made_once_sealed_and_shared(
    tmp_path: Path, empty_database_url: str
) -> None:
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine, CORE_STREAM)
    sessions = make_sessionmaker(engine)
    sealer = Sealer.from_home(tmp_path)
    try:
        first = tls.load_authority(sessions, sealer)
        second = tls.load_authority(sessions, sealer)  # another replica, a later start
        assert second.fingerprint == first.fingerprint
        with sessions() as session:
            row = session.get(models.CertificateAuthority, "control-plane")
            assert row is not None
            assert "PRIVATE KEY" not in row.sealed_key, "the CA key is sealed at rest"
            assert row.certificate == first.certificate_pem
        with pytest.raises(tls.CertificateError, match="same METAPAAS_SECRET_KEY"):
            tls.load_authority(sessions, Sealer.from_home(tmp_path / "other"))

        operator = tls.Authority.new("operator CA", NOW)
        (tmp_path / "ca.crt").write_text(operator.certificate_pem)
        (tmp_path / "ca.key").write_text(operator.key_pem)
        files = (tmp_path / "ca.crt", tmp_path / "ca.key")
        assert tls.load_authority(sessions, sealer, files).fingerprint == operator.fingerprint
    finally:
        engine.dispose()


def test_the_ca_certificate_is_public_and_its_key_never_answered(
    api: InProcessControlPlane,
) -> None:
    answer = api.client.get("/v1/ca.pem")  # no token: it is public

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-pem-file")
    assert answer.text == api.state.authority().certificate_pem
    assert answer.headers["x-certificate-fingerprint"] == api.state.authority().fingerprint
    assert "PRIVATE KEY" not in answer.text


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ({"host": "127.0.0.1"}, "http://127.0.0.1:8080"),
        ({"host": "localhost"}, "http://localhost:8080"),
        ({"host": "127.0.0.1", "tls": True}, "https://127.0.0.1:8080"),
        ({"host": "10.0.0.5"}, "https://10.0.0.5:8080"),
        ({"host": "0.0.0.0"}, "https://0.0.0.0:8080"),  # noqa: S104
        ({"host": "10.0.0.5", "insecure": True}, "http://10.0.0.5:8080"),
    ],
)
def test_the_listener_is_https_but_on_loopback_unless_told(
    given: dict[str, object], url: str
) -> None:
    assert Settings(**given).resolved_public_url == url  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        ({"tls": True, "insecure": True}, "contradict"),
        ({"tls_ca_cert": "/ca.crt"}, "go together"),
        ({"tls_key": "/api.key"}, "go together"),
    ],
)
def test_contradictory_tls_settings_are_refused(given: dict[str, object], rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        Settings(**given)  # type: ignore[arg-type]


def test_an_agent_sends_credentials_in_clear_to_loopback_only(tmp_path: Path) -> None:
    assert agent_verification("http://127.0.0.1:8080", tmp_path) is True
    with pytest.raises(PermanentError, match="only over HTTPS"):
        agent_verification("http://10.0.0.5:8080", tmp_path)
    assert agent_verification("https://10.0.0.5:8080", tmp_path) is True  # the system store
    authority = tls.Authority.new("test CA", NOW)
    (tmp_path / CONTROL_PLANE_CA).write_text(authority.certificate_pem)
    context = agent_verification("https://10.0.0.5:8080", tmp_path)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_the_api_certificate_is_renewed_in_its_live_context(tmp_path: Path) -> None:
    """The listener's context takes a renewed certificate without a new listener."""
    settings = Settings(home=tmp_path, host="10.0.0.5")
    clock = [NOW]
    certificate = tls.ServerCertificate(
        settings, tls.Authority.new("test CA", NOW), clock=lambda: clock[0]
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.refresh(context)
    first = certificate.files[0].read_text()
    assert set(tls.api_names(settings)) == {"10.0.0.5", "localhost", "127.0.0.1", "::1"}

    certificate.refresh(context)
    assert certificate.files[0].read_text() == first, "not due: the same certificate"
    clock[0] = NOW + tls.SERVER_LIFETIME - tls.RENEW_BEFORE + timedelta(seconds=1)
    certificate.refresh(context)
    assert certificate.files[0].read_text() != first
    assert certificate.authority_file.read_text() == certificate.authority.certificate_pem


def test_an_operators_api_certificate_is_served_as_given(tmp_path: Path) -> None:
    operator = tls.Authority.new("operator CA", NOW).issue(["api.example.net"], NOW)
    (tmp_path / "api.crt").write_text(operator.certificate)
    (tmp_path / "api.key").write_text(operator.key)
    settings = Settings(
        home=tmp_path / "home",
        host="10.0.0.5",
        tls_cert=tmp_path / "api.crt",
        tls_key=tmp_path / "api.key",
    )
    certificate = tls.ServerCertificate(settings, tls.Authority.new("own CA", NOW))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)

    certificate.refresh(context)

    assert certificate.files == (tmp_path / "api.crt", tmp_path / "api.key")
    assert not (tmp_path / "home" / "tls").exists(), "nothing of the own CA is issued"
    (tmp_path / "api.key").write_text("not a key")
    with pytest.raises(tls.CertificateError, match="cannot load"):
        certificate.refresh(context)
