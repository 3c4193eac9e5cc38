"""POST → ACTIVE of a one-node redis instance on an SSH host, against the same on `local`.

One control plane (default provider `local`) runs in a network namespace of a
``HostLab`` (the ssh distribution's test hosts) with one host (its own sshd), so both
providers are measured in the same run, alternately: a `local` create, then a
create with the `redis` type pinned to `ssh` (``/v1/placement/pins``), and so
on. The runtime bundle goes to the host when the host monitor first checks it
(before it turns READY): registration → READY is reported apart. Needs root
and `ip netns`.

    .venv/bin/python benchmarks/hosts.py --runs 5
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from metapaas.testing import ControlPlane

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "ssh" / "tests"))
HostLab = importlib.import_module("hostlab").HostLab

BODY = {"memory_mb": 32}
PIN = "/v1/placement/pins/type/redis"


TIMELINE = False


def create_seconds(plane: ControlPlane, api: httpx.Client, name: str) -> float:
    """Seconds from the POST to ACTIVE; the instance is deleted afterwards."""
    started = time.perf_counter()
    created = plane.create_instance(api, "redis", {"name": name, **BODY}, timeout=300)
    elapsed = time.perf_counter() - started
    path = f"/v1/types/redis/instances/{created['id']}"
    if TIMELINE:
        print_timeline(name, api.get(f"{path}/events").json()["items"])
    assert api.delete(path).status_code == 202
    return elapsed


def print_timeline(name: str, events: list[dict[str, str]]) -> None:
    """The instance's events, in seconds after the first."""
    ordered = sorted(events, key=lambda e: e["at"])
    first = datetime.fromisoformat(ordered[0]["at"])
    for event in ordered:
        at = (datetime.fromisoformat(event["at"]) - first).total_seconds()
        print(f"  {name} +{at:5.2f} s {event['kind']}: {event['message'][:80]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeline", action="store_true", help="print each create's events")
    args = parser.parse_args()
    global TIMELINE
    TIMELINE = args.timeline
    with tempfile.TemporaryDirectory() as tmp, HostLab(count=1, prefix="mpbench") as lab:
        (host,) = lab.hosts
        plane = ControlPlane(
            Path(tmp) / "home",
            f"sqlite:///{tmp}/bench.db",
            netns=lab.control_plane_netns,
            address=lab.control_plane_address,
            METAPAAS_SSH_HOST_CHECK_SECONDS="2",
        )
        plane.start()
        try:
            with plane.client() as api:
                registered = api.post(
                    "/v1/hosts",
                    json={
                        "name": host.name,
                        "address": host.address,
                        "private_key": host.private_key,
                        "host_key": host.host_key,
                        "capacity": {"nodes": 4, "memory_mb": 4096},
                    },
                )
                assert registered.status_code == 201, registered.text
                ready_seconds = _wait_ready(api, host.name)
                times: dict[str, list[float]] = {"local": [], "ssh": []}
                for run in range(args.runs):
                    api.delete(PIN)
                    times["local"].append(create_seconds(plane, api, f"l{run}"))
                    api.put(PIN, json={"provider": "ssh"})
                    times["ssh"].append(create_seconds(plane, api, f"s{run}"))
                api.delete(PIN)
                plane.delete_all_instances(120)
        finally:
            plane.stop()
    report(times, ready_seconds, args.runs)


def _wait_ready(api: httpx.Client, name: str) -> float:
    """Seconds from registration to READY (the runtime bundle is built and sent meanwhile)."""
    started = time.monotonic()
    while time.monotonic() < started + 300:
        if api.get(f"/v1/hosts/{name}").json()["state"] == "READY":
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"host {name} did not turn READY")


def report(times: dict[str, list[float]], ready_seconds: float, runs: int) -> None:
    local, ssh = statistics.median(times["local"]), statistics.median(times["ssh"])
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {memory:.0f} GiB,")
    print(f"# CPython {platform.python_version()}, SQLite, one host (network namespace + sshd)")
    print(f"# .venv/bin/python benchmarks/hosts.py --runs {runs}")
    print("| provider | POST → ACTIVE, median | runs | ratio to local |")
    print("|---|---|---|---|")
    print(f"| local | {local:.2f} s | {_runs(times['local'])} | 1.00x |")
    print(f"| ssh   | {ssh:.2f} s | {_runs(times['ssh'])} | {ssh / local:.2f}x |")
    print(f"host registered -> READY (runtime bundle built, sent, unpacked): {ready_seconds:.2f} s")


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
