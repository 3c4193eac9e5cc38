"""API figures: the product's instance routes against a bare FastAPI + SQLAlchemy app.

Starts a real control plane's API (`metapaas api`: the supervisor, a generation,
uvicorn; no orchestrator, so the instances created here are only queued and no
node process competes for the two cores), inserts ``--instances`` demo instances
straight into its database through the product's models, then starts the bare
app of this file (``--serve-bare``) on the same database: the same uvicorn, the
same request threads and connection pool (read from the same ``METAPAAS_*``
settings), the same engine (:func:`metapaas.db.make_engine`), and the same token
check (the SHA-256 of the bearer token looked up with its user). Each bare route
does the single-row work of its product twin and nothing else: no audit entry,
no operation, no queue entry, no response model.

For each operation (create, get one, list a page of 100, the list filtered by
status), ``--clients`` closed-loop clients (asyncio + httpx, one connection
each; :func:`load.drive`) run ``--duration`` seconds against the product, then
against the bare app, ``--runs`` times. Prints the median req/s, p50 and p99 of
each and the product's overhead (bare req/s over product req/s, product p50 and
p99 over bare ones), then how it ran.

    .venv/bin/python benchmarks/api.py
    .venv/bin/python benchmarks/api.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1/metapaas_bench_api
    .venv/bin/python benchmarks/api.py --profile /tmp/api-profiles

A PostgreSQL database named by ``--database-url`` is created by the script and
dropped at the end (it must not exist). ``--profile DIR`` runs
``py-spy record`` on the product's serving process during an extra run of each
operation before the measured ones and writes DIR/<operation>.txt (collapsed stacks,
one line per stack with
its sample count).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import httpx
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
from load import Client, Figures, World, cpu_seconds, drive, machine

from metapaas.config import Settings
from metapaas.db import make_engine, make_sessionmaker, models
from metapaas.testing import ControlPlane, wait_for

PRODUCT = "/v1/types/demo/instances"
BARE = "/bare/instances"
FILTER = "status=ERROR"
ERROR_EVERY = 10
"""Every tenth seeded instance is in ERROR: the filtered list selects a tenth of them."""
NAMES = itertools.count()
"""Names of created instances, unique over the whole run (both apps write one table)."""


# -- the bare app -----------------------------------------------------------------------

Authorization = Annotated[str, Header()]


class CreateBody(BaseModel):
    name: str
    message: str = "hello from metapaas"


def bare_app(settings: Settings) -> FastAPI:
    """What a hand-written FastAPI + SQLAlchemy service would do: one dependency for the
    token, one handler per route, each on a request thread as the product's are."""
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        wait=settings.db_wait_seconds,
    )
    sessions = make_sessionmaker(engine)
    readers = make_sessionmaker(engine, read_only=True)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        yield

    app = FastAPI(lifespan=lifespan)

    def caller(session: Session, authorization: str) -> tuple[models.ApiToken, models.User]:
        bearer = authorization.removeprefix("Bearer ")
        found = session.execute(
            select(models.ApiToken, models.User)
            .join(models.User, models.User.id == models.ApiToken.user_id)
            .where(models.ApiToken.token_hash == hashlib.sha256(bearer.encode()).hexdigest())
        ).first()
        if found is None or found[0].revoked_at is not None:
            raise HTTPException(401)
        return found[0], found[1]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(BARE, status_code=201)
    def create(body: CreateBody, authorization: Authorization) -> dict[str, Any]:
        with sessions.begin() as session:
            token, user = caller(session, authorization)
            instance = models.Instance(
                type_slug="demo",
                project_id=token.project_id or user.default_project_id,
                name=body.name,
                version="1.0",
                spec={"message": body.message, "replicas": 1},
                created_by=user.id,
            )
            session.add(instance)
            session.flush()
            return view(instance)

    @app.get(f"{BARE}/{{ref}}")
    def get(ref: str, authorization: Authorization) -> dict[str, Any]:
        with readers() as session:
            caller(session, authorization)
            instance = session.scalar(live().where(models.Instance.id == ref))
            if instance is None:
                raise HTTPException(404)
            return view(instance)

    @app.get(BARE)
    def list_(
        authorization: Authorization, limit: int = 100, status: str | None = None
    ) -> dict[str, Any]:
        with readers() as session:
            caller(session, authorization)
            stmt = live()
            if status is not None:
                stmt = stmt.where(models.Instance.status == status)
            rows = session.scalars(
                stmt.order_by(models.Instance.created_at, models.Instance.id).limit(limit)
            )
            return {"items": [view(i) for i in rows]}

    return app


