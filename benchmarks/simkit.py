"""Simulated nodes for the benchmarks: a real control plane whose node side is played.

The control plane is the real ``metapaas server`` (or ``api`` and ``worker``), loading
``fanout_kit``'s type and in-memory provider through a hand-made ``.dist-info`` on its
``PYTHONPATH`` (:func:`control_plane`); the provider leaves each node's bootstrap token in
a file under the plane's home. Each node's agent is a coroutine speaking the real agent
protocol over HTTP (:func:`run_agent`): register with the token, long-poll
``GET /v1/agent/metadata`` and report every revision it gets, and, when asked, heartbeat
as ``metapaas.agent`` does. :class:`NodePool` runs the agents of every token file that
appears, in processes of their own, and answers questions about them.

Used by ``fanout.py`` (its watchers), ``converge.py``, ``idle.py`` and ``replicas.py``;
what they measure of the control plane's processes is in :mod:`plane_stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import ssl
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import httpx
from fanout_kit import TOKENS

from metapaas.agent.client import FIRST_RETRY_DELAY, MAX_WAIT
from metapaas.agent.node import HEARTBEAT_SECONDS
from metapaas.testing import ControlPlane

HERE = Path(__file__).resolve().parent
SET_UP_SECONDS = 300.0
"""Longest an agent keeps retrying a refused or cut request, and keeps registering."""
RETRY_DELAY_CAP = 4.0
INSTANCES = "/v1/types/fanout/instances"
"""The benchmark type's instances; its spec is ``{"name": ..., "nodes": N}``."""


# -- the control plane --------------------------------------------------------------


def register_kit(site: Path) -> None:
    """A ``.dist-info`` in ``site`` naming ``fanout_kit``'s type and provider as entry
    points, as another distribution would register them."""
    dist_info = site / "metapaas_fanout_bench-0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: metapaas-fanout-bench\nVersion: 0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[metapaas.plugins]\nfanout = fanout_kit:Fanout\n\n"
        "[metapaas.providers]\nfanout = fanout_kit:from_context\n"
        "fanout-shared = fanout_kit:shared_from_context\n"
    )


def control_plane(home: Path, database_url: str, site: Path, **env: str) -> ControlPlane:
    """A control plane (not started) with the kit's type and provider, ``site`` (made by
    :func:`register_kit`) and this directory first on its path. ``env`` as
    :class:`ControlPlane`'s (``command=`` too)."""
    settings: dict[str, Any] = {
        "METAPAAS_PROVIDER": "fanout",
        "METAPAAS_RESYNC_SECONDS": "10",  # the default; ControlPlane's tests want 2
        "PYTHONDONTWRITEBYTECODE": "1",  # fanout_kit is imported from this directory
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(site), str(HERE), os.environ.get("PYTHONPATH", "")])
        ),
        **env,
    }
    return ControlPlane(home, database_url, **settings)


def tokens_dir(plane: ControlPlane) -> Path:
    """Where the kit's provider leaves the nodes' bootstrap tokens."""
    return plane.home / TOKENS


def command() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


# -- one agent ------------------------------------------------------------------------


class Retries(Protocol):
    retries: int  # requests answered 5xx or cut, sent again


