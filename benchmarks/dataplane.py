"""Data-plane figures: POST → ACTIVE per type against its engine's own start-up, and
metadata propagation.

Runs a real control plane (`metapaas server`, embedded SQLite unless
``METAPAAS_DATABASE_URL`` is set) with the local provider, and prints:

- POST → ACTIVE of a one-node instance of each type in ``--types`` (those
  installed; the reference plugins' default bodies are below), median of
  ``--runs`` creates, polled every 20 ms, against the type's engine floor
  measured in the same run (what a node must do at least):

  - demo: its web service process spawned until it answers;
  - redis: ``redis-server`` spawned until it answers PING;
  - postgres: ``initdb --no-sync`` plus the server's start until ``pg_isready``;
  - s3: ``weed server`` (the plugin's own command line) until its S3 port answers;

  with ``--timeline``, each create's events, in seconds after the POST;
- metadata propagation: PATCH of the message → every node of an N-node
  demo instance serves the new message, median of ``--runs`` changes, for
  each N.

    .venv/bin/python benchmarks/dataplane.py --runs 5 --nodes 1 3 --types demo redis postgres s3

``--tls`` serves the API over HTTPS on loopback, so the agents' channel is what it is
off loopback (nodes of a type with TLS ports get certificates either way).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from metapaas.agent.render import render_argv
from metapaas.testing import ControlPlane, free_port, wait_for

POLL_SECONDS = 0.02
"""How often a create's status is read: finer than any step being measured."""


