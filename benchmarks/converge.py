"""Converge rate: N instances created at once, each reaching ``ACTIVE`` with a simulated node.

A real control plane (`metapaas server`, embedded SQLite unless ``--database-url`` names
PostgreSQL) with the benchmark type ``fanout`` (one node per instance here) and the
in-memory provider of ``fanout_kit.py``; every node's agent is simulated over the real HTTP
agent protocol by ``simkit.NodePool`` (``--processes`` processes that start an agent for
each bootstrap token the provider leaves, register it, long-poll its metadata and report).
``--clients`` concurrent API clients POST the ``--instances`` instances as fast as they
are answered; the figure is from the first POST until the last instance is ``ACTIVE``
(counted in the database every 0.1 s), as instances per second.

The baseline, in the same run: the same POSTs to a control plane serving the API alone
(`metapaas api` on a fresh database of the same kind, no worker: nothing converges), that
is the rate at which the API alone takes the instances. The ratio converge / baseline is
what to compare across days on this shared machine. Medians of ``--runs``; each run uses
fresh databases. ``--profile DIR`` runs py-spy on the server's processes during the
converge of the last run and prints the busiest functions.

    .venv/bin/python benchmarks/converge.py --runs 3 --instances 1000
    .venv/bin/python benchmarks/converge.py --runs 1 --instances 1000 --profile /tmp/prof
    .venv/bin/python benchmarks/converge.py --database-url postgresql+psycopg://postgres@127.0.0.1/
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import load
import plane_stats
import simkit
from sqlalchemy import func, select

from metapaas.db import for_reading, make_engine, models

CONVERGE_SECONDS = 900.0


# -- the creates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Posts:
    seconds: float  # from the first request to the last answer
    refused: list[str]  # answers other than 202, or no answer


async def post_instances(
    urls: Sequence[str], token: str, count: int, clients: int, first: int = 0
) -> Posts:
    """``count`` instances of one node each (numbered from ``first``), POSTed by ``clients``
    clients (each its own connection, client ``i`` to ``urls[i % len(urls)]``), as fast
    as they are answered."""
    names = iter(range(first, first + count))
    refused: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def client(index: int) -> None:
        url = urls[index % len(urls)]
        http = httpx.AsyncClient(base_url=url, headers=headers, timeout=120, verify=simkit.TLS)
        async with http:
            for number in names:  # shared: each number is taken once
                body = {"name": f"c{number}", "nodes": 1}
                try:
                    answer = await http.post(simkit.INSTANCES, json=body)
                except httpx.HTTPError as error:
                    refused.append(repr(error))
                    continue
                if answer.status_code != httpx.codes.ACCEPTED:
                    refused.append(f"{answer.status_code} {answer.text[:200]}")

    started = time.monotonic()
    await asyncio.gather(*(client(index) for index in range(clients)))
    return Posts(time.monotonic() - started, refused)


def active_instances(database_url: str) -> Iterator[int]:
    """Each ``next`` is the count of ``ACTIVE`` instances, read from the database in a
    read-only transaction of its own (on SQLite one left open would hold back a writer)."""
    engine = make_engine(database_url)
    query = select(func.count()).where(models.Instance.status == models.InstanceStatus.ACTIVE)
    try:
        while True:
            with for_reading(engine).connect() as connection:
                count = int(connection.scalar(query) or 0)
            yield count
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Converge:
    posts: Posts
    seconds: float  # from the first POST until every instance is ACTIVE
    halfway: float  # ... until half of them are
    retries: int  # agent requests answered 5xx or cut, sent again
    failures: list[str]
    passes: float = 0.0  # reconcile passes the server ran (when known)
    server_cpu: float = 0.0  # seconds of CPU the server's processes used (when known)


def converge(
    urls: Sequence[str],
    token: str,
    database_url: str,
    pool: simkit.NodePool,
    count: int,
    clients: int,
    already: int = 0,
) -> Converge:
    """POST ``count`` instances and wait until all are ``ACTIVE``; ``pool`` plays their
    nodes. The database holds ``already`` other instances, all ``ACTIVE``."""
    started = time.monotonic()
    halfway = 0.0
    with contextlib.ExitStack() as stack:
        counts = active_instances(database_url)
        stack.callback(counts.close)
        posting = asyncio.run(post_instances(urls, token, count, clients, already))
        deadline = started + CONVERGE_SECONDS
        while (active := next(counts) - already) < count:
            if active >= count / 2 and not halfway:
                halfway = time.monotonic() - started
            if time.monotonic() > deadline:
                raise AssertionError(f"{active} of {count} ACTIVE after {CONVERGE_SECONDS} s")
            time.sleep(0.1)
    seconds = time.monotonic() - started
    tally = pool.tally()
    return Converge(posting, seconds, halfway or seconds, tally.retries, tally.failures)


# -- one run: the baseline, then the converge ----------------------------------------------


def fresh_database(base_url: str, tmp: Path, name: str) -> str:
    """An empty database: a SQLite file in ``tmp``, or a new PostgreSQL database next to
    the one ``base_url`` names (dropped by :func:`drop_database`)."""
    if not base_url:
        return f"sqlite:///{tmp / name / 'metapaas.db'}"
    engine = make_engine(base_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "bench_{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "bench_{name}"')
    engine.dispose()
    return str(engine.url.set(database=f"bench_{name}").render_as_string(hide_password=False))


def drop_database(base_url: str, url: str) -> None:
    if not base_url:
        return
    engine = make_engine(base_url)
    name = url.rsplit("/", 1)[1]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def baseline(tmp: Path, base_url: str, count: int, clients: int) -> Posts:
    """The same POSTs to `metapaas api` alone: no worker, nothing converges."""
    url = fresh_database(base_url, tmp, "baseline")
    site = tmp / "site"
    plane = simkit.control_plane(tmp / "baseline", url, site, command="api")
    try:
        plane.start()
        return asyncio.run(post_instances([plane.url], plane.token, count, clients))
    finally:
        plane.stop()
        drop_database(base_url, url)


def converge_run(
    tmp: Path, base_url: str, args: argparse.Namespace, profile: Path | None
) -> Converge:
    url = fresh_database(base_url, tmp, "converge")
    plane = simkit.control_plane(tmp / "converge", url, tmp / "site")
    pool: simkit.NodePool | None = None
    spy: plane_stats.Profile | None = None
    try:
        plane.start()
        pool = simkit.NodePool([plane.url], simkit.tokens_dir(plane), args.processes)
        if profile is not None:
            spy = plane_stats.Profile(profile / "converge", plane_stats.generation_pids(plane))
        assert plane.process is not None
        cpu = plane_stats.group_cpu_seconds(plane.process.pid)
        made = converge([plane.url], plane.token, url, pool, args.instances, args.clients)
        cpu = plane_stats.group_cpu_seconds(plane.process.pid) - cpu
        with plane.client() as client:
            text = client.get("/metrics").text
        passes = plane_stats.metric_total(text, "metapaas_reconcile_seconds_count")
        return dataclasses.replace(made, passes=passes, server_cpu=cpu)
    finally:
        if spy is not None:
            spy.stop()
            print("\n".join(["profile of the converge:", *spy.summary()]))
        if pool is not None:
            pool.stop()
        plane.stop()
        drop_database(base_url, url)


def run_line(index: int, base: Posts, run: Converge, count: int) -> Iterator[str]:
    """One run's figures, printed as soon as it ends."""
    yield (
        f"  run {index}: all ACTIVE in {run.seconds:.1f} s ({count / run.seconds:.0f}/s), "
        f"half in {run.halfway:.1f} s; its POSTs answered in {run.posts.seconds:.1f} s; "
        f"baseline POSTs (API alone) {base.seconds:.1f} s ({count / base.seconds:.0f}/s); "
        f"agent retries {run.retries}; refused creates {len(run.posts.refused)} / "
        f"{len(base.refused)} {(run.posts.refused + base.refused)[:2]}; "
        f"agents that stopped {len(run.failures)} {run.failures[:2]}"
    )
    yield (
        f"    reconcile passes: {run.passes:.0f} ({run.passes / count:.1f} per instance, "
        f"{run.passes / run.seconds:.0f}/s); server CPU {run.server_cpu:.0f} s "
        f"({run.server_cpu / run.seconds:.2f} cores, "
        f"{run.server_cpu / max(run.passes, 1) * 1e3:.1f} ms per pass)"
    )


