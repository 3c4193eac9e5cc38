"""Which certificate authority the control plane signs with, and the API's own certificate.

The operator's CA (``METAPAAS_TLS_CA_CERT`` / ``METAPAAS_TLS_CA_KEY``) when given;
else the control plane's own, made by the first process that needs it and kept
in the ``certificate_authorities`` row, its key sealed: every replica and every
later start signs with the same one, so what clients trust once stays trusted.
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from metapaas.config import Settings
from metapaas.db import Sealer, models
from metapaas.sdk import write_private
from metapaas.tls.certificates import Authority, CertificateError, Issued

OWN = "control-plane"
"""The name of the control plane's own authority's row."""
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
"""Names the API's certificate always holds: the CLI on the control plane's machine."""
WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 (names to leave out, not to bind)


def load_authority(
    sessions: sessionmaker[Session],
    sealer: Sealer,
    operator: tuple[Path, Path] | None = None,
    now: Callable[[], datetime] = models.utcnow,
) -> Authority:
    """The operator's CA (its certificate and key files) if given, else the control
    plane's own, made on first use."""
    if operator is not None:
        certificate, key = operator
        try:
            return Authority.load(certificate.read_bytes(), key.read_bytes())
        except OSError as exc:
            raise CertificateError(f"cannot read the operator's CA: {exc}") from exc
    with sessions() as session:
        if (kept := _kept(session, sealer)) is not None:
            return kept
    made = Authority.new(f"MetaPaaS CA {secrets.token_hex(4)}", now())
    try:
        with sessions.begin() as session:
            session.add(
                models.CertificateAuthority(
                    name=OWN,
                    certificate=made.certificate_pem,
                    sealed_key=sealer.seal({"key": made.key_pem}),
                    created_at=now(),
                )
            )
    except IntegrityError:  # another process made it first: everyone signs with theirs
        with sessions() as session:
            if (kept := _kept(session, sealer)) is not None:
                return kept
        raise
    return made


def _kept(session: Session, sealer: Sealer) -> Authority | None:
    row = session.get(models.CertificateAuthority, OWN)
    if row is None:
        return None
    try:
        key = sealer.unseal(row.sealed_key)["key"]
    except ValueError as exc:
        raise CertificateError(
            "the CA's key in the database does not open with this process's secret key: "
            "every replica of one control plane needs the same METAPAAS_SECRET_KEY"
        ) from exc
    return Authority.load(row.certificate.encode(), key.encode())


def api_names(settings: Settings) -> list[str]:
    """What the API's certificate is issued for: the public URL's host, the address it
    listens on (unless every address), and this machine's loopback names."""
    names = [urlsplit(settings.resolved_public_url).hostname or "", settings.host]
    return [n for n in dict.fromkeys([*names, *LOCAL_NAMES]) if n not in WILDCARDS]


def authority_file(home: Path) -> Path:
    """Where an ``https`` control plane leaves its CA certificate, beside the API's, for
    the operator to hand to clients."""
    return home / "tls" / "ca.crt"


@dataclass
class ServerCertificate:
    """The API listener's certificate, kept current in a live ``ssl.SSLContext``.

    The operator's files are read again at every :meth:`refresh` (they may have been
    replaced); one of the authority's is issued anew once due for renewal. Python's
    ``SSLContext.load_cert_chain`` on the context the server accepts with makes every
    later handshake present the new one, without a restart.
    """

    settings: Settings
    authority: Authority
    clock: Callable[[], datetime] = models.utcnow
    _issued: Issued | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def files(self) -> tuple[Path, Path]:
        """The certificate (chain) and key files the listener loads."""
        if self.settings.tls_cert is not None and self.settings.tls_key is not None:
            return self.settings.tls_cert, self.settings.tls_key
        directory = self.settings.resolved_home / "tls"
        return directory / "api.crt", directory / "api.key"

    @property
    def authority_file(self) -> Path:
        return authority_file(self.settings.resolved_home)

    def refresh(self, context: ssl.SSLContext | None = None) -> None:
        """Issue the authority's certificate when none is current, and load the files
        into ``context``."""
        with self._lock:
            if self.settings.tls_cert is None and (
                self._issued is None or self.clock() >= self._issued.renew_at
            ):
                self._issued = self.authority.issue(api_names(self.settings), self.clock())
                certificate, key = self.files
                certificate.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_private(key, self._issued.key)
                write_private(certificate, self._issued.certificate, mode=0o644)
                write_private(self.authority_file, self.authority.certificate_pem, mode=0o644)
            if context is not None:
                try:
                    context.load_cert_chain(*self.files)
                except (OSError, ssl.SSLError) as exc:
                    raise CertificateError(f"cannot load {self.files[0]}: {exc}") from exc