def live() -> Any:
    return select(models.Instance).where(
        models.Instance.type_slug == "demo", models.Instance.deleted_at.is_(None)
    )


def view(instance: models.Instance) -> dict[str, Any]:
    columns = ("id", "name", "project_id", "version", "status", "generation", "spec")
    return {c: getattr(instance, c) for c in columns} | {
        "created_at": instance.created_at.isoformat()
    }


def serve_bare(port: int) -> None:
    """Serve the bare app as the product's generation serves its own (see
    :mod:`metapaas.serving.generation`): uvicorn's defaults, its access log, keep-alive."""
    config = uvicorn.Config(
        bare_app(Settings()), host="127.0.0.1", port=port, log_level="info", timeout_keep_alive=30
    )
    uvicorn.Server(config).run()


class BareApp(ControlPlane):
    """The bare app as a subprocess, started and stopped like the control plane."""

    def start(self) -> None:
        env = {**os.environ, "METAPAAS_DATABASE_URL": self.database_url, **self.extra_env}
        log = (self.home / "bare.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-bare", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._healthy, 60, "the bare app to answer /healthz")


# -- the database -----------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(url: str) -> Iterator[None]:
    """Create the database ``url`` names for the run, and drop it after."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, count: int) -> list[str]:
    """``count`` demo instances in the admin's default project, in one transaction through
    the product's models; returns their ids. Their creation times are a second apart."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            admin = session.scalars(select(models.User).where(models.User.is_admin)).one()
            start = models.utcnow() - timedelta(seconds=count)
            rows = [
                {
                    "id": models.new_id(),
                    "type_slug": "demo",
                    "project_id": admin.default_project_id,
                    "name": f"seed-{index}",
                    "version": "1.0",
                    "spec": {"message": "hello from metapaas", "replicas": 1},
                    "status": "ERROR" if index % ERROR_EVERY == 0 else "ACTIVE",
                    "created_by": admin.id,
                    "created_at": start + timedelta(seconds=index),
                    "updated_at": start + timedelta(seconds=index),
                }
                for index in range(count)
            ]
            session.execute(insert(models.Instance), rows)
        return [str(row["id"]) for row in rows]
    finally:
        engine.dispose()


# -- the operations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    request: Callable[[Client, str], Awaitable[httpx.Response]]
    """Sends one request to the app whose instances live under the given path."""


def _create(client: Client, base: str) -> Awaitable[httpx.Response]:
    return client.http.post(base, json={"name": f"bench-{next(NAMES)}"})


def _get(client: Client, base: str) -> Awaitable[httpx.Response]:
    return client.http.get(f"{base}/{client.rng.choice(client.world.instance_paths)}")


def _list(client: Client, base: str) -> Awaitable[httpx.Response]:
    return client.http.get(f"{base}?limit=100")


def _filtered(client: Client, base: str) -> Awaitable[httpx.Response]:
    return client.http.get(f"{base}?limit=100&{FILTER}")


OPERATIONS = {
    op.name: op
    for op in (
        Operation("create", "create an instance", _create),
        Operation("get", "get one instance", _get),
        Operation("list", "list a page of 100", _list),
        Operation("filtered", f"list a page of 100 filtered ({FILTER})", _filtered),
    )
}


@dataclass
class Result:
    operation: Operation
    product: list[Figures] = field(default_factory=list)
    bare: list[Figures] = field(default_factory=list)


def measure(
    app: ControlPlane,
    pid: int,
    base: str,
    ids: list[str],
    op: Operation,
    clients: int,
    seconds: float,
) -> Figures:
    """One stretch of ``op``; the CPU is that of ``pid``, the process serving ``app``."""

    def choose(client: Client) -> Awaitable[httpx.Response]:
        return op.request(client, base)

    cpu = cpu_seconds(pid)
    figures = asyncio.run(drive(app, World(ids), clients, seconds, choose))
    figures = dataclasses.replace(figures, server_cpu=cpu_seconds(pid) - cpu)
    failed = figures.server_errors + figures.hung
    if failed:
        print(f"  {op.name} on {base}: {failed} failed or unanswered requests", file=sys.stderr)
    return figures


