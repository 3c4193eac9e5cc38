"""``--wait``: follow an operation live until it ends, with the instance's new events."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from metapaas.cli.output import UserError, status_console
from metapaas.client import ApiError, Client, Event, InstanceView, Operation

POLL_SECONDS = 1.0
DONE = ("SUCCEEDED", "FAILED")
SERVING = ("ACTIVE", "DEGRADED")
"""An instance whose operation succeeded: ``DEGRADED`` serves too, its data at risk (a
failing repository or archive, backups late), so a backup must not wait for ``ACTIVE``."""


@dataclass
class Outcome:
    """How a wait ended; ``instance`` is ``None`` once the instance is gone."""

    ok: bool
    instance: InstanceView | None
    message: str = ""


@dataclass
class _Follower:
    api: Client
    slug: str
    instance: InstanceView
    operation: Operation
    seen: set[int] = field(default_factory=set)

    def refresh(self) -> list[Event] | None:
        """Read the operation, the instance and its events again: the events not shown
        yet, or None once the instance is gone (found so by either read of it: a delete
        can end between the two)."""
        self.operation = self.api.operations.get(self.operation.id)
        try:
            self.instance = self.api.instances(self.slug).get(self.instance.id)
            return self._new_events()
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _new_events(self) -> list[Event]:
        """Events since the operation began that were not shown yet, oldest first."""
        events = self.api.instances(self.slug).events(self.instance.id, limit=50).items
        fresh = [
            e
            for e in reversed(events)
            if e.id not in self.seen and e.at >= self.operation.created_at
        ]
        self.seen.update(e.id for e in fresh)
        return fresh

    def view(self, started: float) -> Group:
        i, op = self.instance, self.operation
        line = f"{i.name}: {i.status}  {op.kind} {op.state}"
        if op.progress:
            line += f" ({op.progress})"
        line += f"  {time.monotonic() - started:.0f}s"
        reason = Text(i.status_reason, style="dim") if i.status_reason else Text("")
        return Group(Spinner("dots", text=line), reason)


def follow(api: Client, slug: str, accepted: InstanceView, timeout: float) -> Outcome:
    """Show the operation ``accepted`` started until it ends or ``timeout`` seconds pass.

    Success is the operation ``SUCCEEDED`` with the instance serving (:data:`SERVING`),
    or gone after a delete; a failed operation or an instance in ``ERROR`` ends it early.
    """
    if accepted.operation_id is None:
        raise UserError("the server accepted the request without naming its operation")
    return follow_operation(api, accepted, api.operations.get(accepted.operation_id), timeout)


def follow_operation(
    api: Client, instance: InstanceView, operation: Operation, timeout: float
) -> Outcome:
    """The same for an operation on ``instance`` that another answer named (a backup's)."""
    follower = _Follower(api, instance.type, instance, operation)
    started = time.monotonic()
    deadline = started + timeout
    with Live(follower.view(started), console=status_console, transient=True) as live:
        while True:
            fresh = follower.refresh()
            if fresh is not None:
                for event in fresh:
                    node = f" {event.node}" if event.node else ""
                    live.console.print(f"  {event.at:%H:%M:%S} {event.kind}{node}: {event.message}")
                live.update(follower.view(started))
            outcome = judge(follower.operation, follower.instance if fresh is not None else None)
            if outcome is not None:
                return outcome
            if time.monotonic() >= deadline:
                i = follower.instance
                return Outcome(
                    False,
                    i,
                    f"timed out after {timeout:.0f}s: {i.name} is {i.status} {i.status_reason}",
                )
            time.sleep(POLL_SECONDS)


def judge(op: Operation, instance: InstanceView | None) -> Outcome | None:
    """How a wait for ``op`` ends, or None while it goes on (``instance`` None: gone)."""
    if instance is None:
        return Outcome(True, None)
    if op.state == "FAILED":
        return Outcome(False, instance, f"{op.kind} failed: {op.error or instance.status_reason}")
    if instance.status == "ERROR":
        return Outcome(False, instance, f"{instance.name} is in ERROR: {instance.status_reason}")
    if op.state == "SUCCEEDED" and (op.kind == "delete" or instance.status in SERVING):
        return Outcome(True, None if instance.status == "DELETED" else instance)
    return None