async def call(
    http: httpx.AsyncClient, tally: Retries, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Send until answered below 500: a real agent retries refusals and cut connections.
    The answer's status is the caller's to judge."""
    delay = FIRST_RETRY_DELAY
    deadline = time.monotonic() + SET_UP_SECONDS
    while True:
        try:
            response = await http.request(method, path, **kwargs)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        else:
            if not response.is_server_error:
                return response
            if time.monotonic() > deadline:
                response.raise_for_status()
        tally.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_DELAY_CAP)


async def register(http: httpx.AsyncClient, token_file: Path, tally: Retries) -> str:
    """The node's credential. A node whose agent did not register within the orchestrator's
    deadline is started again with a new token (the provider's file has it), as a real
    provider would start a new agent."""
    deadline = time.monotonic() + SET_UP_SECONDS
    while True:
        body = {"bootstrap_token": token_file.read_text()}
        answer = await call(http, tally, "POST", "/v1/agent/register", json=body)
        if answer.status_code != httpx.codes.UNAUTHORIZED or time.monotonic() > deadline:
            answer.raise_for_status()
            credential: str = answer.json()["credential"]
            return credential
        tally.retries += 1
        await asyncio.sleep(RETRY_DELAY_CAP)


OnDocument = Callable[[dict[str, Any], float, int], None]
"""Called with each new metadata document an agent gets, when it arrived
(``time.monotonic()``) and the answer's size in bytes."""


@dataclass
class AgentTally:
    """What the agents of one process did; ``heartbeat`` switches their heartbeats."""

    retries: int = 0
    reports: int = 0  # reports of a new revision
    heartbeats: int = 0
    ready: int = 0  # agents that reported their first revision
    heartbeat: bool = False
    failures: list[str] = field(default_factory=list)  # agents that stopped, and why


async def run_agent(
    http: httpx.AsyncClient,
    token_file: Path,
    tally: AgentTally,
    on_document: OnDocument,
    ready: asyncio.Future[None] | None = None,
) -> None:
    """Register, then long-poll and report every new revision, as ``metapaas.agent`` does;
    while ``tally.heartbeat`` is on, also resend the last report every
    ``HEARTBEAT_SECONDS``. ``ready`` is set once the first revision is reported."""
    headers = {"Authorization": f"Bearer {await register(http, token_file, tally)}"}
    last_report: dict[str, Any] = {}
    heartbeats = asyncio.create_task(_heartbeat(http, headers, tally, last_report))
    try:
        revision = 0
        while True:
            answer = await call(
                http,
                tally,
                "GET",
                "/v1/agent/metadata",
                params={"after": revision, "wait": MAX_WAIT},
                headers=headers,
                timeout=MAX_WAIT + 10,
            )
            arrived = time.monotonic()
            answer.raise_for_status()
            if answer.status_code == httpx.codes.NO_CONTENT:
                continue
            document = answer.json()
            on_document(document, arrived, len(answer.content))
            revision = document["revision"]
            last_report.update(
                applied_revision=revision,
                applied_generation=document["instance"]["generation"],
                state="ready",
                health="healthy",
                message="",
                events=[],
            )
            path = "/v1/agent/report"
            answer = await call(http, tally, "POST", path, headers=headers, json=last_report)
            answer.raise_for_status()
            tally.reports += 1
            if ready is not None and not ready.done():
                ready.set_result(None)
                tally.ready += 1
    finally:
        heartbeats.cancel()


async def _heartbeat(
    http: httpx.AsyncClient, headers: dict[str, str], tally: AgentTally, report: dict[str, Any]
) -> None:
    # Each agent starts at its own phase within the period, as agents started apart do.
    await asyncio.sleep(HEARTBEAT_SECONDS * (zlib.crc32(headers["Authorization"].encode()) / 2**32))
    while True:
        if tally.heartbeat and report:
            answer = await call(
                http, tally, "POST", "/v1/agent/report", headers=headers, json=report
            )
            answer.raise_for_status()
            tally.heartbeats += 1
        await asyncio.sleep(HEARTBEAT_SECONDS)


def task_failure(task: asyncio.Task[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return f"{type(error).__name__}: {error}"


TLS = ssl.create_default_context()
"""One TLS context for every client the benchmarks make: httpx would make one per client,
tens of milliseconds of CPU each (they speak plain HTTP, but the client is made with it)."""


def http_client(url: str) -> httpx.AsyncClient:
    """One connection per agent, as every agent has its own."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=30, verify=TLS)


# -- agents of every node, in processes of their own -----------------------------------


@dataclass(frozen=True)
class PoolJob:
    """One process's share of the nodes: the token files whose name hashes to ``share`` of
    ``shares``; its agents use ``urls`` in turn (one per API replica)."""

    urls: tuple[str, ...]
    tokens: Path
    share: int
    shares: int


SCAN_SECONDS = 0.05
"""How often a pool process looks for new token files: a real node's agent starts when
its machine does, which the provider's answer precedes."""


def pool_process(job: PoolJob, parent: Connection) -> None:
    """Runs in a process of its own: agents for the job's token files as they appear, and
    the parent's orders (``("heartbeat", bool)``, ``("tally", None)``; ``None`` ends)."""
    asyncio.run(_run_pool(job, parent))


async def _run_pool(job: PoolJob, parent: Connection) -> None:
    tally = AgentTally()
    clients = [http_client(url) for url in job.urls]
    tasks: dict[str, asyncio.Task[None]] = {}
    scanner = asyncio.create_task(_scan(job, clients, tally, tasks))
    try:
        while (order := await asyncio.to_thread(parent.recv)) is not None:
            what, value = order
            if what == "heartbeat":
                tally.heartbeat = value
            parent.send((len(tasks), tally))
    finally:
        scanner.cancel()
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(scanner, *tasks.values(), return_exceptions=True)
        for client in clients:
            await client.aclose()


def _ignore(document: dict[str, Any], arrived: float, size: int) -> None:
    del document, arrived, size


async def _scan(
    job: PoolJob,
    clients: list[httpx.AsyncClient],
    tally: AgentTally,
    tasks: dict[str, asyncio.Task[None]],
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(job.tokens):
                name = entry.name
                mine = zlib.crc32(name.encode()) % job.shares == job.share
                if name.startswith(".") or not mine or name in tasks:
                    continue
                http = clients[len(tasks) % len(clients)]
                agent = run_agent(http, Path(entry.path), tally, _ignore, loop.create_future())
                task = tasks[name] = asyncio.create_task(agent)
                task.add_done_callback(functools.partial(_ended, tasks, name, tally))
        await asyncio.sleep(SCAN_SECONDS)


def _ended(
    tasks: dict[str, asyncio.Task[None]], name: str, tally: AgentTally, task: asyncio.Task[None]
) -> None:
    """An agent that stopped (its credential revoked when the orchestrator replaced the
    node, say) is started again at the next scan, with the token file's newest token, as
    a provider starts a new agent on a replaced node."""
    tally.failures.append(task_failure(task))
    if not task.cancelled() and tasks.get(name) is task:
        del tasks[name]


@dataclass
class PoolTally:
    agents: int  # agents started (token files seen)
    ready: int
    reports: int
    heartbeats: int
    retries: int
    failures: list[str]


class NodePool:
    """The agents of every node whose token appears under ``tokens``, in ``processes``
    processes, started before the nodes are so that each registers as its node appears."""

    def __init__(self, urls: list[str], tokens: Path, processes: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.pipes: list[Connection] = []
        for share in range(processes):
            mine, theirs = spawn.Pipe()
            job = PoolJob(tuple(urls), tokens, share, processes)
            process = spawn.Process(target=pool_process, args=(job, theirs), daemon=True)
            process.start()
            theirs.close()  # a dead process then ends our reads instead of leaving them hanging
            self.processes.append(process)
            self.pipes.append(mine)

    def _ask(self, order: tuple[str, Any]) -> PoolTally:
        for pipe in self.pipes:
            pipe.send(order)
        answers: list[tuple[int, AgentTally]] = [pipe.recv() for pipe in self.pipes]
        return PoolTally(
            agents=sum(count for count, _ in answers),
            ready=sum(t.ready for _, t in answers),
            reports=sum(t.reports for _, t in answers),
            heartbeats=sum(t.heartbeats for _, t in answers),
            retries=sum(t.retries for _, t in answers),
            failures=[f for _, t in answers for f in t.failures],
        )

    def tally(self) -> PoolTally:
        return self._ask(("tally", None))

    def heartbeat(self, on: bool) -> PoolTally:
        return self._ask(("heartbeat", on))

    def wait_ready(self, count: int, timeout: float) -> PoolTally:
        """Until ``count`` agents reported their first revision."""
        deadline = time.monotonic() + timeout
        while (tally := self.tally()).ready < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{tally.ready} of {count} agents ready: {tally}")
            time.sleep(0.5)
        return tally

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def stop(self) -> None:
        stop_processes(self.pipes, self.processes)


def stop_processes(
    pipes: Iterable[Connection], processes: Iterable[multiprocessing.process.BaseProcess]
) -> None:
    """Ask each worker process to end (``None`` on its pipe), then kill what outlives 10 s."""
    for pipe in pipes:
        with contextlib.suppress(OSError):
            pipe.send(None)
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)


async def gather_limited(jobs: Iterable[Awaitable[Any]], at_once: int) -> list[Any]:
    """Await ``jobs`` with at most ``at_once`` of them running."""
    gate = asyncio.Semaphore(at_once)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))
