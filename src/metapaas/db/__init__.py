"""Storage: the runtime's tables, engines, migration streams and sealed secrets."""

from metapaas.db import models
from metapaas.db.engine import for_reading, make_engine, make_sessionmaker
from metapaas.db.migrate import CORE_STREAM, MigrationError, Stream, plugin_stream
from metapaas.db.outage import outage, summary
from metapaas.db.sealing import Sealer

__all__ = [
    "CORE_STREAM",
    "MigrationError",
    "Sealer",
    "Stream",
    "for_reading",
    "make_engine",
    "make_sessionmaker",
    "models",
    "outage",
    "plugin_stream",
    "summary",
]
