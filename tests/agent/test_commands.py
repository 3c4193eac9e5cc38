"""Lifecycle commands: journalled before they run, never run twice, bounded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from metapaas.agent.commands import CommandResult, CommandRunner
from metapaas.agent.process import OUTPUT_TAIL_BYTES
from metapaas.agent.render import node_context
from metapaas.sdk import Command

from .helpers import alive, metadata, python

APPEND_A_LINE = python("open('runs.txt', 'a').write('ran\\n'); print('done')")
JOURNAL_SAYS_RUNNING = python(
    "import json, sys; sys.exit(json.load(open(sys.argv[1]))['state'] != 'running')",
    "{{ node.dir }}/agent/commands/c1.json",
)


@pytest.fixture
def context(tmp_path: Path) -> dict[str, Any]:
    return node_context(metadata(), tmp_path)


def test_a_command_id_runs_once_even_across_agent_restarts(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    declared = [Command("init", APPEND_A_LINE)]
    first = CommandRunner(tmp_path).run("c1", "init", declared, context)
    again = CommandRunner(tmp_path).run("c1", "init", declared, context)
    assert first == CommandResult(state="succeeded", exit_code=0, output="done\n")
    assert again == first
    assert (tmp_path / "runs.txt").read_text() == "ran\n"


def test_the_journal_entry_exists_before_the_process_starts(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    result = CommandRunner(tmp_path).run(
        "c1", "init", [Command("init", JOURNAL_SAYS_RUNNING)], context
    )
    assert result.state == "succeeded"
    journal = json.loads((tmp_path / "agent" / "commands" / "c1.json").read_text())
    assert journal == {
        "state": "succeeded",
        "exit_code": 0,
        "output": "",
        "result": None,
        "progress": None,
    }


def test_a_timeout_kills_the_process_group_and_fails_with_no_exit_code(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    spawner = python(
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print(child.pid, flush=True); time.sleep(60)"
    )
    result = CommandRunner(tmp_path).run(
        "c1", "backup", [Command("backup", spawner)], context, timeout=0.5
    )
    assert (result.state, result.exit_code) == ("failed", None)
    assert "timed out after 0.5 s" in result.output
    child = int(result.output.split()[0])
    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.02)
    assert not alive(child)


def test_only_the_last_4_kib_of_output_is_kept(tmp_path: Path, context: dict[str, Any]) -> None:
    chatty = python("print('x' * 10000 + 'END')")
    result = CommandRunner(tmp_path).run("c1", "chat", [Command("chat", chatty)], context)
    assert len(result.output.encode()) <= OUTPUT_TAIL_BYTES
    assert result.output.endswith("xEND\n")


def test_a_run_cut_short_by_an_agent_crash_is_reported_failed_not_rerun(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    journal = tmp_path / "agent" / "commands"
    journal.mkdir(parents=True)
    (journal / "c1.json").write_text(
        json.dumps({"state": "running", "exit_code": None, "output": ""})
    )
    result = CommandRunner(tmp_path).run("c1", "init", [Command("init", APPEND_A_LINE)], context)
    assert result.state == "failed"
    assert "agent stopped while the command ran" in result.output
    assert not (tmp_path / "runs.txt").exists()


@pytest.mark.parametrize(
    ("command_id", "name", "declared", "explained"),
    [
        pytest.param(
            "c1",
            "restore",
            [],
            "declares no command 'restore'",
            id="an undeclared name fails naming it",
        ),
        pytest.param(
            "c1",
            "init",
            [Command("init", ("echo", "{{ instance.spec.colour }}"))],
            "colour",
            id="an argv that cannot render fails naming the key",
        ),
        pytest.param("c1", "init", [Command("init", ("false",))], "", id="a non-zero exit fails"),
        pytest.param(
            "../escape",
            "init",
            [Command("init", APPEND_A_LINE)],
            "invalid command id",
            id="an id unfit for a file name is refused",
        ),
    ],
)
def test_commands_that_cannot_succeed_report_failed(
    tmp_path: Path,
    context: dict[str, Any],
    command_id: str,
    name: str,
    declared: list[Command],
    explained: str,
) -> None:
    result = CommandRunner(tmp_path).run(command_id, name, declared, context)
    assert result.state == "failed"
    assert explained in result.output
    assert not (tmp_path / "runs.txt").exists()


def test_a_long_command_lets_the_agent_tick_as_often_as_a_starting_service_is_probed(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    """An ``init`` waiting for its engine must not hold back the health report: the
    agent's tick (probes, reports) runs every 50 ms during the command, not every 0.5 s."""
    ticks: list[float] = []
    CommandRunner(tmp_path).run(
        "c1",
        "init",
        [Command("init", python("import time; time.sleep(0.6)"))],
        context,
        while_waiting=lambda: ticks.append(time.monotonic()),
    )
    assert len(ticks) >= 4


def test_a_command_gets_its_args_and_its_result_file_is_sent_with_its_result(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    told = python(
        "import json, sys; json.dump({'kind': sys.argv[1]}, open(sys.argv[2], 'w'))",
        "{{ command.args.kind }}",
        "{{ command.result }}",
    )
    runner = CommandRunner(tmp_path)
    result = runner.run("c1", "backup", [Command("backup", told)], context, args={"kind": "full"})
    assert (result.state, result.result) == ("succeeded", {"kind": "full"})
    assert runner.recorded("c1") == result  # journalled with it: a re-report carries it


@pytest.mark.parametrize("written", ["[1, 2]", "{not json", "x" * (5 << 20)])
def test_a_result_file_that_is_no_json_object_fails_the_command(
    tmp_path: Path, context: dict[str, Any], written: str
) -> None:
    (tmp_path / "written.txt").write_text(written)
    write = python(
        "import sys; open(sys.argv[1], 'w').write(open('written.txt').read())",
        "{{ command.result }}",
    )
    result = CommandRunner(tmp_path).run("c1", "backup", [Command("backup", write)], context)
    assert (result.state, result.result) == ("failed", None)
    assert "result file c1.result.json is unusable" in result.output
