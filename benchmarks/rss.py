"""RSS of one control plane serving every bundled type, against one serving a single type.

Both are the real `metapaas server` on an empty embedded SQLite database, started one after
the other, ``--runs`` times. The single-type one sees only ``--type``'s entry point: a
``sitecustomize`` on its ``PYTHONPATH`` filters ``importlib.metadata.entry_points`` for
the ``metapaas.plugins`` group (the other plugins' modules are then never imported, as in
an environment where they are not installed). Its resident memory is the baseline. Each
server's RSS is read from ``/proc`` once it answers, has been asked for its type list and
OpenAPI document (so the per-type routes and models are built) and has run for
``--settle`` seconds; the supervisor and the generation are given apart. Goal (issue 16):
every type <= 1.2x a single type.

    .venv/bin/python benchmarks/rss.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import load
import plane_stats
import simkit

from metapaas.testing import ControlPlane

ONLY_TYPES = "METAPAAS_BENCH_ONLY_TYPES"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SITECUSTOMIZE = f'''"""Written by benchmarks/rss.py: only the plugins named in ${ONLY_TYPES}."""
import importlib.metadata
import os

_ONLY = set(os.environ["{ONLY_TYPES}"].split(","))
_ALL = importlib.metadata.entry_points


def _entry_points(**params):
    found = _ALL(**params)
    if params.get("group") != "metapaas.plugins":
        return found
    return importlib.metadata.EntryPoints(p for p in found if p.name in _ONLY)


importlib.metadata.entry_points = _entry_points
'''


@dataclass(frozen=True)
class Memory:
    types: list[str]
    generation: int  # bytes
    supervisor: int


def measure(home: Path, settle: float, only: str = "") -> Memory:
    """Start a server (with only the type ``only`` when set) and read its RSS."""
    env = {}
    if only:
        site = home.parent / f"only-{only}"
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {"PYTHONPATH": str(site), ONLY_TYPES: only}
    plane = ControlPlane(home, f"sqlite:///{home / 'metapaas.db'}", **env)
    try:
        plane.start()
        assert plane.process is not None
        with plane.client() as client:
            types = client.get("/v1/types/").json()["items"]
            client.get("/openapi.json").raise_for_status()
        time.sleep(settle)
        supervisor = plane.process.pid
        total = plane_stats.group_rss_bytes(supervisor)
        alone = int(Path(f"/proc/{supervisor}/statm").read_text().split()[1]) * PAGE_SIZE
        return Memory(sorted(t["slug"] for t in types), total - alone, alone)
    finally:
        plane.stop()


def report(every: Sequence[Memory], single: Sequence[Memory]) -> Iterator[str]:
    def mib(value: float) -> str:
        return f"{value / 2**20:.1f} MiB"

    all_rss = statistics.median(m.generation for m in every)
    one_rss = statistics.median(m.generation for m in single)
    yield f"control plane RSS (generation process), median of {len(every)} runs:"
    yield f"  every bundled type {every[0].types}: {mib(all_rss)}"
    yield f"  single type {single[0].types} (baseline): {mib(one_rss)}"
    yield f"  ratio: {all_rss / one_rss:.2f}x (goal <= 1.2x)"
    yield f"  each run, every / single: {', '.join(mib(m.generation) for m in every)} / " + (
        ", ".join(mib(m.generation) for m in single)
    )
    yield f"  supervisor process: {mib(statistics.median(m.supervisor for m in every))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--type", default="demo", help="the single type of the baseline")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading RSS")
    args = parser.parse_args()
    every: list[Memory] = []
    single: list[Memory] = []
    with tempfile.TemporaryDirectory(prefix="rss-") as name:
        for run in range(args.runs):
            every.append(measure(Path(name) / f"every-{run}", args.settle))
            single.append(measure(Path(name) / f"single-{run}", args.settle, args.type))
    for line in report(every, single):
        print(line)
    print(f"machine: {load.machine()}")
    print(f"command: {simkit.command()}")


if __name__ == "__main__":
    main()
