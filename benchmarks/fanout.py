"""Fan-out figures: one metadata change reaching 1,000 watching agents, against etcd's watch.

MetaPaaS: a real control plane (`metapaas server`, embedded SQLite unless
``--database-url`` names PostgreSQL) plans one instance of ``--watchers`` nodes of
the benchmark's ``fanout`` type with its real orchestrator; the provider is an
in-memory one that leaves each node's bootstrap token in a file (``fanout_kit.py``,
registered through a hand-made ``.dist-info`` on the server's path). Each node is
a simulated agent speaking the real agent protocol over HTTP: it registers with its
token, long-polls ``GET /v1/agent/metadata?after=REV&wait=30`` with its credential
and reports every revision it gets (``POST /v1/agent/report``), as the real agent
does; it sends no heartbeat (the type waits an hour before calling a node
unreachable). A change is ``POST .../entries`` of a new child resource; its latency
to one agent is from the API's answer (the change committed) to that agent's
long-poll answer holding the new entry, so it includes the orchestrator's pass that
publishes the new revision.

etcd: Debian's ``etcd-server`` (installed with apt when missing, its service kept
from starting) on loopback ports, as many watchers on one key through its v3
HTTP/JSON gateway (``POST /v3/watch``, a stream per watcher), and a change is
``POST /v3/kv/put``: latency from the put's answer to each watcher's event. Every
latency is also given from the change's request (it includes the write itself).

Both sets of watchers are asyncio + httpx in ``--processes`` processes (one HTTP
connection per watcher), both systems are up for the whole run, and their changes
alternate, so each run's ratio compares the two under the same load of the shared
machine. A run is ``--changes`` changes, one at a time from rest; its p50 and p99
are over every (change, watcher) latency. Printed: each run, the medians over
``--runs`` and their ratios, then how it ran. Everything it writes is in a temp dir
(the one install aside). At 1,000 watchers a run of the defaults takes about 5
minutes on 2 shared cores, most of it MetaPaaS's registrations and changes.

    .venv/bin/python benchmarks/fanout.py --runs 3 --changes 2 --watchers 1000
    .venv/bin/python benchmarks/fanout.py --runs 3 --changes 3 --watchers 250
    .venv/bin/python benchmarks/fanout.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import load
import plane_stats
import simkit
from fanout_watchers import Watchers, b64

from metapaas.testing import free_port, wait_for

HERE = Path(__file__).resolve().parent
AT_REST_SECONDS = 60.0
ETCD_PAUSE = 0.5
INSTANCES = simkit.INSTANCES


# -- the two systems ----------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Changes of one system: when each watcher got each change, in seconds from the
    change's answer (it is committed then) and from its request (sent then)."""

    from_answer: list[float]
    from_request: list[float]
    expected: int

    @classmethod
    def of(cls, arrivals: list[float], sent: float, answered: float, expected: int) -> Figures:
        return cls([t - answered for t in arrivals], [t - sent for t in arrivals], expected)

    @classmethod
    def merged(cls, figures: Sequence[Figures]) -> Figures:
        return cls(
            [t for f in figures for t in f.from_answer],
            [t for f in figures for t in f.from_request],
            sum(f.expected for f in figures),
        )

    @property
    def missing(self) -> int:
        return self.expected - len(self.from_answer)

    def quantile(self, q: float, since: Since = "from_answer") -> float:
        ordered = sorted(getattr(self, since))
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


Since = Literal["from_answer", "from_request"]


