"""Data-plane figures: POST → ACTIVE per type, and metadata propagation.

Runs a real control plane (`metapaas server`, embedded SQLite unless
``METAPAAS_DATABASE_URL`` is set) with the local provider, and prints:

- POST → ACTIVE of a one-node instance of each type in ``--types`` (those
  installed; the reference plugins' default bodies are below), median of
  ``--runs`` creates, against a baseline measured in the same run: starting
  the demo's web service process directly until it answers (what a node must
  do at least);
- metadata propagation: PATCH of the message → every node of an N-node
  demo instance serves the new message, median of ``--runs`` changes, for
  each N.

    .venv/bin/python benchmarks/dataplane.py --runs 5 --nodes 1 3 --types demo redis postgres s3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from metapaas.testing import ControlPlane, free_port, wait_for


def baseline_process_start(runs: int) -> list[float]:
    """Seconds from spawning the demo service to its first answer."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "site.json"
        config.write_text(json.dumps({"message": "x", "pages": {}}))
        for _ in range(runs):
            port = free_port()
            started = time.perf_counter()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "metapaas_demo.server",
                    "--port",
                    str(port),
                    "--config",
                    str(config),
                ]
            )
            try:
                url = f"http://127.0.0.1:{port}/"
                wait_for(lambda u=url: _answers(u), 30, "baseline", 0.01)
                times.append(time.perf_counter() - started)
            finally:
                process.terminate()
                process.wait(10)
    return times


def _answers(url: str, text: str | None = None) -> bool:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and (text is None or response.text == text)


BODIES: dict[str, dict[str, object]] = {
    "s3": {"version": "0.0.1", "bucket_name": "data", "encryption": "aes256"},
}
"""What a create sends besides its name; a type not listed gets its defaults."""


def post_to_active(plane: ControlPlane, client: httpx.Client, slug: str, runs: int) -> list[float]:
    times = []
    for index in range(runs):
        body = {"name": f"bench-{index}", **BODIES.get(slug, {})}
        started = time.perf_counter()
        created = client.post(f"/v1/types/{slug}/instances", json=body)
        assert created.status_code == 202, created.text
        path = f"/v1/types/{slug}/instances/{created.json()['id']}"
        plane.wait_status(client, path, "ACTIVE", timeout=180)
        times.append(time.perf_counter() - started)
        _delete(client, path)
    return times


def propagation(plane: ControlPlane, client: httpx.Client, nodes: int, runs: int) -> list[float]:
    created = client.post(
        "/v1/types/demo/instances", json={"name": f"fanout-{nodes}", "replicas": nodes}
    )
    path = f"/v1/types/demo/instances/{created.json()['id']}"
    active = plane.wait_status(client, path, "ACTIVE", timeout=120)
    urls = [f"http://{address}/" for address in active["endpoints"].values()]
    times = []
    for index in range(runs):
        message = f"change {index}"
        started = time.perf_counter()
        client.patch(path, json={"message": message})
        wait_for(lambda m=message: all(_answers(url, m) for url in urls), 60, "propagation", 0.005)
        times.append(time.perf_counter() - started)
    _delete(client, path)
    return times


def _delete(client: httpx.Client, path: str) -> None:
    client.delete(path)
    wait_for(lambda: client.get(path).status_code == 404, 60, "delete")


def _summary(times: list[float]) -> str:
    return (
        f"median {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--types", nargs="+", default=["demo"])
    args = parser.parse_args()
    database = os.environ.get("METAPAAS_DATABASE_URL", "")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        url = database or f"sqlite:///{home / 'metapaas.db'}"
        plane = ControlPlane(home, url)
        plane.start()
        try:
            with plane.client() as client:
                installed = {t["slug"] for t in client.get("/v1/types/").json()["items"]}
                baseline = baseline_process_start(args.runs)
                active = {
                    slug: post_to_active(plane, client, slug, args.runs)
                    for slug in args.types
                    if slug in installed
                }
                fanout = {n: propagation(plane, client, n, args.runs) for n in args.nodes}
        finally:
            plane.stop()
    print(f"machine: {os.cpu_count()} cores; database: {url.split(':')[0]}; runs: {args.runs}")
    print(f"baseline, demo service process start to first answer: {_summary(baseline)}")
    for slug, times in active.items():
        ratio = statistics.median(times) / statistics.median(baseline)
        print(f"POST -> ACTIVE, one {slug} node: {_summary(times)}; {ratio:.1f}x the baseline")
    for nodes, times in fanout.items():
        print(f"metadata propagation, PATCH -> all {nodes} node(s) serve it: {_summary(times)}")


if __name__ == "__main__":
    main()
