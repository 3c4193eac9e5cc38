"""Idle cost: the control plane's CPU with N ACTIVE instances whose (simulated) agents
heartbeat, against the same control plane with none, in one run.

A real control plane (`metapaas server`, embedded SQLite unless ``--database-url`` names
PostgreSQL) with the benchmark type ``fanout`` (``--nodes-per-instance`` nodes per
instance, 1 by default) and the in-memory provider of ``fanout_kit.py``; every node's agent
is simulated over the real HTTP agent protocol by ``simkit.NodePool``: it registers,
long-polls its metadata (a new poll every 30 s when nothing changes) and, while told to,
reports every ``HEARTBEAT_SECONDS`` (4 s) as ``metapaas.agent`` does.

First the **baseline**: the CPU of the server's processes (supervisor and generation, from
``/proc``) over ``--window`` seconds with no instance. Then for each count of ``--nodes``
(cumulative: the instances of the step before are kept), the instances are created
(``converge.converge``) and, once the queue is empty, the CPU is measured over three
windows each: agents heartbeating, heartbeats paused (long-polls only), and heartbeating
again; the figure is the median. Printed: CPU as a share of one core per window, its
growth over the baseline per 1,000 nodes, the CPU per heartbeat, and what is left when
heartbeats pause (a control plane that polls per instance would show it there).
``--profile DIR`` runs py-spy on the server during the heartbeating windows of the last
step.

    .venv/bin/python benchmarks/idle.py --nodes 1000 2000 5000 --window 20
    .venv/bin/python benchmarks/idle.py --nodes 500 1000 --window 20 --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import converge
import httpx
import load
import plane_stats
import simkit

from metapaas.agent.node import HEARTBEAT_SECONDS
from metapaas.testing import ControlPlane, wait_for

WINDOWS = 3
"""Windows of each kind per step; the median is the figure."""


def cpu_share(plane: ControlPlane, seconds: float) -> float:
    """The share of one core the plane's processes used over the next ``seconds``."""
    assert plane.process is not None
    before, started = plane_stats.group_cpu_seconds(plane.process.pid), time.monotonic()
    time.sleep(seconds)
    used = plane_stats.group_cpu_seconds(plane.process.pid) - before
    return used / (time.monotonic() - started)


def wait_quiet(plane: ControlPlane, client: httpx.Client) -> None:
    """Until the orchestrator's queue is empty, and for one more heartbeat period."""

    def quiet() -> bool:
        return plane_stats.metrics(client.get("/metrics").text).get("metapaas_queue_depth", 1) == 0

    wait_for(quiet, 300, "the queue to empty", 0.5)
    time.sleep(HEARTBEAT_SECONDS)


@dataclass(frozen=True)
class Step:
    nodes: int
    instances: int
    heartbeating: float  # share of one core
    paused: float
    heartbeats_per_second: float
    create_seconds: float
    rss_bytes: int


def measure_step(
    plane: ControlPlane,
    pool: simkit.NodePool,
    window: float,
    spy_out: Path | None,
) -> tuple[float, float, float]:
    """Median CPU share heartbeating and paused, and heartbeats per second."""
    heartbeating, paused, rates = [], [], []
    spy = None
    if spy_out is not None:
        spy = plane_stats.Profile(spy_out, plane_stats.generation_pids(plane))
    try:
        for _ in range(WINDOWS):
            pool.heartbeat(True)
            time.sleep(HEARTBEAT_SECONDS)  # every agent's heartbeat is back in its rhythm
            before, started = pool.tally().heartbeats, time.monotonic()
            heartbeating.append(cpu_share(plane, window))
            rates.append((pool.tally().heartbeats - before) / (time.monotonic() - started))
            pool.heartbeat(False)
            time.sleep(HEARTBEAT_SECONDS)
            paused.append(cpu_share(plane, window))
    finally:
        if spy is not None:
            spy.stop()
            print("\n".join(["profile of the heartbeating and paused windows:", *spy.summary()]))
    return statistics.median(heartbeating), statistics.median(paused), statistics.median(rates)


