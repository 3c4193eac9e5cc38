"""Load figures: the API under concurrent clients while real nodes report.

Starts a real control plane (`metapaas server`, embedded SQLite unless
``--database-url`` or ``METAPAAS_DATABASE_URL`` names PostgreSQL) with the
local provider, brings up a scenario's nodes (demo instances of up to three
replicas: real agents that heartbeat every 4 s and long-poll their
metadata), then runs the scenario's clients (asyncio + httpx, one connection
each) for ``--duration`` seconds, ``--runs`` times. Every run first puts the
same clients on ``/healthz`` (no database) for the same time: the baseline
the figures are divided by, so a busy shared machine shows as a slow
baseline rather than a slow server.

Prints, per scenario, the median over runs of req/s, p50 and p99 latency
(also as ratios to the baseline), the count of 5xx and of 503 answers and of
requests that got no answer within ``REQUEST_TIMEOUT``; then how it ran
(date, cores, RAM, command, the server's source) and what the server logged
(tracebacks, ``database is locked``, ``QueuePool limit``).

    .venv/bin/python benchmarks/load.py --runs 3 --duration 20
    .venv/bin/python benchmarks/load.py --scenarios issue --source /path/to/other/checkout

``--source`` runs another checkout's server (its ``src`` first on the path),
to compare before and after with the same harness. To add a figure, add a
:class:`Scenario` to ``SCENARIOS`` (clients, nodes, request mix).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import simkit

from metapaas.testing import ControlPlane, wait_for

REQUEST_TIMEOUT = 30.0
"""A request not answered by then counts as hung."""
NODES_UP_SECONDS = 900.0
INSTANCES = "/v1/types/demo/instances"


# -- what clients send ----------------------------------------------------------------


@dataclass
class World:
    """What the clients may address: the scenario's instances."""

    instance_paths: list[str]


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass
class Client:
    """One simulated API client: its own connection, its own random stream and writes."""

    http: httpx.AsyncClient
    world: World
    rng: random.Random
    index: int
    counter: Iterator[int] = field(default_factory=itertools.count)
    undo: list[str] = field(default_factory=list)  # paths this client created, to delete

    def read(self) -> Awaitable[httpx.Response]:
        paths = ["/v1/projects", "/v1/users/me", f"{INSTANCES}?limit=20"]
        if self.world.instance_paths:
            instance = self.rng.choice(self.world.instance_paths)
            paths += [instance, f"{instance}/pages"]
        return self.http.get(self.rng.choice(paths))

    def write(self) -> Awaitable[httpx.Response]:
        """Create something, or delete what this client created last: the data stays bounded.

        Projects are database-only writes (with their audit entry); pages also
        change an instance, so a reconcile pushes new metadata to its nodes.
        """
        if self.undo:
            return self.http.delete(self.undo.pop())
        name = f"load-{self.index}-{next(self.counter)}"
        if self.world.instance_paths and self.rng.random() < 0.5:
            path = f"{self.rng.choice(self.world.instance_paths)}/pages"
            self.undo.append(f"{path}/{name}")
            return self.http.post(path, json={"name": name, "content": "x" * 100})
        return self._create_project(name)

    async def _create_project(self, name: str) -> httpx.Response:
        response = await self.http.post("/v1/projects", json={"name": name})
        if response.status_code == 201:
            self.undo.append(f"/v1/projects/{response.json()['id']}")
        return response

    def healthz(self) -> Awaitable[httpx.Response]:
        return self.http.get("/healthz")


Choose = Callable[[Client], Awaitable[httpx.Response]]


def mix(write_share: float) -> Choose:
    """Reads and writes at random, ``write_share`` of them writes."""

    def choose(client: Client) -> Awaitable[httpx.Response]:
        return client.write() if client.rng.random() < write_share else client.read()

    return choose


def healthz(client: Client) -> Awaitable[httpx.Response]:
    return client.healthz()