@contextlib.contextmanager
def spawned(argv: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A process for one baseline run, stopped (and its group killed) afterwards."""
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **kwargs
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def timed_start(argv: list[str], ready: Callable[[], bool], **kwargs: Any) -> float:
    """Seconds from spawning ``argv`` until ``ready()``."""
    started = time.perf_counter()
    with spawned(argv, **kwargs):
        wait_for(ready, 60, f"{argv[0]} to answer", 0.005)
        return time.perf_counter() - started


def demo_start(tmp: Path) -> float:
    """The service's command line as the demo type declares it."""
    from metapaas_demo import Demo

    (tmp / "site.json").write_text(json.dumps({"message": "x", "pages": {}}))
    port = free_port()
    (service,) = Demo().data_plane("web", Demo.versions[0]).services
    ports = {"http": port, "https": free_port()}
    node = {"address": "127.0.0.1", "dir": str(tmp), "ports": ports, "tls": node_tls(tmp)}
    argv = render_argv(service.argv, {"node": node}, where="the demo baseline")
    return timed_start(list(argv), lambda: _answers(f"http://127.0.0.1:{port}/"))


def redis_start(tmp: Path) -> float:
    port = free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    return timed_start([*argv, "--appendonly", "no", "--dir", str(tmp)], lambda: _pongs(port))


def postgres_start(tmp: Path) -> float:
    """``initdb --no-sync`` then the server until it accepts connections (the launcher's
    own initdb options; unprivileged as the node runs it)."""
    from metapaas_postgres import catalog
    from metapaas_postgres.privileges import as_unprivileged

    bindir = Path(next(v for v in catalog.machine_versions() if v.default).engine["bindir"])
    data = tmp / "pgdata"
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    initdb = [str(bindir / "initdb"), f"--pgdata={data}", "--username=postgres", "--auth=trust"]
    server = [str(bindir / "postgres"), "-D", str(data), "-k", str(tmp), "-p", str(port)]
    ready = [str(bindir / "pg_isready"), "-q", "--host=127.0.0.1", f"--port={port}"]
    started = time.perf_counter()
    subprocess.run(
        as_unprivileged([*initdb, "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with spawned(as_unprivileged([*server, "-c", "listen_addresses=127.0.0.1"])):
        wait_for(lambda: subprocess.run(ready).returncode == 0, 60, "postgres", 0.005)
        return time.perf_counter() - started


def s3_start(tmp: Path) -> float:
    """The plugin's own ``weed server`` command line (without its socket-cleaning runner)."""
    from metapaas_s3 import S3

    plane = S3().data_plane("main", S3.versions[0])
    argv = list(plane.services[0].argv)
    weed = argv[argv.index("--") + 1 :]
    ports = {name: free_port() for name in ("s3", "s3_grpc", "master", "master_grpc")}
    ports |= {name: free_port() for name in ("volume", "volume_grpc", "filer", "filer_grpc")}
    files = node_tls(tmp)
    node = {"address": "127.0.0.1", "dir": str(tmp), "ports": ports, "tls": files}
    (tmp / "seaweedfs").mkdir(exist_ok=True)
    (tmp / "data").mkdir(exist_ok=True)
    (tmp / "seaweedfs" / "identities.json").write_text('{"identities": []}')
    rendered = render_argv(weed, {"node": node}, where="the s3 baseline")
    url = f"https://127.0.0.1:{ports['s3']}/"
    answers = functools.partial(_answers, url, status=None, authority=files["authority"])
    try:
        return timed_start(list(rendered), answers, cwd=tmp)
    finally:
        for path in Path("/tmp").glob("seaweedfs-*.sock"):  # noqa: S108 (weed's own)
            if any(path.name.endswith(f"-{port}.sock") for port in ports.values()):
                path.unlink(missing_ok=True)


ENGINE_FLOORS: dict[str, tuple[str, Callable[[Path], float]]] = {
    "demo": ("demo service process start -> first answer", demo_start),
    "redis": ("redis-server start -> PING", redis_start),
    "postgres": ("initdb --no-sync + postgres start -> pg_isready", postgres_start),
    "s3": ("weed server start -> first S3 answer", s3_start),
}


def engine_floor(slug: str, runs: int) -> list[float]:
    _, measure = ENGINE_FLOORS[slug]
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(measure(Path(tmp)))
    return times


def node_tls(tmp: Path) -> dict[str, str]:
    """A certificate for 127.0.0.1 from a CA of its own, written where a node's agent writes
    one; what ``node.tls`` names in a node's templates."""
    from metapaas import sdk, tls
    from metapaas.db.models import utcnow

    authority = tls.Authority.new("benchmark", utcnow())
    issued = authority.issue(["127.0.0.1"], utcnow())
    files = {
        "certificate": (tmp / sdk.TLS_CERTIFICATE, issued.certificate),
        "key": (tmp / sdk.TLS_KEY, issued.key),
        "authority": (tmp / sdk.TLS_AUTHORITY, authority.certificate_pem),
    }
    for path, text in files.values():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return {name: str(path) for name, (path, _) in files.items()}


def _answers(
    url: str, text: str | None = None, status: int | None = 200, authority: str | None = None
) -> bool:
    """Whether ``url`` answers (an https one with a certificate ``authority`` signed)."""
    verify = ssl.create_default_context(cafile=authority) if authority else True
    try:
        response = httpx.get(url, timeout=2, verify=verify)
    except httpx.HTTPError:
        return False
    return status in (None, response.status_code) and (text is None or response.text == text)


def _pongs(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


BODIES: dict[str, dict[str, object]] = {
    "s3": {"version": "0.0.1", "bucket_name": "data", "encryption": "aes256"},
}
"""What a create sends besides its name; a type not listed gets its defaults."""


def post_to_active(client: httpx.Client, slug: str, runs: int, timeline: bool) -> list[float]:
    times = []
    for index in range(runs):
        body = {"name": f"bench-{index}", **BODIES.get(slug, {})}
        posted_at = time.time()
        started = time.perf_counter()
        created = client.post(f"/v1/types/{slug}/instances", json=body)
        assert created.status_code == 202, created.text
        path = f"/v1/types/{slug}/instances/{created.json()['id']}"
        _wait_active(client, path, 180)
        times.append(time.perf_counter() - started)
        if timeline:
            _print_timeline(client, path, posted_at, times[-1])
        _delete(client, path)
    return times


def _wait_active(client: httpx.Client, path: str, timeout: float) -> None:
    wait_for(lambda: _status(client, path) == "ACTIVE", timeout, f"{path} ACTIVE", POLL_SECONDS)


def _status(client: httpx.Client, path: str) -> str:
    status = str(client.get(path).json()["status"])
    if status == "ERROR":
        raise AssertionError(f"{path} went ERROR")
    return status


def _print_timeline(client: httpx.Client, path: str, posted_at: float, took: float) -> None:
    """The events of one create, in seconds after its POST (server and client share a clock)."""
    events = reversed(client.get(f"{path}/events").json()["items"])
    steps = [
        f"{_step(event)} +{datetime.fromisoformat(event['at']).timestamp() - posted_at:.3f}"
        for event in events
    ]
    print(f"  {path.rsplit('/', 1)[1]}: {', '.join(steps)}, ACTIVE seen +{took:.3f}", flush=True)


def _step(event: dict[str, Any]) -> str:
    """An event's kind; a health change also says to what."""
    if event["kind"] == "health_changed":
        return f"health({event['message']})"
    return str(event["kind"])


def propagation(client: httpx.Client, nodes: int, runs: int) -> list[float]:
    created = client.post(
        "/v1/types/demo/instances", json={"name": f"fanout-{nodes}", "replicas": nodes}
    )
    path = f"/v1/types/demo/instances/{created.json()['id']}"
    _wait_active(client, path, 120)
    active = client.get(path).json()
    endpoints = active["endpoints"].items()
    urls = [f"http://{address}/" for name, address in endpoints if name.endswith(".http")]
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


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _summary(times: list[float]) -> str:
    return (
        f"median {_ms(statistics.median(times))} ms "
        f"(min {_ms(min(times))}, max {_ms(max(times))}, n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--types", nargs="+", default=["demo"], choices=sorted(ENGINE_FLOORS))
    parser.add_argument("--timeline", action="store_true", help="print each create's events")
    parser.add_argument(
        "--tls", action="store_true", help="serve the API over HTTPS on loopback, as off it"
    )
    args = parser.parse_args()
    database = os.environ.get("METAPAAS_DATABASE_URL", "")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        url = database or f"sqlite:///{home / 'metapaas.db'}"
        print(
            f"machine: {os.cpu_count()} cores, {memory:.0f} GiB; Python {sys.version.split()[0]};"
        )
        print(f"database: {url.split(':')[0]}; runs: {args.runs}; command: {' '.join(sys.argv)}")
        plane = ControlPlane(home, url, **({"METAPAAS_TLS": "true"} if args.tls else {}))
        plane.start()
        print(f"control plane: {plane.url}")
        try:
            with plane.client() as client:
                installed = {t["slug"] for t in client.get("/v1/types/").json()["items"]}
                for slug in (s for s in args.types if s in installed):
                    floor = engine_floor(slug, args.runs)
                    active = post_to_active(client, slug, args.runs, args.timeline)
                    _report(slug, floor, active)
                for nodes in args.nodes:
                    times = propagation(client, nodes, args.runs)
                    print(
                        f"metadata propagation, PATCH -> all {nodes} node(s) serve it: "
                        f"{_summary(times)}",
                        flush=True,
                    )
        finally:
            plane.stop()
            plane.kill_leftover_agents()  # a failed run's nodes outlive the server


def _report(slug: str, floor: list[float], active: list[float]) -> None:
    what, _ = ENGINE_FLOORS[slug]
    over = statistics.median(active) - statistics.median(floor)
    ratio = statistics.median(active) / statistics.median(floor)
    print(f"{slug}: engine floor, {what}: {_summary(floor)}")
    print(
        f"{slug}: POST -> ACTIVE, one node: {_summary(active)}; "
        f"floor + {_ms(over)} ms, {ratio:.1f}x the floor",
        flush=True,
    )


if __name__ == "__main__":
    main()
