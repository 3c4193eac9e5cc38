"""The agent API: what nodes call. A node credential sees and reports only its own node.

Its routes write only the agents' own rows: a node's report (``node_reports``) and a
command's result (``command_results``), with the events they tell of. What the news
means is the orchestrator's judgment (``orchestrator.news``); a route that has news
records the wish for a pass in the work queue, as the API records a request.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, lazyload

from metapaas import metadata, sdk
from metapaas.api import boundary
from metapaas.api.deps import AppState, app_state
from metapaas.api.problems import problem_responses
from metapaas.db import models, upsert
from metapaas.errors import NotFound, Unauthorized
from metapaas.iam import tokens
from metapaas.orchestrator import events, news, queue

# Every route checks a node token against the database.
router = APIRouter(
    prefix="/v1/agent",
    tags=["agent"],
    responses=problem_responses(401, 503),
    dependencies=[Depends(boundary.typed_body)],  # JSON types as the document says
)
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="NodeCredential",
    description="The node credential from /register.",
)
State = Annotated[AppState, Depends(app_state)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
MAX_WAIT = 30.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Registration(Strict):
    bootstrap_token: str = Field(min_length=1, max_length=200)


class ReportedEvent(Strict):
    kind: str = Field(max_length=63)
    message: str = Field(default="", max_length=2000)


class Report(Strict):
    applied_revision: int = Field(ge=0, le=models.INT_MAX)
    applied_generation: int = Field(ge=0, le=models.INT_MAX)
    state: models.AgentState
    health: models.Health
    message: str = Field(default="", max_length=4000)
    events: list[ReportedEvent] = Field(default_factory=list, max_length=50)
    archive: dict[str, Any] | None = Field(
        default=None,
        description="The engine's archive step's last attempt (``sdk.ArchiveStatus``); kept as"
        " sent, judged by the orchestrator: a broken one must not stop the heartbeat.",
    )


class CommandReport(Strict):
    state: models.ResultState
    exit_code: int | None = Field(
        default=None, ge=-255, le=255, description="Negative: killed by that signal."
    )
    output: str = Field(default="", max_length=8192)
    result: dict[str, Any] | None = Field(
        default=None, description="What the command wrote to its result file."
    )
    progress: sdk.StepProgress | None = Field(
        default=None,
        description="How far a running command is, as it wrote to its progress file; a"
        " result without one keeps the last one sent.",
    )


USED_OR_UNKNOWN = "the bootstrap token is unknown, used or expired"
OUTPUT_KEPT = 4096
"""Characters of a command's output kept: its tail, which says how it ended."""


def _reporter(
    session: Session, bearer: HTTPAuthorizationCredentials | None
) -> tuple[models.NodeReport, models.Node]:
    """The report the credential was issued for, and its node; only a report of the node's
    current incarnation counts (one of an earlier incarnation is void, and so is its
    credential)."""
    if bearer is None:
        raise Unauthorized("send the node credential as a bearer token")
    report, node = models.NodeReport, models.Node
    found = session.execute(
        select(report, node)
        .join(node, and_(node.name == report.node_name, node.incarnation == report.incarnation))
        .where(report.credential_hash == tokens.digest(bearer.credentials))
        .options(lazyload(node.reported))  # read here already: no second query for it
    ).one_or_none()
    if found is None:
        raise Unauthorized("the node credential is unknown or revoked")
    reporting, of = found
    return reporting, of


def _instance_first(session: Session, instance_id: str) -> None:
    """Take the instance's key-share lock before writing any row of its nodes, in the order
    a pass takes its locks (the instance first), so a report and a pass never wait on
    each other in a cycle. (The events written here need that lock anyway.)"""
    session.execute(
        select(models.Instance.id)
        .where(models.Instance.id == instance_id)
        .with_for_update(key_share=True)
    )


def _commit(state: AppState, session: Session, instance_id: str, *, wake: bool) -> None:
    """Commit a node's news; when it wakes a pass, record the wish in the work queue first,
    in the same transaction."""
    if wake:
        queue.enqueue(session, instance_id, state.clock())
    session.commit()
    if wake:
        state.wake()


@router.post("/register", summary="Exchange a one-time bootstrap token for a node credential")
def register(state: State, body: Registration) -> dict[str, str]:
    with state.sessions() as session:
        node = session.scalar(
            select(models.Node).where(
                models.Node.bootstrap_hash == tokens.digest(body.bootstrap_token),
                models.Node.bootstrap_hash != "",
            )
        )
        now = state.clock()
        if node is None or node.bootstrap_expires_at is None or node.bootstrap_expires_at < now:
            raise Unauthorized(USED_OR_UNKNOWN)
        _instance_first(session, node.instance_id)
        credential = tokens.new_token()
        if not _start_report(session, node, tokens.digest(credential), now):
            raise Unauthorized(USED_OR_UNKNOWN)
        events.record(
            session,
            node.instance_id,
            "agent_registered",
            f"agent of {node.name} registered",
            node.name,
        )
        name = node.name
        _commit(state, session, node.instance_id, wake=news.registration_wakes(session, node))
    return {"node": name, "credential": credential}


