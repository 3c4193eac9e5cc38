"""The plugin author's one import: declare a PaaS type, its data plane, and the
helpers its node-side programs use.

What the runtime reads back of a declaration (field markers, hook marks) is in
:mod:`metapaas.sdk.introspect`; plugins do not need it.

A minimal type::

    from pydantic import BaseModel
    from metapaas import sdk

    class Spec(BaseModel):
        message: str = "hello"

    class Hello(sdk.PaasType[Spec]):
        slug = "hello"
        title = "Hello"
        versions = [sdk.Version("1.0", default=True)]
        spec = Spec

and in ``pyproject.toml``::

    [project.entry-points."metapaas.plugins"]
    hello = "hello_plugin:Hello"
"""

from metapaas.sdk._backups import (
    ARCHIVE_STATUS,
    ArchiveStatus,
    BackupKind,
    BackupMethod,
    BackupReport,
    Backups,
    RestoreReport,
    StepProgress,
    VerifyReport,
)
from metapaas.sdk._dataplane import (
    Command,
    DataPlane,
    HealthCheck,
    NodeGroup,
    Port,
    Service,
    Template,
)
from metapaas.sdk._declaration import (
    ChildResource,
    InstanceView,
    NodeView,
    PaasType,
    Version,
)
from metapaas.sdk._errors import Invalid, PermanentError, PluginError, TemporaryError
from metapaas.sdk._fields import immutable, secret, token
from metapaas.sdk._node import (
    TLS_AUTHORITY,
    TLS_CERTIFICATE,
    TLS_KEY,
    VOLUME_DIR,
    NotReady,
    create_private,
    exclusive,
    sha256_of,
    wait_until_ready,
    write_private,
)

__all__ = [
    "ARCHIVE_STATUS",
    "TLS_AUTHORITY",
    "TLS_CERTIFICATE",
    "TLS_KEY",
    "VOLUME_DIR",
    "ArchiveStatus",
    "BackupKind",
    "BackupMethod",
    "BackupReport",
    "Backups",
    "ChildResource",
    "Command",
    "DataPlane",
    "HealthCheck",
    "InstanceView",
    "Invalid",
    "NodeGroup",
    "NodeView",
    "NotReady",
    "PaasType",
    "PermanentError",
    "PluginError",
    "Port",
    "RestoreReport",
    "Service",
    "StepProgress",
    "Template",
    "TemporaryError",
    "VerifyReport",
    "Version",
    "create_private",
    "exclusive",
    "immutable",
    "secret",
    "sha256_of",
    "token",
    "wait_until_ready",
    "write_private",
]
