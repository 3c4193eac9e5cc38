"""Many replicas: the API and create figures with 1, 2 and 4 `metapaas api` + `metapaas worker`
processes on one PostgreSQL.

For each count R of ``--replicas``, a fresh PostgreSQL database (made next to the one
``--database-url`` names, dropped after) and R `metapaas api` plus R `metapaas worker`
processes on it, all with the benchmark type ``fanout`` and the in-memory provider of
``fanout_kit.py`` (one home for all: the same machine). Then:

- **API**: ``--clients`` closed-loop clients (``load.py``'s: 70 % reads of projects, the
  user and an instance list; 30 % project creates and deletes), client ``i`` on replica
  ``i % R``, for ``--duration`` seconds; before it, the same clients on ``/healthz`` (no
  database) for the same time: the baseline of the run, as in ``load.py``.
- **create**: ``--instances`` instances of one simulated node each POSTed at once (spread
  over the replicas) until all are ``ACTIVE`` (``converge.converge``), the simulated agents
  (``simkit.NodePool``) also spread over the replicas.

Printed per R: req/s, p50, p99, the ratio to ``/healthz``, the CPU of every control-plane
process per request, and the create rate; then the ratios to R = 1. All of it shares the
machine's cores with PostgreSQL and the simulated agents.

    .venv/bin/python benchmarks/replicas.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/postgres --replicas 1 2 4
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import converge
import load
import plane_stats
import simkit
from cryptography.fernet import Fernet

from metapaas.testing import ControlPlane


@dataclass(frozen=True)
class Replicas:
    count: int
    api: load.Figures
    healthz: load.Figures
    create: converge.Converge


def cpu(planes: Sequence[ControlPlane]) -> float:
    return sum(
        plane_stats.group_cpu_seconds(p.process.pid) for p in planes if p.process is not None
    )


def figures(
    planes: Sequence[ControlPlane],
    urls: Sequence[str],
    token: str,
    args: argparse.Namespace,
    choose: load.Choose,
) -> load.Figures:
    before = cpu(planes)
    samples, seconds = asyncio.run(
        load.closed_loops(urls, token, load.World([]), args.clients, args.duration, choose)
    )
    return load.Figures.of(samples, seconds, cpu(planes) - before)


def start(tmp: Path, url: str, count: int) -> list[ControlPlane]:
    """``count`` API processes (the first makes the schema and the admin), then ``count``
    workers; every process shares one home and one secret key."""
    site, home = tmp / "site", tmp / "home"
    simkit.register_kit(site)
    key = Fernet.generate_key().decode()
    planes = [
        simkit.control_plane(
            home,
            url,
            site,
            command=command,
            METAPAAS_SECRET_KEY=key,
            # one machine for every worker: a node one made is the same node to the others
            METAPAAS_PROVIDER="fanout-shared",
        )
        for command in ["api"] * count + ["worker"] * count
    ]
    started: list[ControlPlane] = []
    try:
        for plane in planes:
            plane.start()
            started.append(plane)
    except BaseException:
        for plane in started:
            plane.stop()
        raise
    for plane in planes[1:]:
        plane.token = planes[0].token
    return planes


def measure(tmp: Path, base_url: str, count: int, args: argparse.Namespace) -> Replicas:
    url = converge.fresh_database(base_url, tmp, f"replicas{count}")
    planes: list[ControlPlane] = []
    pool: simkit.NodePool | None = None
    try:
        planes = start(tmp / str(count), url, count)
        apis = planes[:count]
        urls, token = [p.url for p in apis], apis[0].token
        healthz = figures(planes, urls, token, args, load.healthz)
        api = figures(planes, urls, token, args, load.mix(0.3))
        pool = simkit.NodePool(urls, simkit.tokens_dir(apis[0]), args.processes)
        created = converge.converge(urls, token, url, pool, args.instances, args.clients)
        return Replicas(count, api, healthz, created)
    finally:
        if pool is not None:
            pool.stop()
        for plane in planes:
            plane.stop()
        converge.drop_database(base_url, url)


def report(results: Sequence[Replicas], instances: int) -> Iterator[str]:
    one = results[0]
    yield (
        "replicas  API req/s  p50 ms  p99 ms  /healthz req/s  ratio to /healthz  "
        "CPU ms/req  5xx  creates/s  API vs 1  creates vs 1"
    )
    for r in results:
        rate = instances / r.create.seconds
        yield (
            f"{r.count:8}  {r.api.rate:9.0f}  {r.api.p50 * 1e3:6.0f}  {r.api.p99 * 1e3:6.0f}  "
            f"{r.healthz.rate:14.0f}  {r.api.rate / r.healthz.rate:17.2f}  "
            f"{r.api.cpu_per_request * 1e3:10.1f}  {r.api.server_errors:3}  {rate:9.1f}  "
            f"{r.api.rate / one.api.rate:7.2f}x  {one.create.seconds / r.create.seconds:11.2f}x"
        )
    for r in results:
        yield (
            f"  {r.count} replicas: {instances} creates ACTIVE in {r.create.seconds:.1f} s "
            f"(POSTs answered in {r.create.posts.seconds:.1f} s, refused "
            f"{len(r.create.posts.refused)} {r.create.posts.refused[:2]}), agent retries "
            f"{r.create.retries}; API unanswered {r.api.hung}, 503 {r.api.unavailable}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server's database")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per API stretch")
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2, help="simulated-agent processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replicas-") as name:
        results = [measure(Path(name), args.database_url, count, args) for count in args.replicas]
    for line in report(results, args.instances):
        print(line)
    print(f"database: postgresql; {args.clients} clients, {args.processes} agent processes")
    print(f"machine: {load.machine()}")
    print(f"command: {simkit.command()}")


if __name__ == "__main__":
    main()
