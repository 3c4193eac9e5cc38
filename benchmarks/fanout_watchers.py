"""The watchers of ``fanout.py``, in processes of their own: simulated agents of a MetaPaaS
node (``simkit.run_agent``) or etcd watch streams, each recording when every change reached
it; the benchmark's process asks each process for the arrivals of one change at a time."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import httpx
import simkit

SET_UP_SECONDS = simkit.SET_UP_SECONDS
"""Longest wait for the watchers to be in place (1,000 registrations and first reports)."""
CHANGE_SECONDS = 90.0
"""Longest wait for one change to reach every watcher; those still without it are counted."""
System = Literal["metapaas", "etcd"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Tally:
    """When each change arrived at each watcher of one process."""

    def __init__(self, watchers: int) -> None:
        self.watchers = watchers
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._everyone: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.agents = simkit.AgentTally()  # its retries: requests answered 5xx or cut
        self.answer_bytes = 0  # the size of the last answer holding a change

    def record(self, changes: set[str], arrived: float, size: int) -> None:
        self.answer_bytes = size
        for change in changes:
            got = self.arrivals[change]
            got.append(arrived)
            if len(got) == self.watchers:
                self._everyone[change].set()

    async def collect(self, change: str, timeout: float) -> list[float]:
        """The arrivals of ``change``, once every watcher has it or ``timeout`` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._everyone[change].wait(), timeout)
        self._everyone.pop(change, None)
        return self.arrivals.pop(change, [])


@dataclass(frozen=True)
class Job:
    """What one watcher process runs: ``identities`` are the files of the nodes' bootstrap
    tokens (MetaPaaS) or the key to watch, once per watcher (etcd)."""

    system: System
    url: str
    identities: list[str]


Watch = Callable[[httpx.AsyncClient, str, Tally, asyncio.Future[None]], Coroutine[Any, Any, None]]


async def metapaas_agent(
    http: httpx.AsyncClient, token_file: str, tally: Tally, ready: asyncio.Future[None]
) -> None:
    """A node's agent (``simkit.run_agent``), recording when each new entry arrived."""
    known: set[str] = set()

    def record(document: dict[str, Any], arrived: float, size: int) -> None:
        entries = {entry["name"] for entry in document["resources"]["entries"]}
        tally.record(entries - known, arrived, size)
        known.update(entries)

    await simkit.run_agent(http, Path(token_file), tally.agents, record, ready)


async def etcd_watcher(
    http: httpx.AsyncClient, key: str, tally: Tally, ready: asyncio.Future[None]
) -> None:
    """One watch stream on ``key``; each put's value names the change."""
    body = {"create_request": {"key": b64(key)}}
    async with http.stream("POST", "/v3/watch", json=body, timeout=None) as stream:
        stream.raise_for_status()
        async for line in stream.aiter_lines():
            arrived = time.monotonic()
            result = json.loads(line)["result"]
            if result.get("created"):
                ready.set_result(None)
                continue
            values = {base64.b64decode(e["kv"]["value"]).decode() for e in result.get("events", [])}
            tally.record(values, arrived, len(line))


WATCHES: dict[System, Watch] = {"metapaas": metapaas_agent, "etcd": etcd_watcher}


def watcher_process(job: Job, parent: Connection) -> None:
    """Runs in a process of its own: the job's watchers, and the parent's questions."""
    asyncio.run(_serve(job, parent))


async def _serve(job: Job, parent: Connection) -> None:
    tally = Tally(len(job.identities))
    async with simkit.http_client(job.url) as http:
        loop = asyncio.get_running_loop()
        readies = [loop.create_future() for _ in job.identities]
        watch = WATCHES[job.system]
        tasks = [
            asyncio.create_task(watch(http, identity, tally, ready))
            for identity, ready in zip(job.identities, readies, strict=True)
        ]
        failures: list[str] = []
        for task in tasks:
            task.add_done_callback(lambda t: failures.append(simkit.task_failure(t)))
        try:
            await asyncio.wait_for(asyncio.gather(*readies), SET_UP_SECONDS)
            parent.send(("ready", failures))
            while (question := await asyncio.to_thread(parent.recv)) is not None:
                arrivals = await tally.collect(question, CHANGE_SECONDS)
                parent.send((arrivals, tally.agents.retries, tally.answer_bytes, failures))
        except TimeoutError:
            parent.send(("not ready", failures))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Watchers:
    """The watcher processes of one system, driven from the benchmark's process."""

    system: System
    processes: list[multiprocessing.process.BaseProcess] = field(default_factory=list)
    pipes: list[Connection] = field(default_factory=list)
    retries: int = 0  # since the watchers started
    answer_bytes: int = 0
    failures: list[str] = field(default_factory=list)  # watchers that stopped, and why

    @classmethod
    def start(cls, system: System, url: str, identities: list[str], processes: int) -> Watchers:
        spawn = multiprocessing.get_context("spawn")
        watchers = cls(system)
        for share in range(processes):
            mine, theirs = spawn.Pipe()
            job = Job(system, url, identities[share::processes])
            process = spawn.Process(target=watcher_process, args=(job, theirs), daemon=True)
            process.start()
            theirs.close()  # a dead process then ends our reads instead of leaving them hanging
            watchers.processes.append(process)
            watchers.pipes.append(mine)
        for pipe in watchers.pipes:
            state, failures = watchers._answer(pipe, SET_UP_SECONDS + 30)
            if state != "ready":
                raise AssertionError(f"{system} watchers not in place: {failures[:3]}")
        return watchers

    def _answer(self, pipe: Connection, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise AssertionError(f"{self.system} watchers did not answer in {timeout:g} s")
        return pipe.recv()

    def collect(self, change: str) -> list[float]:
        """Every watcher's arrival time of ``change`` (fewer when some never got it)."""
        for pipe in self.pipes:
            pipe.send(change)
        arrivals: list[float] = []
        self.retries, self.failures = 0, []
        for pipe in self.pipes:
            got, retried, size, failures = self._answer(pipe, CHANGE_SECONDS + 30)
            arrivals += got
            self.retries += retried
            self.answer_bytes = size
            self.failures += failures
        return arrivals

    def stop(self) -> None:
        simkit.stop_processes(self.pipes, self.processes)