class MetaPaaS:
    """A control plane with one ``fanout`` instance of N nodes, and their agents."""

    def __init__(self, home: Path, database_url: str, watchers: int) -> None:
        site = home.parent / "site"
        simkit.register_kit(site)
        self.plane = simkit.control_plane(home, database_url, site)
        self.client = httpx.Client(base_url=self.plane.url, timeout=30)
        self.count = watchers
        self.path = ""
        self.changes = 0
        self.watchers: Watchers | None = None

    def start(self, processes: int) -> None:
        self.plane.start()
        self.client.headers["Authorization"] = f"Bearer {self.plane.token}"
        created = self.client.post(INSTANCES, json={"name": "fanout", "nodes": self.count})
        assert created.status_code == 202, created.text
        self.path = f"{INSTANCES}/{created.json()['id']}"
        tokens = simkit.tokens_dir(self.plane)
        wait_for(
            lambda: len(list(tokens.glob("[!.]*"))) >= self.count,
            simkit.SET_UP_SECONDS,
            "the nodes",
        )
        identities = [str(p) for p in sorted(tokens.glob("[!.]*"))]
        self.watchers = Watchers.start("metapaas", self.plane.url, identities, processes)
        self.plane.wait_converged(self.client, self.path, simkit.SET_UP_SECONDS)

    def change(self) -> Figures:
        """A new entry, once the instance is at rest; every agent's latency to it."""
        assert self.watchers is not None
        self._wait_at_rest()
        name = f"change-{self.changes}"
        self.changes += 1
        sent = time.monotonic()
        answer = self.client.post(f"{self.path}/entries", json={"name": name, "value": "x"})
        answered = time.monotonic()
        assert answer.status_code == 201, answer.text
        return Figures.of(self.watchers.collect(name), sent, answered, self.count)

    def _wait_at_rest(self) -> None:
        """Converged, its queue empty and every agent back in its long-poll."""
        assert self.watchers is not None
        self.plane.wait_converged(self.client, self.path, AT_REST_SECONDS)
        wait_for(self._at_rest, AT_REST_SECONDS, "every agent long-polling, nothing queued", 0.1)

    def _at_rest(self) -> bool:
        figures = plane_stats.metrics(self.client.get("/metrics").text)
        return (
            figures.get("metapaas_watchers", 0) >= self.count
            and figures.get("metapaas_queue_depth", 1) == 0
        )

    def stop(self) -> None:
        if self.watchers is not None:
            self.watchers.stop()
        self.client.close()
        self.plane.stop()


