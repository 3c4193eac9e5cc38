"""Storage: the runtime's tables, engines, migration streams and sealed secrets."""

from metapaas.db import models
from metapaas.db.engine import make_engine, make_sessionmaker
from metapaas.db.migrate import CORE_STREAM, MigrationError, Stream, plugin_stream
from metapaas.db.sealing import Sealer

__all__ = [
    "CORE_STREAM",
    "MigrationError",
    "Sealer",
    "Stream",
    "make_engine",
    "make_sessionmaker",
    "models",
    "plugin_stream",
]
