"""Install, upgrade and remove times of a plugin in a running control plane.

Starts a real control plane (`metapaas server`, SQLite unless
``--database-url``), builds two versions of the test plugin ``hello`` with pip
(the second adds a migration), then ``--runs`` times: install version 1,
upgrade to version 2, remove it; each timed from the request's 202 to the
operation's end (install and upgrade: every control-plane process serves the
new version; remove, with ``purge``: no process serves it and its tables are
dropped). The baseline, timed in the same
runs, is one ``pip install --no-deps --target`` of the same wheel: the least
any install costs on this machine, so a busy machine shows as a slow baseline.

    .venv/bin/python benchmarks/plugins.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metapaas.testing import ControlPlane, wait_for
from tests.runtime_plugins import project

PLUGIN = "/v1/plugins/metapaas-hello"
TIMEOUT = 300.0


def timed_change(client: httpx.Client, method: str, body: dict[str, str] | None) -> float:
    """Seconds from the request to the end of its operation (which must succeed)."""
    started = time.perf_counter()
    # A removal drops the tables, so the next run installs version 1 anew.
    url = {"POST": "/v1/plugins", "PATCH": PLUGIN, "DELETE": f"{PLUGIN}?purge=true"}[method]
    answer = client.request(method, url, json=body)
    assert answer.status_code == 202, answer.text
    operation = f"/v1/operations/{answer.json()['operation']['id']}"

    def ended() -> str | None:
        state = client.get(operation).json()["state"]
        return state if state in ("SUCCEEDED", "FAILED") else None

    state = wait_for(ended, TIMEOUT, f"{method} to end", interval=0.05)
    assert state == "SUCCEEDED", client.get(operation).text
    return time.perf_counter() - started


def baseline(wheel: Path) -> float:
    with tempfile.TemporaryDirectory() as target:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel],
            check=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("METAPAAS_DATABASE_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="metapaas-bench-") as scratch:
        root = Path(scratch)
        v1 = project.build_wheel(project.write(root, "1.0.0"))
        v2 = project.build_wheel(
            project.write(root, "2.0.0", template="{{ instance.spec.greeting }}!")
        )
        url = args.database_url or f"sqlite:///{root / 'metapaas.db'}"
        plane = ControlPlane(root / "home", url)
        plane.start()
        figures: dict[str, list[float]] = {
            "install": [],
            "upgrade": [],
            "remove": [],
            "baseline": [],
        }
        try:
            with plane.client() as client:
                for _ in range(args.runs):
                    figures["baseline"].append(baseline(v1))
                    figures["install"].append(timed_change(client, "POST", {"package": str(v1)}))
                    figures["upgrade"].append(timed_change(client, "PATCH", {"package": str(v2)}))
                    figures["remove"].append(timed_change(client, "DELETE", None))
        finally:
            plane.stop()
        report(figures, args, plane.database_url)


def report(figures: dict[str, list[float]], args: argparse.Namespace, url: str) -> None:
    base = statistics.median(figures["baseline"])
    print(f"plugin lifecycle, median of {args.runs} runs (seconds; ratio to the baseline):")
    for name, values in figures.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:9} {median:6.1f} s  {median / base:5.1f}x   runs: {runs}")
    print("baseline: one `pip install --no-deps --target` of the plugin's wheel")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; load average "
        f"{load} at the end; CPython {platform.python_version()}; database "
        f"{url.split(':', 1)[0]}"
    )
    print(f"command: python benchmarks/plugins.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
