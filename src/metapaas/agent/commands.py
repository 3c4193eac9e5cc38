"""Run lifecycle commands at most once per id, with an on-disk journal.

The journal entry is written *before* the process starts, so an agent that
crashes mid-command finds the id on restart and never runs it a second time:
it reports that run as failed instead. A finished id returns its recorded
result, which the agent re-reports until the control plane stops asking.

A command that has something to tell (a backup's manifest) writes it as a JSON
object to ``{{ command.result }}``; the agent journals it with the exit code
and sends it with the result. One that runs long may say how far it is in
``{{ command.progress }}`` (``sdk.StepProgress``), which the agent reads while it
runs (:mod:`metapaas.agent.progress`). Each command has an empty directory of its
own, ``{{ backup.staging }}``, removed once it ends: where a snapshot's files wait
between the type's step and the agent's own work around it (:data:`Around`).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from metapaas import sdk
from metapaas.agent import process
from metapaas.agent.progress import ProgressWatch
from metapaas.agent.render import RenderError, render_argv, render_env
from metapaas.agent.supervisor import Clock
from metapaas.sdk import Command

CommandState = Literal["running", "succeeded", "failed"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_INTERRUPTED = "the agent stopped while the command ran; it is not run again"
RESULT_BYTES = 4 << 20
"""The most of a result file sent: a manifest of a few thousand objects fits."""


@dataclass(frozen=True)
class CommandResult:
    """A command's state as journalled and as sent to ``POST /v1/agent/commands/<id>``."""

    state: CommandState
    exit_code: int | None = None
    output: str = ""
    result: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    """How far a running command is (``sdk.StepProgress``), sent with ``running``."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


RUNNING = CommandResult(state="running")

Execute = Callable[[], CommandResult]
"""Runs the declared command once and returns its result (its result file read)."""
Progress = Callable[[sdk.StepProgress], None]
"""Tells how far the command is, as its step would in ``{{ command.progress }}``."""
Around = Callable[[Execute, Path, Progress], CommandResult]
"""The agent's own work around a command (``metapaas.agent.snapshots``): given the
command's run, its empty staging directory and where to tell how far it is, the
command's result. It may run the command or not; it is journalled as one, so it too
runs at most once."""


class CommandRunner:
    """Lifecycle commands of one node; the journal lives in ``<dir>/agent/commands/``."""

    def __init__(self, node_dir: Path, clock: Clock = time.monotonic) -> None:
        self._node_dir = node_dir
        self._journal = node_dir / "agent" / "commands"
        self._clock = clock

    def recorded(self, command_id: str) -> CommandResult | None:
        """The journalled result of ``command_id``, or None when it never started.

        A ``running`` entry can only be left by an agent that died mid-run
        (``run`` returns after the command ends), so it reads as failed. An id
        unfit for a file name is answered as failed without touching the disk.
        """
        if not _SAFE_ID.match(command_id):
            return CommandResult(state="failed", output=f"invalid command id {command_id!r}")
        path = self._entry(command_id)
        if not path.exists():
            return None
        result = CommandResult(**json.loads(path.read_text(encoding="utf-8")))
        if result.state == "running":
            result = CommandResult(state="failed", output=_INTERRUPTED)
            self._write(command_id, result)
        return result

    def run(
        self,
        command_id: str,
        name: str,
        declared: Sequence[Command],
        context: Mapping[str, Any],
        *,
        args: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        while_waiting: Callable[[], None] | None = None,
        on_progress: Progress | None = None,
        around: Around | None = None,
    ) -> CommandResult:
        """Run the declared command called ``name`` once for ``command_id``.

        ``args`` (from the metadata) are ``{{ command.args }}`` to its argv and
        environment; ``timeout`` (from the metadata) overrides the declared one when given.
        ``while_waiting`` is called while it runs, and then ``on_progress`` with what
        its progress file newly says. ``around``, when given, is run instead, with the
        command's run to call.
        """
        previous = self.recorded(command_id)
        if previous is not None:
            return previous
        self._write(command_id, RUNNING)
        result_file = self._fresh_file(command_id, "result")
        progress_file = self._fresh_file(command_id, "progress")
        watch = ProgressWatch(progress_file, self._clock, while_waiting, on_progress)
        staging = self._fresh_staging(command_id)
        own = {
            "id": command_id,
            "args": dict(args or {}),
            "result": str(result_file),
            "progress": str(progress_file),
        }
        backup = {**context.get("backup", {}), "staging": str(staging)}
        full = {**context, "command": own, "backup": backup}

        def execute() -> CommandResult:
            result = self._execute(name, declared, full, timeout, watch.poll)
            return _with_result_file(result, result_file) if result.state == "succeeded" else result

        try:
            result = execute() if around is None else around(execute, staging, watch.tell)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._write(command_id, result)
        return result

    def _fresh_file(self, command_id: str, kind: str) -> Path:
        """Where the command writes its ``kind`` file, with none there yet."""
        path = self._journal / f"{command_id}.{kind}.json"
        path.unlink(missing_ok=True)
        return path

    def _fresh_staging(self, command_id: str) -> Path:
        """The command's staging directory, empty (what a crashed run left is gone)."""
        staging = self._journal / f"{command_id}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700, parents=True)
        return staging

    def _execute(
        self,
        name: str,
        declared: Sequence[Command],
        context: Mapping[str, Any],
        timeout: float | None,
        while_waiting: Callable[[], None],
    ) -> CommandResult:
        command = next((c for c in declared if c.name == name), None)
        if command is None:
            return CommandResult(state="failed", output=f"the plugin declares no command {name!r}")
        try:
            argv = render_argv(command.argv, context, where=f"command {name}")
            env = render_env(command.env, context, where=f"command {name}")
        except RenderError as exc:
            return CommandResult(state="failed", output=str(exc))
        outcome = process.run(
            argv,
            cwd=self._node_dir,
            timeout=command.timeout if timeout is None else timeout,
            env=env,
            while_waiting=while_waiting,
        )
        state: CommandState = "succeeded" if outcome.ok else "failed"
        return CommandResult(state=state, exit_code=outcome.exit_code, output=outcome.output)

    def _entry(self, command_id: str) -> Path:
        return self._journal / f"{command_id}.json"

    def _write(self, command_id: str, result: CommandResult) -> None:
        data = json.dumps(result.as_json()).encode()
        sdk.write_private(self._entry(command_id), data)


def _with_result_file(result: CommandResult, path: Path) -> CommandResult:
    """``result`` with what the command wrote to its result file; one that did not say
    what it was asked to say has failed."""
    if not path.exists():
        return result
    try:
        with path.open("rb") as file:
            data = file.read(RESULT_BYTES + 1)
        if len(data) > RESULT_BYTES:
            raise ValueError(f"it is over {RESULT_BYTES} bytes")
        told = json.loads(data)
        if not isinstance(told, dict):
            raise ValueError("it is not a JSON object")
    except (OSError, ValueError) as exc:
        note = f"\n[its result file {path.name} is unusable: {exc}]"
        return CommandResult("failed", result.exit_code, result.output + note)
    return CommandResult(result.state, result.exit_code, result.output, told)
