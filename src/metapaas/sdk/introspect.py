"""What the runtime reads of a declaration: its entry-point group, field markers and hook
marks.

Plugins do not need this module: they declare with :func:`metapaas.sdk.secret`,
:func:`metapaas.sdk.immutable` and the hooks of :class:`metapaas.sdk.PaasType`;
the runtime (and tests that check a declaration) read those back from here. The
provider contract (:mod:`metapaas.providers.contract`) marks its hooks with the
same :func:`hookspec`.
"""

from metapaas.sdk._backups import BACKUP_STEP, EXPIRE_STEP, RESTORE_STEP, VERIFY_STEP
from metapaas.sdk._declaration import ENTRY_POINT_GROUP, hook_phase, hookspec
from metapaas.sdk._fields import (
    IMMUTABLE_KEY,
    NODE_ONLY_KEY,
    SECRET_KEY,
    fields_marked,
    secret_generators,
)

__all__ = [
    "BACKUP_STEP",
    "ENTRY_POINT_GROUP",
    "EXPIRE_STEP",
    "IMMUTABLE_KEY",
    "NODE_ONLY_KEY",
    "RESTORE_STEP",
    "SECRET_KEY",
    "VERIFY_STEP",
    "fields_marked",
    "hook_phase",
    "hookspec",
    "secret_generators",
]