# -- measuring ------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One measured stretch of load."""

    requests: int
    seconds: float
    p50: float
    p99: float
    server_errors: int
    unavailable: int
    hung: int
    server_cpu: float  # seconds of CPU the server process used meanwhile

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / max(1, self.requests)

    @classmethod
    def of(cls, samples: Sequence[tuple[float, int]], seconds: float, cpu: float) -> Figures:
        """``samples`` are (latency, status) pairs; status 0 means no answer at all."""
        latencies = sorted(latency for latency, _ in samples)
        statuses = [status for _, status in samples]
        return cls(
            requests=len(samples),
            seconds=seconds,
            p50=_quantile(latencies, 0.50),
            p99=_quantile(latencies, 0.99),
            server_errors=sum(1 for s in statuses if s >= 500),
            unavailable=statuses.count(503),
            hung=statuses.count(0),
            server_cpu=cpu,
        )


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def closed_loops(
    urls: Sequence[str],
    token: str,
    world: World,
    clients: int,
    seconds: float,
    choose: Choose,
) -> tuple[list[tuple[float, int]], float]:
    """``clients`` closed loops of ``choose`` for ``seconds``, client ``i`` on
    ``urls[i % len(urls)]``: the (latency, status) samples and the elapsed time."""
    samples: list[tuple[float, int]] = []
    headers = {"Authorization": f"Bearer {token}"}
    # Made before the clock starts: making a client costs tens of milliseconds of CPU.
    https = [
        httpx.AsyncClient(
            base_url=urls[index % len(urls)],
            headers=headers,
            timeout=REQUEST_TIMEOUT,
            verify=simkit.TLS,
        )
        for index in range(clients)
    ]
    deadline = time.monotonic() + seconds

    async def loop(index: int) -> None:
        async with https[index] as http:
            client = Client(http, world, random.Random(index), index)  # noqa: S311 (no secret)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    status = (await choose(client)).status_code
                except httpx.HTTPError:
                    status = 0
                samples.append((time.perf_counter() - started, status))
            for path in client.undo:  # leave nothing behind for the next run
                with contextlib.suppress(httpx.HTTPError):
                    await http.delete(path)

    started = time.monotonic()
    await asyncio.gather(*(loop(index) for index in range(clients)))
    return samples, time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    plane: ControlPlane, world: World, clients: int, seconds: float, choose: Choose
) -> Figures:
    """Run ``clients`` loops of ``choose`` for ``seconds``; every answer is a sample."""
    assert plane.process is not None
    cpu_before = cpu_seconds(plane.process.pid)
    samples, elapsed = await closed_loops([plane.url], plane.token, world, clients, seconds, choose)
    return Figures.of(samples, elapsed, cpu_seconds(plane.process.pid) - cpu_before)


# -- scenarios ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    clients: int
    nodes: int
    choose: Choose


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("issue", "16 clients, 70 % reads, no nodes", 16, 0, mix(0.3)),
        Scenario("nodes", "32 clients, 70 % reads, 50 nodes reporting", 32, 50, mix(0.3)),
        Scenario("writes", "32 clients, all writes, no nodes", 32, 0, mix(1.0)),
    )
}


def start_nodes(plane: ControlPlane, client: httpx.Client, nodes: int) -> list[str]:
    """Demo instances of up to 3 replicas, ``nodes`` in all, ACTIVE; returns their paths."""
    paths = []
    for index, start in enumerate(range(0, nodes, 3)):
        replicas = min(3, nodes - start)
        body = {"name": f"load-{index}", "replicas": replicas}
        created = client.post(INSTANCES, json=body)
        assert created.status_code == 202, created.text
        paths.append(f"{INSTANCES}/{created.json()['id']}")
    for path in paths:
        plane.wait_status(client, path, "ACTIVE", timeout=NODES_UP_SECONDS)
    return paths


def node_processes(plane: ControlPlane) -> list[Path]:
    """The /proc entries of the plane's node processes (agents and their services)."""
    marker = str(plane.home / "nodes").encode()
    found = []
    for process in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if process.name.isdigit() and marker in (process / "cmdline").read_bytes():
                found.append(process)
    return found


def nice_nodes(plane: ControlPlane) -> int:
    """Give the plane's nodes the least CPU priority; returns how many processes. In a
    deployment the nodes are other machines; here they share the benchmark's cores, and 50
    of them would otherwise starve the server being measured.

    Each agent runs in a session of its own, and Linux shares CPU fairly between sessions
    (autogroups) before it looks at a thread's nice value: both are lowered.
    """
    processes = node_processes(plane)
    for process in processes:
        with contextlib.suppress(OSError):
            (process / "autogroup").write_text("19")
            for thread in (process / "task").iterdir():  # nice is per thread
                os.setpriority(os.PRIO_PROCESS, int(thread.name), 19)
    return len(processes)


def kill_nodes(plane: ControlPlane) -> None:
    """SIGKILL what is left of the nodes: agents outlive their control plane by design."""
    for name in plane.node_names():
        with contextlib.suppress(OSError):
            plane.kill_node(name)


@dataclass
class Result:
    scenario: Scenario
    baseline: list[Figures] = field(default_factory=list)
    load: list[Figures] = field(default_factory=list)


def run_scenario(plane: ControlPlane, scenario: Scenario, runs: int, seconds: float) -> Result:
    with plane.client() as client:
        paths = start_nodes(plane, client, scenario.nodes)
        nice_nodes(plane)
        time.sleep(5 if scenario.nodes else 0)  # let the nodes' first reports settle
        world = World(paths)
        result = Result(scenario)
        for _ in range(runs):
            for figures, choose in ((result.baseline, healthz), (result.load, scenario.choose)):
                figures.append(asyncio.run(drive(plane, world, scenario.clients, seconds, choose)))
        try:
            delete_instances(client, paths)
        except (httpx.HTTPError, AssertionError) as exc:  # the figures stand; kill_nodes cleans
            print(f"{scenario.name}: deleting its instances failed: {exc!r}", file=sys.stderr)
    return result


