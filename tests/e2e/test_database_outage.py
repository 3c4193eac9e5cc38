"""PostgreSQL stopped under load: fast 503s, recovery on its own, nothing half-written.

The cluster is the test's own (``initdb`` into a temporary directory, ``pg_ctl``
on a free port of 127.0.0.1), so stopping it touches nothing else on the
machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from metapaas.db import make_engine
from metapaas.metadata import Notifier, PostgresListener
from metapaas.testing import ControlPlane, free_port, wait_for

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 10.0
ANSWER_BOUND_SECONDS = 10.0
"""No answer, 503 or not, may take longer than this."""
INSTANCES = "/v1/types/demo/instances"


class PrivateCluster:
    """A PostgreSQL cluster of the test's own in ``directory``, run as ``postgres`` when the
    test runs as root (PostgreSQL refuses to run as root)."""

    def __init__(self, directory: Path) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not versions:
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = versions[-1].parent
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/metapaas"

    def _run(self, program: str, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, str(self.bin / program), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        admin = make_url(self.url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE metapaas")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=off"
        )
        log = str(self.directory / "server.log")
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", log, "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode)


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    directory = Path(tempfile.mkdtemp(prefix="metapaas-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    made = PrivateCluster(directory)
    try:
        made.create()
        yield made
    finally:
        if (made.data / "postmaster.pid").exists():
            made.stop("immediate")
        shutil.rmtree(directory)


def _notify(url: str, key: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_notify('metapaas_metadata', %s)", (key,))


def test_the_metadata_listener_comes_back_and_wakes_whoever_waited_meanwhile(
    cluster: PrivateCluster,
) -> None:
    engine = make_engine(cluster.url)
    notifier = Notifier()
    listener = PostgresListener(engine, notifier)
    listener.start()

    async def outage_then_notify() -> None:
        waiting = notifier.subscribe("waited-through-the-outage")
        await asyncio.to_thread(cluster.stop)
        await asyncio.to_thread(cluster.start)
        # What was notified while the listener was away is lost: it wakes everyone to read.
        await asyncio.wait_for(waiting, 30)
        later = notifier.subscribe("notified-after")
        await asyncio.to_thread(_notify, cluster.url, "notified-after")
        await asyncio.wait_for(later, 30)

    try:
        assert listener.listening.wait(30)
        asyncio.run(outage_then_notify())
    finally:
        listener.stop()
        listener.join(10)
        engine.dispose()


@dataclass(frozen=True)
class Answer:
    what: str  # create, list, show, delete
    target: str  # the instance's name or path
    started: float
    seconds: float
    status: int  # 0: no answer at all
    problem: bool
    retry_after: str | None
    operation_id: str | None = None


class Traffic(threading.Thread):
    """One client creating, listing, showing and deleting demo instances until stopped."""

    def __init__(self, client: httpx.Client, victims: list[str]) -> None:
        super().__init__(name="traffic", daemon=True)
        self.client = client
        self.victims = victims  # paths to delete, one at a time, until one is accepted
        self.answers: list[Answer] = []
        self.halt = threading.Event()

    def run(self) -> None:
        for index in range(10_000):
            if self.halt.is_set():
                return
            name = f"load-{index}"
            created = self._send("create", name, "POST", INSTANCES, json={"name": name})
            self._send("list", "", "GET", f"{INSTANCES}?limit=5")
            accepted = [a for a in self.answers if a.what == "create" and a.status == 202]
            if accepted:
                shown = accepted[-1].target
                self._send("show", shown, "GET", f"{INSTANCES}/{shown}")
            pending = [v for v in self.victims if v not in self.deleted]
            if pending and index % 4 == 3:  # slowly: some deletes meet the outage
                self._send("delete", pending[0], "DELETE", pending[0])
            self.halt.wait(0.5 if created.status == 202 else 0.2)

    @property
    def deleted(self) -> set[str]:
        return {a.target for a in self.answers if a.what == "delete" and a.status == 202}

    def _send(self, what: str, target: str, method: str, path: str, **kwargs: object) -> Answer:
        started = time.monotonic()
        try:
            response = self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            answer = Answer(what, target, started, time.monotonic() - started, 0, False, None)
        else:
            is_json = response.headers.get("content-type", "").endswith("json")
            body = response.json() if is_json else {}
            answer = Answer(
                what,
                target,
                started,
                time.monotonic() - started,
                response.status_code,
                response.headers.get("content-type") == "application/problem+json",
                response.headers.get("retry-after"),
                body.get("operation_id") if response.status_code == 202 else None,
            )
        self.answers.append(answer)
        return answer


def test_a_database_outage_under_load_is_fast_503s_then_recovery_with_nothing_half_written(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    plane = ControlPlane(tmp_path / "home", cluster.url)
    plane.start()
    try:
        with plane.client() as client:
            victims = []
            for name in ("victim-0", "victim-1"):
                created = client.post(INSTANCES, json={"name": name})
                victims.append(f"{INSTANCES}/{created.json()['id']}")
            traffic = Traffic(client, victims)
            traffic.start()
            time.sleep(2)
            cluster.stop()
            down = time.monotonic()
            time.sleep(OUTAGE_SECONDS)
            back = time.monotonic()
            cluster.start()
            wait_for(lambda: _served_since(traffic, back), 60, "an answer after the outage")
            time.sleep(2)
            traffic.halt.set()
            traffic.join(60)
            answers = traffic.answers
            _check_answers(answers, down, back)
            _check_nothing_half_written(plane, client, answers)
        plane.delete_all_instances(120)
    finally:
        plane.stop()
        for name in plane.node_names():  # what a failure left running: agents outlive it
            with contextlib.suppress(OSError):
                plane.kill_node(name)


def _served_since(traffic: Traffic, since: float) -> bool:
    return any(a.started > since and 0 < a.status < 500 for a in list(traffic.answers))


def _check_answers(answers: list[Answer], down: float, back: float) -> None:
    assert [a for a in answers if a.status == 0] == [], "every request got an answer"
    assert [a for a in answers if a.status >= 500 and a.status != 503] == []
    unavailable = [a for a in answers if a.status == 503]
    assert all(a.problem and a.retry_after and int(a.retry_after) >= 1 for a in unavailable)
    assert max(a.seconds for a in answers) < ANSWER_BOUND_SECONDS
    during = [a for a in answers if a.started > down and a.started + a.seconds < back]
    assert len(during) >= 5, "the client kept asking during the outage"
    assert {a.status for a in during} == {503}


def _check_nothing_half_written(
    plane: ControlPlane, client: httpx.Client, answers: list[Answer]
) -> None:
    for answer in answers:
        if answer.what == "create" and answer.status == 202:
            assert client.get(f"/v1/operations/{answer.operation_id}").status_code == 200
            found = client.get(INSTANCES, params={"name": answer.target}).json()["items"]
            plane.wait_status(client, f"{INSTANCES}/{found[0]['id']}", "ACTIVE")
        elif answer.what == "create":
            assert client.get(INSTANCES, params={"name": answer.target}).json()["items"] == []
    deleted = {a.target for a in answers if a.what == "delete" and a.status == 202}
    for victim in {a.target for a in answers if a.what == "delete"}:
        if victim in deleted:
            wait_for(lambda v=victim: client.get(v).status_code == 404, 90, f"{victim} gone")
        else:
            plane.wait_status(client, victim, "ACTIVE")