def check(app: ControlPlane, base: str, ids: list[str]) -> None:
    """Both apps answer every operation, and a list page holds 100 instances."""
    with app.client() as http:
        created = http.post(base, json={"name": f"bench-{next(NAMES)}"})
        assert created.is_success, created.text
        assert http.get(f"{base}/{ids[0]}").json()["id"] == ids[0]
        for query in ("limit=100", f"limit=100&{FILTER}"):
            assert len(http.get(f"{base}?{query}").json()["items"]) == 100


def serving_pid(plane: ControlPlane) -> int:
    """The generation's pid: the supervisor's only child."""
    assert plane.process is not None
    pid = plane.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0])


@contextlib.contextmanager
def profiling(pid: int, seconds: float, output: Path) -> Iterator[None]:
    """py-spy on ``pid`` for ``seconds``, as collapsed stacks, at a modest rate: it stops
    the process at every sample (its stacks are exact; its figures are not kept)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "50"]
    raw = subprocess.Popen([*argv, "--format", "raw", "--output", f"{output}.txt"])
    try:
        yield
    finally:
        raw.wait()


def run(args: argparse.Namespace, home: Path, url: str) -> tuple[list[Result], str]:
    settings = {"METAPAAS_RESYNC_SECONDS": "10"}
    plane = ControlPlane(home, url, command="api", **settings)
    bare = BareApp(home, url, **settings)
    plane.start()
    try:
        started = time.monotonic()
        ids = seed(url, args.instances)
        seeded = f"{args.instances} instances seeded in {time.monotonic() - started:.1f} s"
        bare.token = plane.token
        bare.start()
        results = [Result(OPERATIONS[name]) for name in args.operations]
        assert bare.process is not None
        check(plane, PRODUCT, ids)
        check(bare, BARE, ids)
        served, bare_pid = serving_pid(plane), bare.process.pid
        products = (plane, served, PRODUCT, ids)
        bares = (bare, bare_pid, BARE, ids)
        if args.profile:  # a run of its own: the figures are taken without py-spy
            for result in results:
                with profiling(served, args.duration, args.profile / result.operation.name):
                    measure(*products, result.operation, args.clients, args.duration)
        for _ in range(args.runs):
            for result in results:
                op = result.operation
                result.product.append(measure(*products, op, args.clients, args.duration))
                result.bare.append(measure(*bares, op, args.clients, args.duration))
        return results, seeded
    finally:
        bare.stop()
        plane.stop()


# -- reporting --------------------------------------------------------------------------


def _median(figures: Sequence[Figures], attribute: str) -> float:
    return statistics.median(getattr(f, attribute) for f in figures)


def report(result: Result) -> str:
    def line(what: str, figures: Sequence[Figures]) -> str:
        rate, p50, p99 = (_median(figures, a) for a in ("rate", "p50", "p99"))
        cpu = _median(figures, "cpu_per_request")
        return (
            f"  {what}: {rate:6.0f} req/s  p50 {p50 * 1e3:6.1f} ms  p99 {p99 * 1e3:7.1f} ms"
            f"  server CPU {cpu * 1e3:5.2f} ms/request"
        )

    product, bare = result.product, result.bare
    rate = _median(bare, "rate") / _median(product, "rate")
    p50 = _median(product, "p50") / _median(bare, "p50")
    p99 = _median(product, "p99") / _median(bare, "p99")
    cpu = _median(product, "cpu_per_request") / _median(bare, "cpu_per_request")
    runs = ", ".join(f"{p.rate / b.rate:.2f}" for p, b in zip(product, bare, strict=True))
    return "\n".join(
        (
            f"{result.operation.title} (median of {len(product)} runs):",
            line("product", product),
            line("bare   ", bare),
            f"  overhead: req/s {rate:.2f}x  p50 {p50:.2f}x  p99 {p99:.2f}x  CPU {cpu:.2f}x"
            f"  (product/bare req/s per run: {runs})",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument(
        "--operations", nargs="+", choices=list(OPERATIONS), default=list(OPERATIONS)
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles here")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        url = args.database_url or f"sqlite:///{home / 'metapaas.db'}"
        postgres = url.startswith("postgresql")
        with postgres_database(url) if postgres else contextlib.nullcontext():
            results, seeded = run(args, home, url)
    for result in results:
        print(report(result))
    print(f"database: {url.split(':')[0]}; {seeded}; {args.clients} clients")
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
