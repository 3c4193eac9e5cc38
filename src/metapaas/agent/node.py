"""One node's state machine: apply metadata documents, supervise, check, report.

``handle`` applies a document (binaries, templates, services, reloads,
commands); ``tick`` does the periodic work between documents (restarts,
health checks, heartbeats, results the control plane has not heard yet).
Nothing here waits on the network for metadata: the loop in
``metapaas.agent.runner`` feeds documents in.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from metapaas.agent import snapshots
from metapaas.agent.apply import apply_template, reload
from metapaas.agent.client import Event, NodeState, Report
from metapaas.agent.commands import RUNNING, Around, CommandResult, CommandRunner
from metapaas.agent.health import HealthMonitor, monitor_for
from metapaas.agent.plugin import load_declaration
from metapaas.agent.render import certificate_templates, node_context
from metapaas.agent.supervisor import Clock, Supervisor
from metapaas.sdk import (
    ARCHIVE_STATUS,
    VOLUME_DIR,
    DataPlane,
    PaasType,
    PermanentError,
    PluginError,
    StepProgress,
    TemporaryError,
    Version,
)
from metapaas.sdk.introspect import RESTORE_STEP

HEARTBEAT_SECONDS = 4.0
"""Below the contract's 5 s, so a heartbeat is never late by the loop's own tick."""
MAX_PENDING_EVENTS = 100
EVENTS_PER_REPORT = 50
MESSAGE_CHARS = 4000
EVENT_MESSAGE_CHARS = 2000
"""The Agent API's limits on a report; the rest of a long text is cut."""
STARTED_MARKER = "agent/services-started"
"""Written once the node's services first started: a later agent on the node owes reloads."""
APPLY_RETRY_SECONDS = 3.0
"""How soon a failed apply is tried again with the same document: a reload refused
while the engine restarts, or a binary installed meanwhile, heals without a new revision."""

log = logging.getLogger(__name__)


class ControlPlane(Protocol):
    """What the node sends to the control plane (``AgentClient`` in production)."""

    def report(self, report: Report) -> None: ...
    def command_result(self, command_id: str, result: CommandResult) -> None: ...