class Etcd:
    """Debian's etcd on two loopback ports, its data in ``data``; watchers on one key."""

    KEY = "/fanout/entry"

    def __init__(self, data: Path, watchers: int) -> None:
        self.data = data
        self.count = watchers
        self.url = f"http://127.0.0.1:{free_port()}"
        self.peer = f"http://127.0.0.1:{free_port()}"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.process: subprocess.Popen[bytes] | None = None
        self.watchers: Watchers | None = None
        self.changes = 0

    def start(self, processes: int) -> None:
        self.data.mkdir(parents=True)
        log = (self.data.parent / "etcd.log").open("ab")
        self.process = subprocess.Popen(
            [
                ensure_etcd(),
                *("--name", "bench", "--data-dir", str(self.data / "member")),
                *("--listen-client-urls", self.url, "--advertise-client-urls", self.url),
                *("--listen-peer-urls", self.peer, "--initial-advertise-peer-urls", self.peer),
                *("--initial-cluster", f"bench={self.peer}"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_for(self._healthy, 30, "etcd to answer /health")
        self._put("start")
        identities = [self.KEY] * self.count
        self.watchers = Watchers.start("etcd", self.url, identities, processes)

    def _healthy(self) -> bool:
        try:
            return self.client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def change(self) -> Figures:
        """A put, after a pause: every watcher got the last one, and the stream is idle."""
        assert self.watchers is not None
        time.sleep(ETCD_PAUSE)
        name = f"change-{self.changes}"
        self.changes += 1
        sent = time.monotonic()
        self._put(name)
        answered = time.monotonic()
        return Figures.of(self.watchers.collect(name), sent, answered, self.count)

    def _put(self, value: str) -> None:
        answer = self.client.post("/v3/kv/put", json={"key": b64(self.KEY), "value": b64(value)})
        answer.raise_for_status()

    def stop(self) -> None:
        if self.watchers is not None:
            self.watchers.stop()
        self.client.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


POLICY = Path("/usr/sbin/policy-rc.d")


def ensure_etcd() -> str:
    """The path of Debian's ``etcd``, installing ``etcd-server`` when missing.

    The package's own service (etcd on the default ports of the machine) must not
    start: ``invoke-rc.d`` asks ``policy-rc.d``, whose 101 forbids it, as
    ``scripts/ensure-system-deps.sh`` does. An existing policy is left as it is.
    """
    found = shutil.which("etcd")
    if found:
        return found
    print("installing Debian's etcd-server", file=sys.stderr)
    made_policy = not POLICY.exists()
    if made_policy:
        POLICY.write_text("#!/bin/sh\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "etcd-server"], check=True, env=env)
    finally:
        if made_policy:
            POLICY.unlink()
    found = shutil.which("etcd")
    assert found, "etcd-server installed no etcd"
    return found


# -- running and reporting ----------------------------------------------------------


@dataclass
class Run:
    metapaas: Figures
    etcd: Figures

    def ratio(self, q: float, since: Since) -> float:
        return self.metapaas.quantile(q, since) / self.etcd.quantile(q, since)


def one_run(metapaas: MetaPaaS, etcd: Etcd, changes: int) -> Run:
    """``changes`` changes of each system, alternating, each from rest."""
    ours: list[Figures] = []
    theirs: list[Figures] = []
    for _ in range(changes):
        ours.append(metapaas.change())
        theirs.append(etcd.change())
    return Run(Figures.merged(ours), Figures.merged(theirs))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms".replace(",", " ")


SINCE: dict[Since, str] = {"from_answer": "from the answer", "from_request": "from the request"}


def report(runs: Sequence[Run], watchers: int, changes: int) -> Iterator[str]:
    yield f"{watchers} watchers, {changes} changes per run, {len(runs)} runs; p50 / p99 / max"
    for index, run in enumerate(runs, 1):
        for name, figures in (("metapaas", run.metapaas), ("etcd", run.etcd)):
            quantiles = "   ".join(
                f"{label}: {_ms(figures.quantile(0.5, since))} / "
                f"{_ms(figures.quantile(0.99, since))} / {_ms(max(getattr(figures, since)))}"
                for since, label in SINCE.items()
            )
            yield f"  run {index} {name:8}  {quantiles}   missing {figures.missing}"
    for since, label in SINCE.items():
        yield f"median of runs, {label}:"
        for name in ("metapaas", "etcd"):
            p50 = statistics.median(getattr(r, name).quantile(0.5, since) for r in runs)
            p99 = statistics.median(getattr(r, name).quantile(0.99, since) for r in runs)
            yield f"  {name:8}  p50 {_ms(p50):>9}  p99 {_ms(p99):>9}"
        p50_ratio = statistics.median(r.ratio(0.5, since) for r in runs)
        p99_ratio = statistics.median(r.ratio(0.99, since) for r in runs)
        yield f"  ratio metapaas / etcd: p50 {p50_ratio:.1f}x  p99 {p99_ratio:.1f}x"


def versions(etcd: str) -> str:
    said = subprocess.run([etcd, "--version"], capture_output=True, text=True, check=False)
    etcd_version = said.stdout.splitlines()[0] if said.stdout else "etcd (version unknown)"
    revision = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{platform.python_implementation()} {platform.python_version()}, httpx "
        f"{httpx.__version__}, metapaas at {revision or 'unknown revision'}, {etcd_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="watcher processes per system")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--changes", type=int, default=2, help="changes per run and system")
    parser.add_argument("--database-url", default=os.environ.get("METAPAAS_DATABASE_URL", ""))
    args = parser.parse_args()
    etcd_path = ensure_etcd()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        home = Path(tmp) / "home"
        url = args.database_url or f"sqlite:///{home / 'metapaas.db'}"
        metapaas = MetaPaaS(home, url, args.watchers)
        etcd = Etcd(Path(tmp) / "etcd", args.watchers)
        try:
            metapaas.start(args.processes)
            etcd.start(args.processes)
            set_up = time.monotonic() - started
            runs = [one_run(metapaas, etcd, args.changes) for _ in range(args.runs)]
        finally:
            etcd.stop()
            metapaas.stop()
    for line in report(runs, args.watchers, args.changes):
        print(line)
    assert metapaas.watchers is not None
    assert etcd.watchers is not None
    print(
        f"answer holding a change: metapaas {metapaas.watchers.answer_bytes} bytes, "
        f"etcd {etcd.watchers.answer_bytes} bytes; requests retried after a 5xx or a cut "
        f"connection: metapaas {metapaas.watchers.retries}, etcd {etcd.watchers.retries}"
    )
    failures = metapaas.watchers.failures + etcd.watchers.failures
    print(f"watchers that stopped: {len(failures)} {failures[:3]}")
    print(f"set-up {set_up:.0f} s, whole run {time.monotonic() - started:.0f} s")
    print(f"database: {url.split(':')[0]}; {versions(etcd_path)}")
    print(f"machine: {load.machine()}")
    print(f"command: {simkit.command()}")


if __name__ == "__main__":
    main()