def report(runs: Sequence[tuple[Posts, Converge]], count: int) -> Iterator[str]:
    rates = [count / c.seconds for _, c in runs]
    base_rates = [count / b.seconds for b, _ in runs]
    yield f"{count} instances of one simulated node each, {len(runs)} runs"
    for index, (base, run) in enumerate(runs, 1):
        yield from run_line(index, base, run, count)
    rate, base_rate = statistics.median(rates), statistics.median(base_rates)
    yield f"median converge rate: {rate:.0f} instances/s (goal: >= 200/s)"
    yield f"median baseline (POSTs to the API alone): {base_rate:.0f} instances/s"
    ratio = statistics.median(c.seconds / b.seconds for b, c in runs)
    yield f"ratio converge time / baseline time: {ratio:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32, help="concurrent API clients")
    parser.add_argument("--processes", type=int, default=2, help="simulated-agent processes")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server's database to make the run's databases from; SQLite if unset",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the last run's converge into DIR")
    args = parser.parse_args()
    runs = []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="converge-") as name:
            tmp = Path(name)
            simkit.register_kit(tmp / "site")
            profile = args.profile if index == args.runs - 1 else None
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
            base = baseline(tmp, args.database_url, args.instances, args.clients)
            runs.append((base, converge_run(tmp, args.database_url, args, profile)))
            print("\n".join(run_line(index + 1, *runs[-1], args.instances)), flush=True)
    for line in report(runs, args.instances):
        print(line)
    database = "postgresql" if args.database_url else "sqlite"
    print(f"database: {database}; {args.clients} clients, {args.processes} agent processes")
    print(f"machine: {load.machine()}")
    print(f"command: {simkit.command()}")


if __name__ == "__main__":
    main()