def run(args: argparse.Namespace, tmp: Path) -> tuple[float, list[Step]]:
    url = converge.fresh_database(args.database_url, tmp, "idle")
    simkit.register_kit(tmp / "site")
    plane = simkit.control_plane(tmp / "idle", url, tmp / "site")
    pool: simkit.NodePool | None = None
    steps: list[Step] = []
    try:
        plane.start()
        assert plane.process is not None
        with plane.client() as client:
            wait_quiet(plane, client)
            base = statistics.median(cpu_share(plane, args.window) for _ in range(WINDOWS))
            pool = simkit.NodePool([plane.url], simkit.tokens_dir(plane), args.processes)
            instances = 0
            for nodes in args.nodes:
                wanted = nodes // args.nodes_per_instance
                made = converge.converge(
                    [plane.url], plane.token, url, pool, wanted - instances, 32, instances
                )
                instances = wanted
                wait_quiet(plane, client)
                last = nodes == args.nodes[-1] and args.profile is not None
                spy_out = args.profile / f"idle-{nodes}" if last else None
                heartbeating, paused, rate = measure_step(plane, pool, args.window, spy_out)
                rss = plane_stats.group_rss_bytes(plane.process.pid)
                steps.append(Step(nodes, instances, heartbeating, paused, rate, made.seconds, rss))
                print(f"step done: {steps[-1]}", flush=True)
    finally:
        if pool is not None:
            pool.stop()
        plane.stop()
        converge.drop_database(args.database_url, url)
    return base, steps


def report(base: float, steps: Sequence[Step], window: float) -> Iterator[str]:
    yield (
        f"server CPU, share of one core (median of {WINDOWS} windows of {window:g} s); "
        f"baseline with no instance: {base:.1%}"
    )
    yield (
        "  nodes  instances  heartbeating  heartbeats/s  paused  "
        "growth/1,000 nodes  per heartbeat  paused growth/1,000  RSS"
    )
    for step in steps:
        thousands = step.nodes / 1000
        per_beat = (step.heartbeating - step.paused) / max(step.heartbeats_per_second, 1e-9)
        yield (
            f"  {step.nodes:5}  {step.instances:9}  {step.heartbeating:12.1%}  "
            f"{step.heartbeats_per_second:12.0f}  {step.paused:6.1%}  "
            f"{(step.heartbeating - base) / thousands:18.1%}  {per_beat * 1e3:10.2f} ms  "
            f"{(step.paused - base) / thousands:19.1%}  {step.rss_bytes / 2**20:.0f} MiB"
        )
    if len(steps) > 1:
        first, last = steps[0], steps[-1]
        slope = (last.heartbeating - first.heartbeating) / ((last.nodes - first.nodes) / 1000)
        paused = (last.paused - first.paused) / ((last.nodes - first.nodes) / 1000)
        yield (
            f"slope from {first.nodes} to {last.nodes} nodes: {slope:.1%} of a core per 1,000 "
            f"heartbeating nodes, {paused:.1%} per 1,000 with heartbeats paused"
        )
    for step in steps:
        yield f"  {step.nodes} nodes created and ACTIVE in {step.create_seconds:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--nodes-per-instance", type=int, default=1)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per CPU window")
    parser.add_argument("--processes", type=int, default=2, help="simulated-agent processes")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server's database to make the run's database from; SQLite if unset",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the last step into DIR")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="idle-") as name:
        base, steps = run(args, Path(name))
    for line in report(base, steps, args.window):
        print(line)
    database = "postgresql" if args.database_url else "sqlite"
    print(f"database: {database}; {args.processes} agent processes")
    print(f"machine: {load.machine()}")
    print(f"command: {simkit.command()}")


if __name__ == "__main__":
    main()