class Node:
    """Everything the agent does on one node directory."""

    def __init__(
        self,
        node_dir: Path,
        control_plane: ControlPlane,
        *,
        load: Callable[[str], PaasType] = load_declaration,
        clock: Clock = time.monotonic,
    ) -> None:
        self._dir = node_dir
        # The volume's mount point; a provider without volumes leaves a plain directory.
        (node_dir / VOLUME_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._control_plane = control_plane
        self._load = functools.cache(load)
        self._clock = clock
        self._commands = CommandRunner(node_dir, clock)
        self._supervisor: Supervisor | None = None
        self._health: HealthMonitor | None = None
        self._revision = 0
        self._generation = 0
        self._apply_error = ""
        self._document: Mapping[str, Any] | None = None
        self._retry_at: float | None = None
        self._unreloaded: set[str] = set()
        self._handling = False
        self._events: list[Event] = []
        self._unsent_results: dict[str, CommandResult] = {}
        self._last_sent: tuple[object, ...] = ()
        self._next_heartbeat = clock()

    def handle(self, document: Mapping[str, Any]) -> None:
        """Apply one metadata document, run its pending commands, report the outcome."""
        self._document = document
        self._revision = int(document["revision"])
        self._generation = int(document["instance"]["generation"])
        self._handling = True  # a tick from inside a long command must not re-enter
        try:
            self._apply_and_run(document)
        finally:
            self._handling = False
        self._send_report()

    def _apply_and_run(self, document: Mapping[str, Any]) -> None:
        try:
            plane, context = self._apply(document)
        except Exception as exc:  # a plugin's bug is the instance's error, not the agent's end
            self._apply_error = _describe(exc)
            self._retry_at = self._clock() + APPLY_RETRY_SECONDS
            log.error("applying revision %d failed: %s", self._revision, self._apply_error)
        else:
            self._apply_error, self._retry_at = "", None
            self._run_commands(document.get("commands", ()), plane, context)

    def tick(self) -> None:
        """Restart exited services, run due health checks, retry a failed apply or run
        owed reloads, heartbeat, resend results."""
        exits = self._supervisor.tick() if self._supervisor is not None else []
        for message in exits:
            self._add_event("service_exited", message)
        if self._health is not None:
            self._health.tick()
        retry_due = self._retry_at is not None and self._clock() >= self._retry_at
        reload_due = self._retry_at is None and bool(self._unreloaded) and self._serving()
        if (retry_due or reload_due) and self._document is not None and not self._handling:
            self.handle(self._document)
        due = self._clock() >= self._next_heartbeat
        if exits or due or _summary(self._report()) != self._last_sent:
            self._send_report()
        for command_id, result in list(self._unsent_results.items()):
            self._send_command_result(command_id, result)

    def seconds_to_next_check(self) -> float | None:
        """When a health check is next due, so the agent's loop wakes for it."""
        return None if self._health is None else self._health.seconds_to_next_check()

    def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL after its ``stop_timeout``)."""
        if self._supervisor is not None:
            self._supervisor.stop_all()

    def _apply(self, document: Mapping[str, Any]) -> tuple[DataPlane, dict[str, Any]]:
        plane = self._data_plane(document)
        missing = [name for name in plane.required_binaries if shutil.which(name) is None]
        if missing:
            raise PermanentError(f"required binary not found on PATH: {', '.join(missing)}")
        context = node_context(document, self._dir)
        changed = [t for t in plane.templates if apply_template(t, self._dir, context) == "changed"]
        if self._supervisor is None:
            self._restore_first(document.get("commands", ()), plane, context)
            self._start_services(plane, context)
        else:
            self._unreloaded |= {t.dest for t in changed if t.reload}
        reloaded = self._reload_owed(plane, context)
        for template in changed:
            suffix = "; reloaded" if template.dest in reloaded else ""
            self._add_event("config_applied", f"{template.dest} changed{suffix}")
        return plane, context

    def _reload_owed(self, plane: DataPlane, context: Mapping[str, Any]) -> set[str]:
        """Run every owed reload once the services serve; return the files reloaded.
        One that fails stays owed.

        A reload is owed when its file changed under running services, and, after an
        agent restart, for every template: a reload may apply state that no service
        reads at start (a plugin's applier of users or buckets), and a change made
        while the node was down, or a reload that failed before it went down, would
        otherwise never reach the engine.
        """
        done: set[str] = set()
        if not self._serving():
            return done
        for template in plane.templates:
            if template.dest in self._unreloaded:
                reload(template, self._dir, context, while_waiting=self._heartbeat_if_due)
                self._unreloaded.discard(template.dest)
                done.add(template.dest)
        return done

    def _heartbeat_if_due(self) -> None:
        """Keep reporting during a long reload (it reports ``applying``), so a node
        waiting on its engine is never taken for unreachable and replaced."""
        if self._clock() >= self._next_heartbeat:
            self._send_report()

    def _data_plane(self, document: Mapping[str, Any]) -> DataPlane:
        declaration = self._load(document["instance"]["slug"])
        raw = document["version"]
        version = Version(name=raw["name"], engine=raw.get("engine", {}))
        plane = declaration.data_plane(document["node"]["role"], version)
        tls_files = certificate_templates(document, plane.tls_reload)
        return dataclasses.replace(plane, templates=(*tls_files, *plane.templates))

    def _serving(self) -> bool:
        """Whether the services pass their health checks, so a reload can reach them."""
        return self._health is not None and self._health.status == "healthy"

    def _start_services(self, plane: DataPlane, context: Mapping[str, Any]) -> None:
        supervisor = Supervisor(plane.services, self._dir, context, clock=self._clock)
        health = monitor_for(plane.health, self._dir, context, clock=self._clock)
        marker = self._dir / STARTED_MARKER
        if marker.exists():  # this agent restarted: the engine may have missed reloads
            self._unreloaded |= {t.dest for t in plane.templates if t.reload}
        supervisor.ensure_started()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        self._supervisor, self._health = supervisor, health

    def _restore_first(
        self, requests: Sequence[Mapping[str, Any]], plane: DataPlane, context: Mapping[str, Any]
    ) -> None:
        """Run a requested ``restore`` before any service starts: the engine must find its
        volume restored, never empty. One that failed keeps the services down."""
        for request in requests:
            if request["name"] != RESTORE_STEP:
                continue
            result = self._run_command(request, plane, context)
            if result.state == "failed":
                raise PermanentError(f"the restore failed: {_clip(result.output, 1000)}")

    def _run_commands(
        self, requests: Sequence[Mapping[str, Any]], plane: DataPlane, context: Mapping[str, Any]
    ) -> None:
        """Run each requested command not yet journalled; re-report the journalled ones."""
        for request in requests:
            self._run_command(request, plane, context)

    def _run_command(
        self, request: Mapping[str, Any], plane: DataPlane, context: Mapping[str, Any]
    ) -> CommandResult:
        command_id = str(request["id"])
        result = self._commands.recorded(command_id)
        if result is None:
            self._send_command_result(command_id, RUNNING)
            name, args = str(request["name"]), request.get("args") or {}
            declaration = self._load(context["instance"]["slug"])
            around = _kept_volume(name, args, self._dir) or snapshots.around_for(
                declaration, name, args, context.get("backup") or {}
            )
            result = self._commands.run(
                command_id,
                name,
                plane.commands,
                context,
                args=args,
                timeout=request.get("timeout"),
                while_waiting=self.tick,
                on_progress=functools.partial(self._send_progress, command_id),
                around=around,
            )
        self._send_command_result(command_id, result)
        return result

    def _send_progress(self, command_id: str, progress: StepProgress) -> None:
        running = dataclasses.replace(RUNNING, progress=progress.model_dump())
        self._send_command_result(command_id, running)

    def _report(self) -> Report:
        problems = [self._apply_error] if self._apply_error else []
        if self._supervisor is not None:
            problems += self._supervisor.problems()
        applied = self._revision and not self._unreloaded
        state: NodeState = "failed" if problems else "ready" if applied else "applying"
        return Report(
            applied_revision=self._revision,
            applied_generation=self._generation,
            state=state,
            health=self._health.status if self._health is not None else "unknown",
            message=_clip("; ".join(problems), MESSAGE_CHARS),
            events=self._events[:EVENTS_PER_REPORT],
            archive=self._archive_status(),
        )

    def _archive_status(self) -> dict[str, Any] | None:
        """The engine's archive step's own record, sent as it wrote it (the control plane
        validates it); None before its first attempt, or while it rewrites the file."""
        try:
            status = json.loads((self._dir / ARCHIVE_STATUS).read_bytes())
        except (OSError, ValueError):
            return None
        return status if isinstance(status, dict) else None

    def _send_report(self) -> None:
        """Send the node's state and every pending event, ``EVENTS_PER_REPORT`` at a time.

        On failure the events wait for the next heartbeat.
        """
        self._next_heartbeat = self._clock() + HEARTBEAT_SECONDS
        while True:
            report = self._report()
            self._last_sent = _summary(report)
            try:
                self._control_plane.report(report)
            except PluginError as exc:
                log.warning("report not sent: %s", exc)
                return
            del self._events[: len(report["events"])]
            if not self._events:
                return

    def _send_command_result(self, command_id: str, result: CommandResult) -> None:
        """Send now, or keep it for the next tick while the control plane is away."""
        try:
            self._control_plane.command_result(command_id, result)
        except TemporaryError as exc:
            log.warning("result of command %s not sent yet: %s", command_id, exc)
            self._unsent_results[command_id] = result
            return
        except PermanentError as exc:
            log.error("result of command %s refused: %s", command_id, exc)
        self._unsent_results.pop(command_id, None)

    def _add_event(self, kind: str, message: str) -> None:
        self._events.append(Event(kind=kind, message=_clip(message, EVENT_MESSAGE_CHARS)))
        del self._events[:-MAX_PENDING_EVENTS]


def _describe(error: Exception) -> str:
    """Our own errors read as sentences; anything else also names its type."""
    if isinstance(error, PluginError | OSError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters; the start, which names the problem, is kept."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(report: Report) -> tuple[object, ...]:
    """What, when it changes, is worth a report before the next heartbeat is due."""
    return (
        report["applied_revision"],
        report["state"],
        report["health"],
        report["message"],
        report["archive"],
    )


def _kept_volume(name: str, args: Mapping[str, Any], node_dir: Path) -> Around | None:
    """For a ``restore`` asked only if the node's volume came empty (``if_empty``: its node
    was replaced where its old volume may not be), the run that restores nothing when
    the volume kept its data; None otherwise."""
    volume = node_dir / VOLUME_DIR
    if name != RESTORE_STEP or not args.get("if_empty"):
        return None
    if not volume.is_dir() or not any(volume.iterdir()):
        return None
    kept = f"{volume} kept its data: nothing restored"
    return lambda _execute, _staging, _progress: CommandResult("succeeded", output=kept)