def _start_report(session: Session, node: models.Node, credential_hash: str, now: datetime) -> bool:
    """Start the report of the node's current incarnation with a new credential, in place
    of one of an earlier incarnation; False when this incarnation has registered already.

    One statement, so two registrations with one token never both succeed: a token is
    for one incarnation, and a report of that incarnation means it was exchanged. Every
    column is the new report's: what a registration says, else the column's default.
    """
    report = models.NodeReport
    started = upsert.insert(session, report).values(
        node_name=node.name,
        instance_id=node.instance_id,
        incarnation=node.incarnation,
        credential_hash=credential_hash,
        registered_at=now,
        last_seen_at=now,
        health_since=now,
    )
    replaced = started.on_conflict_do_update(
        index_elements=[report.node_name],
        set_={c.name: started.excluded[c.name] for c in report.__table__.columns},
        where=report.incarnation < started.excluded.incarnation,
    )
    return session.scalar(replaced.returning(report.node_name)) is not None


def _read(state: AppState, bearer: Any, after: int) -> tuple[str, bytes | None]:
    """The node's view, read without waiting for any writer."""
    with state.readers() as session:
        _, node = _reporter(session, bearer)
        authority = state.authority().certificate_pem
        return node.instance_id, metadata.node_view(session, node, after, state.sealer, authority)


@router.get(
    "/metadata",
    summary="The node's metadata when newer than `after`; waits up to `wait` seconds",
    responses={204: {"description": "Nothing newer within the wait"}},
)
async def watch(
    state: State,
    bearer: Bearer,
    after: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = MAX_WAIT,
) -> Any:
    instance_id, view = await run_in_threadpool(_read, state, bearer, after)
    if view is not None:
        return _json(view)
    future = state.notifier.subscribe(instance_id)
    try:
        # Read again after subscribing: a change between the two reads is not lost.
        _, view = await run_in_threadpool(_read, state, bearer, after)
        if view is None:
            try:
                await asyncio.wait_for(asyncio.shield(future), timeout=wait)
            except TimeoutError:
                return Response(status_code=204)
            _, view = await run_in_threadpool(_read, state, bearer, after)
    finally:
        state.notifier.unsubscribe(instance_id, future)
    return _json(view) if view is not None else Response(status_code=204)


def _json(view: bytes) -> Response:
    """The view as encoded: one encoding serves every node of the instance."""
    return Response(view, media_type="application/json")


@router.post("/report", status_code=204, summary="Report applied state and health; a heartbeat")
def report(state: State, bearer: Bearer, body: Report) -> Response:
    with state.sessions() as session:
        report, node = _reporter(session, bearer)
        now = state.clock()
        before = news.Reported.of(report)
        after = news.Reported(
            body.state,
            body.health,
            body.applied_generation,
            body.message,
            news.archive_failing(body.archive),
        )
        if before != after or body.events:
            _instance_first(session, node.instance_id)
        report.last_seen_at = now
        report.applied_revision = body.applied_revision
        report.applied_generation = body.applied_generation
        report.state = body.state
        report.message = body.message
        report.archive = body.archive
        if body.health != report.health:
            events.record(
                session,
                node.instance_id,
                "health_changed",
                f"{report.health} -> {body.health}",
                node.name,
            )
            report.health, report.health_since = body.health, now
        for event in body.events:
            events.record(session, node.instance_id, event.kind, event.message, node.name)
        _commit(state, session, node.instance_id, wake=news.wakes_now(session, node, before, after))
    return Response(status_code=204)


@router.post(
    "/commands/{command_id}",
    status_code=204,
    summary="Report a lifecycle command's progress",
    responses=problem_responses(404),
)
def command_result(state: State, bearer: Bearer, command_id: str, body: CommandReport) -> Response:
    with state.sessions() as session:
        _, node = _reporter(session, bearer)
        command = session.get(models.NodeCommand, command_id)
        if command is None or command.node_name != node.name:
            raise NotFound("command not found")
        if command.state not in models.OPEN_COMMANDS:
            return Response(status_code=204)  # a re-report after an agent restart, or late
        _instance_first(session, node.instance_id)
        moved = news.result_moves(command, body.state)
        if not _record_result(session, command, body, state.clock()):
            return Response(status_code=204)
        if moved:  # a running command's progress is no event
            exit_code = f" exit {body.exit_code}" if body.exit_code is not None else ""
            kind = f"command_{body.state}"
            events.record(session, node.instance_id, kind, command.name + exit_code, node.name)
        _commit(state, session, node.instance_id, wake=moved)
    return Response(status_code=204)


def _record_result(
    session: Session, command: models.NodeCommand, body: CommandReport, now: datetime
) -> bool:
    """Write what the agent reports of ``command``; False when a final result is there
    already. One statement: a result sent twice at once is written once, and a final
    result is never overwritten. A report without progress keeps the progress there."""
    ended = body.state != models.ResultState.RUNNING
    values: dict[str, Any] = {
        "command_id": command.id,
        "state": body.state,
        "exit_code": body.exit_code,
        "output": body.output[-OUTPUT_KEPT:],
        "result": body.result,
        "reported_at": now,
        "finished_at": now if ended else None,
    }
    if body.progress is not None:
        values["progress"] = body.progress.model_dump()
    result = models.CommandResult
    written = upsert.insert(session, result).values(values)
    kept = written.on_conflict_do_update(
        index_elements=[result.command_id],
        set_={column: written.excluded[column] for column in values if column != "command_id"},
        where=result.state == models.ResultState.RUNNING,
    )
    return session.scalar(kept.returning(result.command_id)) is not None
