"""Engines and sessions for SQLite (embedded default) and PostgreSQL.

A transaction either reads or writes, never both:

- a read (``make_sessionmaker(engine, read_only=True)``, :func:`for_reading`)
  sees a snapshot and never waits for a writer: ``BEGIN`` (deferred) on
  SQLite in WAL mode, ``READ ONLY`` on PostgreSQL. Both refuse a write
  (``PRAGMA query_only``): on SQLite a deferred transaction that starts
  writing after another writer committed fails at once with "database is
  locked", so a read transaction must not be able to write at all;
- a write (the default) on SQLite first takes this process's write lock
  (:class:`WriteLock`, first come first served, bounded wait), then
  ``BEGIN IMMEDIATE``; the lock goes back when the connection returns to the
  pool, after its ``COMMIT`` or ``ROLLBACK``.

Every wait is bounded by ``wait`` seconds: a pooled connection, the write
lock, SQLite's busy handler (other processes), a PostgreSQL connect or row
lock. What a wait that runs out raises, :func:`metapaas.db.outage` turns into
a 503.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from metapaas.db.writelock import WriteLock

READ_ONLY = "metapaas_read_only"
"""Execution option of a connection whose transactions only read."""
_HOLDS_WRITE_LOCK = "metapaas_holds_write_lock"
_QUERY_ONLY = "metapaas_query_only"
DEFAULT_POOL_SIZE = 20
DEFAULT_WAIT_SECONDS = 3.0


def make_engine(
    url: str, *, pool_size: int = DEFAULT_POOL_SIZE, wait: float = DEFAULT_WAIT_SECONDS
) -> Engine:
    """An engine tuned for its backend; see the module's docstring."""
    pool: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": wait}
    if make_url(url).database in (None, "", ":memory:"):
        pool = {"poolclass": StaticPool}  # one database lives only in its one connection
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": wait}, **pool
        )
        _tune_sqlite(engine, WriteLock(wait), wait)
        return engine
    connect = {
        "connect_timeout": max(1, math.ceil(wait)),
        "options": f"-c lock_timeout={int(wait * 1000)}",
    }
    return create_engine(url, pool_pre_ping=True, connect_args=connect, **pool)


def for_reading(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    return sessionmaker(for_reading(engine) if read_only else engine, expire_on_commit=False)


def _tune_sqlite(engine: Engine, lock: WriteLock, wait: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # This process's writers queue on the write lock first; the busy handler waits
        # for other processes (a `metapaas db upgrade` beside the server).
        cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        reading = bool(connection.get_execution_options().get(READ_ONLY))
        if connection.info.get(_QUERY_ONLY, False) != reading:
            connection.exec_driver_sql(f"PRAGMA query_only={int(reading)}")
            connection.info[_QUERY_ONLY] = reading
        if reading:
            connection.exec_driver_sql("BEGIN")
            return
        if not connection.info.get(_HOLDS_WRITE_LOCK):
            lock.acquire()
            # Held until the connection returns to the pool, after its COMMIT or ROLLBACK
            # (a "commit" event would come before the COMMIT is sent).
            connection.info[_HOLDS_WRITE_LOCK] = True
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_HOLDS_WRITE_LOCK, False):
            lock.release()