def delete_instances(client: httpx.Client, paths: Sequence[str], timeout: float = 300) -> None:
    """DELETE every instance of ``paths``, then wait until each is gone (404)."""
    for path in paths:
        client.delete(path)
    for path in paths:
        wait_for(functools.partial(_gone, client, path), timeout, f"{path} deleted")


def _gone(client: httpx.Client, path: str) -> bool:
    return client.get(path).status_code == httpx.codes.NOT_FOUND


# -- reporting ------------------------------------------------------------------------


def _median(figures: Sequence[Figures], attribute: str) -> float:
    return float(statistics.median(getattr(f, attribute) for f in figures))


def report(result: Result) -> str:
    base, load = result.baseline, result.load
    rate, p50, p99 = (_median(load, a) for a in ("rate", "p50", "p99"))
    base_rate, base_p50, base_p99 = (_median(base, a) for a in ("rate", "p50", "p99"))
    totals = {
        what: sum(getattr(f, what) for f in load)
        for what in ("requests", "server_errors", "unavailable", "hung")
    }
    cpu, base_cpu = _median(load, "cpu_per_request"), _median(base, "cpu_per_request")
    runs = ", ".join(f"{f.rate:.0f}/s p50 {f.p50 * 1e3:.0f} p99 {f.p99 * 1e3:.0f}" for f in load)
    return "\n".join(
        (
            f"{result.scenario.title} (median of {len(load)} runs):",
            f"  load:     {rate:7.0f} req/s  p50 {p50 * 1e3:6.1f} ms  p99 {p99 * 1e3:7.1f} ms",
            f"  baseline: {base_rate:7.0f} req/s  p50 {base_p50 * 1e3:6.1f} ms  "
            f"p99 {base_p99 * 1e3:7.1f} ms  (/healthz, same clients)",
            f"  ratio to baseline: req/s {rate / base_rate:.2f}x  p50 {p50 / base_p50:.1f}x  "
            f"p99 {p99 / base_p99:.1f}x",
            f"  server CPU per request: {cpu * 1e3:.1f} ms (baseline {base_cpu * 1e3:.1f} ms)",
            f"  answers: {totals['requests']} requests, {totals['server_errors']} 5xx "
            f"({totals['unavailable']} of them 503), {totals['hung']} unanswered "
            f"after {REQUEST_TIMEOUT:.0f} s",
            f"  each run: {runs}",
        )
    )


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().split()
    ram_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, {ram_gib:.0f} GiB RAM, "
        f"load average {load} at the end; {platform.python_implementation()} "
        f"{platform.python_version()}, httpx {httpx.__version__}"
    )


def server_log_counts(log: Path) -> str:
    """What the server logged: tracebacks, lock and pool errors, and its answers to agents."""
    text = log.read_text(errors="replace") if log.exists() else ""
    wanted = ("Traceback", "database is locked", "QueuePool limit")
    counts = [f"{text.count(what)} x {what!r}" for what in wanted]
    agent = [line for line in text.splitlines() if '"' in line and " /v1/agent/" in line]
    failed = [line for line in agent if re.search(r'HTTP/1.1" 5\d\d', line)]
    return ", ".join([*counts, f"{len(agent)} answers to agents ({len(failed)} of them 5xx)"])


def _source_revision(source: Path) -> str:
    found = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{source} at {found.stdout.strip() or 'unknown revision'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=["issue"])
    parser.add_argument("--database-url", default=os.environ.get("METAPAAS_DATABASE_URL", ""))
    parser.add_argument("--source", type=Path, help="serve from this checkout instead")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME=VALUE", help="server settings, e.g. THREADS=8"
    )
    args = parser.parse_args()
    source = (args.source or Path(__file__).parent.parent).resolve()
    env = dict(f"METAPAAS_{setting}".split("=", 1) for setting in args.set)
    if args.source:
        env["PYTHONPATH"] = str(source / "src")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        url = args.database_url or f"sqlite:///{home / 'metapaas.db'}"
        plane = ControlPlane(home, url, METAPAAS_RESYNC_SECONDS="10", **env)
        plane.start()
        try:
            for name in args.scenarios:
                results.append(run_scenario(plane, SCENARIOS[name], args.runs, args.duration))
        finally:
            plane.stop()
            kill_nodes(plane)
            logged = server_log_counts(home / "server.log")
    for result in results:
        print(report(result))
    print(f"database: {url.split(':')[0]}; server source: {_source_revision(source)}")
    print(f"settings: {' '.join(args.set) or 'defaults'}")
    print(f"server log: {logged}")
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
