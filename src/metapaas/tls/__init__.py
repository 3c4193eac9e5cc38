"""TLS: the control plane's certificate authority and what it signs.

:mod:`.certificates` makes and signs (no database); :mod:`.authority` finds the
CA to sign with (the operator's, or the control plane's own kept sealed in the
database) and keeps the API listener's certificate current.
"""

from metapaas.client.trust import fingerprint
from metapaas.tls.authority import ServerCertificate, api_names, authority_file, load_authority
from metapaas.tls.certificates import (
    RENEW_BEFORE,
    SERVER_LIFETIME,
    Authority,
    CertificateError,
    Issued,
)

__all__ = [
    "RENEW_BEFORE",
    "SERVER_LIFETIME",
    "Authority",
    "CertificateError",
    "Issued",
    "ServerCertificate",
    "api_names",
    "authority_file",
    "fingerprint",
    "load_authority",
]
