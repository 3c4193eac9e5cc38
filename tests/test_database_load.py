"""Reads never wait for writers; a database that is down, busy or out of connections is a
503 with ``Retry-After``, never a 500 or a hang."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from metapaas import db
from metapaas.db import make_engine, make_sessionmaker, models
from metapaas.db.writelock import WriteLock
from metapaas.errors import Unavailable
from metapaas.testing import wait_for
from tests.conftest import MakeApi, SharedDatabase
from tests.helpers import problem

SHORT_WAIT = 0.3
"""Seconds the apps and engines below wait for the database before they give up."""


# -- transactions that read and transactions that write ------------------------------


def test_a_read_is_served_while_a_write_transaction_is_open(
    database_url: str, engine_for: Callable[[str], Engine]
) -> None:
    engine = engine_for(database_url)
    writers, readers = make_sessionmaker(engine), make_sessionmaker(engine, read_only=True)
    with writers() as writing:
        writing.add(models.Project(name="held"))
        writing.flush()  # SQLite's write lock (PostgreSQL: the new row) is held from here
        with readers() as reading:  # same thread: a read that waited would wait forever
            assert reading.scalar(select(func.count()).select_from(models.Project)) == 0
        writing.commit()


def test_a_read_transaction_refuses_to_write(
    database_url: str, engine_for: Callable[[str], Engine]
) -> None:
    """On SQLite a deferred transaction that writes fails at random under load; so none can."""
    readers = make_sessionmaker(engine_for(database_url), read_only=True)
    with readers() as reading:
        reading.add(models.Project(name="sneaky"))
        with pytest.raises(DBAPIError) as refused:
            reading.flush()
    assert db.outage(refused.value) is None, "a write in a read is a bug (a 500), not an outage"


def test_writers_take_their_turns_in_arrival_order() -> None:
    lock = WriteLock(wait=30)
    lock.acquire()
    order: list[str] = []

    def write(name: str) -> None:
        lock.acquire()
        order.append(name)
        lock.release()

    threads = []
    for queued, name in enumerate(("first", "second", "third"), start=1):
        threads.append(threading.Thread(target=write, args=(name,)))
        threads[-1].start()
        wait_for(lambda n=queued: lock.waiting == n, 10, f"{name} to queue", 0.01)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == ["first", "second", "third"]


def test_a_writer_that_gets_no_turn_in_time_is_told_to_retry_and_leaves_the_queue() -> None:
    lock = WriteLock(wait=0.05)
    lock.acquire()
    with pytest.raises(Unavailable) as refused:
        lock.acquire()
    assert refused.value.retry_after > 0
    assert lock.waiting == 0
    lock.release()
    lock.acquire()  # free again: the refused writer did not keep a place


def _fail(session: Session) -> None:
    with pytest.raises(DBAPIError):
        session.execute(text("SELECT nope"))


ENDINGS: dict[str, Callable[[Session], None]] = {
    "a commit": Session.commit,
    "a rollback": Session.rollback,
    "a failed statement": _fail,
    "closing the session": Session.close,
}


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=[f"after {e}" for e in ENDINGS])
def test_sqlite_gives_the_write_lock_back_when_a_transaction_ends(
    tmp_path: Path, ending: Callable[[Session], None]
) -> None:
    """SQLite only: the in-process write lock exists for SQLite's single writer."""
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}", wait=SHORT_WAIT)
    writers = make_sessionmaker(engine)
    try:
        session = writers()
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        ending(session)
        session.close()
        with writers.begin() as next_writer:  # Unavailable if the lock were still held
            next_writer.execute(text("CREATE TABLE IF NOT EXISTS u (x INTEGER)"))
    finally:
        engine.dispose()


# -- the API under a busy or absent database ----------------------------------------


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps made after this wait ``SHORT_WAIT`` seconds for the database."""
    monkeypatch.setenv("METAPAAS_DB_WAIT_SECONDS", str(SHORT_WAIT))


def _last_used(api_engine: Engine) -> object:
    with make_sessionmaker(api_engine)() as session:
        return session.scalar(select(models.ApiToken.last_used_at))


@pytest.mark.usefixtures("impatient")
def test_a_get_is_answered_while_a_writer_holds_the_tokens_and_writes_wait_then_get_503(
    make_api: MakeApi,
) -> None:
    """The admin token's use is due, and the row it would be written to is held: the GET is
    served anyway (the use is recorded by a later request); a PATCH of a held project gets
    a 503 after the wait and changes nothing."""
    api = make_api()
    project_id = api.make_project("held")
    with api.state.sessions.begin() as session:
        session.execute(update(models.ApiToken).values(last_used_at=None))
    with api.state.sessions() as holder:
        holder.execute(update(models.ApiToken).values(name=models.ApiToken.name))
        holder.execute(
            update(models.Project).where(models.Project.id == project_id).values(description="held")
        )
        assert api.get("/v1/projects").status_code == 200
        refused = problem(api.patch(f"/v1/projects/{project_id}", json={"description": "x"}), 503)
        assert api.client.get("/healthz").status_code == 200
        holder.rollback()
    assert refused["type"] == "urn:metapaas:problem:unavailable"
    assert api.get(f"/v1/projects/{project_id}").json()["description"] == ""
    assert _last_used(api.state.engine) is not None, "a request after the hold records the use"


@contextmanager
def _unreachable(database: SharedDatabase, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'no-such-directory' / 'metapaas.db'}"
        if database.backend == "sqlite"
        else "postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    engine = make_engine(url, wait=SHORT_WAIT)
    yield engine
    engine.dispose()


@contextmanager
def _no_free_connection(database: SharedDatabase, _tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(database.url, pool_size=1, wait=SHORT_WAIT)
    held = [engine.connect(), engine.connect()]  # the pool, then its overflow
    yield engine
    for connection in held:
        connection.close()
    engine.dispose()


Outage = Callable[[SharedDatabase, Path], AbstractContextManager[Engine]]
OUTAGES: dict[str, Outage] = {
    "a database that cannot be reached": _unreachable,
    "no pooled connection free within the wait": _no_free_connection,
}
REPORT = {"applied_revision": 0, "applied_generation": 0, "state": "ready", "health": "healthy"}
REQUESTS = (
    ("GET", "/v1/projects", None),
    ("POST", "/v1/projects", {"name": "lost"}),
    ("GET", "/v1/agent/metadata?wait=0", None),
    ("POST", "/v1/agent/report", REPORT),
)


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=[f"{o} is a 503" for o in OUTAGES])
def test_an_unavailable_database_is_a_503_with_retry_after_in_the_api_and_the_agent_api(
    make_api: MakeApi, shared_database: SharedDatabase, tmp_path: Path, outage: Outage
) -> None:
    api = make_api()
    before, working = api.counts(), (api.state.sessions, api.state.readers)
    with outage(shared_database, tmp_path) as engine:
        api.state.sessions = make_sessionmaker(engine)
        api.state.readers = make_sessionmaker(engine, read_only=True)
        for method, path, body in REQUESTS:
            answer = api.request(method, path, json=body)
            assert problem(answer, 503)["type"] == "urn:metapaas:problem:unavailable", path
            assert int(answer.headers["Retry-After"]) >= 1, path
    api.state.sessions, api.state.readers = working
    assert api.counts() == before
