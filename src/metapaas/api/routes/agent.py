"""The agent API: what nodes call. A node credential sees and reports only its own node."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import metadata
from metapaas.api.deps import AppState, app_state
from metapaas.api.problems import problem_responses
from metapaas.db import models
from metapaas.errors import NotFound, Unauthorized
from metapaas.iam import tokens
from metapaas.orchestrator import events, news_may_wait, queue

# Every route checks a node token against the database.
router = APIRouter(prefix="/v1/agent", tags=["agent"], responses=problem_responses(401, 503))
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
    state: Literal["applying", "ready", "failed"]
    health: Literal["unknown", "healthy", "unhealthy"]
    message: str = Field(default="", max_length=4000)
    events: list[ReportedEvent] = Field(default_factory=list, max_length=50)


class CommandReport(Strict):
    state: Literal["running", "succeeded", "failed"]
    exit_code: int | None = Field(
        default=None, ge=-255, le=255, description="Negative: killed by that signal."
    )
    output: str = Field(default="", max_length=8192)


def _node(session: Session, bearer: HTTPAuthorizationCredentials | None) -> models.Node:
    if bearer is None:
        raise Unauthorized("send the node credential as a bearer token")
    node = session.scalar(
        select(models.Node).where(
            models.Node.credential_hash == tokens.digest(bearer.credentials),
            models.Node.credential_hash != "",
        )
    )
    if node is None:
        raise Unauthorized("the node credential is unknown or revoked")
    return node


def _wake(state: AppState, session: Session, instance_id: str) -> None:
    queue.enqueue(session, instance_id, state.clock())
    session.commit()
    state.wake()


def _tell(state: AppState, session: Session, node: models.Node, *, setback: bool) -> None:
    """Commit a node's news and wake the orchestrator, unless it is progress that its
    instance's next pass takes up anyway (``news_may_wait``)."""
    if not setback and news_may_wait(session, node):
        session.commit()
    else:
        _wake(state, session, node.instance_id)


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
            raise Unauthorized("the bootstrap token is unknown, used or expired")
        credential = tokens.new_token()
        node.credential_hash = tokens.digest(credential)
        node.bootstrap_hash = ""
        node.registered_at = node.last_seen_at = now
        events.record(
            session,
            node.instance_id,
            "agent_registered",
            f"agent of {node.name} registered",
            node.name,
        )
        name = node.name
        _tell(state, session, node, setback=False)
    return {"node": name, "credential": credential}


def _read(state: AppState, bearer: Any, after: int) -> tuple[str, bytes | None]:
    """The node's view, read without waiting for any writer."""
    with state.readers() as session:
        node = _node(session, bearer)
        return node.instance_id, metadata.node_view(session, node, after)


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
        node = _node(session, bearer)
        now = state.clock()
        before = (node.agent_state, node.health, node.applied_generation, node.message)
        node.last_seen_at = now
        node.applied_revision = body.applied_revision
        node.applied_generation = body.applied_generation
        node.agent_state = body.state
        node.message = body.message
        if body.health == "unhealthy" and node.unhealthy_since is None:
            node.unhealthy_since = now
        elif body.health != "unhealthy":
            node.unhealthy_since = None
        node.health = body.health
        for event in body.events:
            events.record(session, node.instance_id, event.kind, event.message, node.name)
        if before[1] != body.health:
            events.record(
                session,
                node.instance_id,
                "health_changed",
                f"{before[1]} -> {body.health}",
                node.name,
            )
        if before != (body.state, body.health, body.applied_generation, body.message):
            _tell(state, session, node, setback=_setback(before[1], before[2], body))
        else:
            session.commit()
    return Response(status_code=204)


def _setback(health: str, applied_generation: int, body: Report) -> bool:
    """Whether a report takes its node further from serving: it failed, turned unhealthy,
    stopped being healthy, or went back a generation (a reset)."""
    return (
        body.state == "failed"
        or body.health == "unhealthy"
        or (health == "healthy" and body.health != "healthy")
        or body.applied_generation < applied_generation
    )


@router.post(
    "/commands/{command_id}",
    status_code=204,
    summary="Report a lifecycle command's progress",
    responses=problem_responses(404),
)
def command_result(state: State, bearer: Bearer, command_id: str, body: CommandReport) -> Response:
    with state.sessions() as session:
        node = _node(session, bearer)
        command = session.get(models.NodeCommand, command_id)
        if command is None or command.node_name != node.name:
            raise NotFound("command not found")
        if command.state in (
            models.CommandState.SUCCEEDED,
            models.CommandState.FAILED,
            models.CommandState.TIMED_OUT,
        ):
            return Response(status_code=204)  # a re-report after an agent restart
        command.state = body.state
        command.exit_code = body.exit_code
        command.output = body.output[-4096:]
        if body.state != "running":
            command.finished_at = state.clock()
        events.record(
            session,
            node.instance_id,
            f"command_{body.state}",
            f"{command.name}" + (f" exit {body.exit_code}" if body.exit_code is not None else ""),
            node.name,
        )
        _wake(state, session, node.instance_id)
    return Response(status_code=204)
