"""The local provider: nodes as process trees on this machine, on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from metapaas.providers import INSTANCE, LocalProvider, _ports
from metapaas.providers._procs import alive, stat
from metapaas.sdk import PermanentError, TemporaryError
from tests.providers.conftest import (
    SLEEPER,
    TREE_DETACHED_STUBBORN,
    TREE_IN_GROUP,
    MakeProvider,
    recorded,
    script_argv,
    spec,
    wait_for,
)


def start_time(pid: int) -> int:
    found = stat(pid)
    assert found is not None, f"no process {pid}"
    return found.start_time


def test_create_starts_an_agent_in_its_own_directory(make_local: MakeProvider, home: Path) -> None:
    info = make_local().create_node(replace(spec("n-0"), bootstrap_token="secret-token"))

    node_dir = home / "nodes" / "n-0"
    assert info.running
    assert info.address == "127.0.0.1"
    assert set(info.ports) == {"http"}
    assert (node_dir / "bootstrap.token").read_text() == "secret-token"
    assert (node_dir / "bootstrap.token").stat().st_mode & 0o777 == 0o600
    assert "secret-token" not in (node_dir / "node.json").read_text()
    assert (node_dir / "logs" / "agent.log").exists()


def test_create_is_idempotent(make_local: MakeProvider, home: Path) -> None:
    provider = make_local()
    first = provider.create_node(spec("n-0"))
    pid = recorded(home, "n-0")["pid"]

    second = provider.create_node(replace(spec("n-0"), bootstrap_token="another"))

    assert second == first
    assert recorded(home, "n-0")["pid"] == pid


def test_concurrent_creates_of_one_name_start_one_agent(
    make_local: MakeProvider, home: Path
) -> None:
    providers = [make_local() for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(lambda p: p.create_node(spec("n-0")), providers))

    assert all(info == infos[0] for info in infos)
    assert processes_in(home / "nodes" / "n-0") == [recorded(home, "n-0")["pid"]]


def processes_in(directory: Path) -> list[int]:
    """Living processes working in ``directory``: the agents started for one node."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:  # gone, or not ours to look at
            continue
        proc = stat(int(entry))
        if cwd == str(directory) and proc is not None and proc.alive:
            found.append(int(entry))
    return found


def test_ports_are_distinct_and_never_a_ports_standard_number(make_local: MakeProvider) -> None:
    provider = make_local()
    wanted = {"a": 5432, "b": 6379, "c": 8333}
    infos = [provider.create_node(spec(f"n-{i}", ports=wanted)) for i in range(4)]

    ports = [port for info in infos for port in info.ports.values()]
    assert len(set(ports)) == len(ports)
    assert all(set(info.ports) == set(wanted) for info in infos)
    assert not set(ports) & set(wanted.values())


def test_a_standard_number_the_kernel_would_pick_is_passed_by(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picks = iter([8333, 8333, 40001])
    monkeypatch.setattr(_ports, "_kernel_pick", lambda: next(picks))
    assert _ports.allocate({"s3": 8333}, {}, []) == {"s3": 40001}


def test_a_node_survives_the_process_that_created_it(make_local: MakeProvider, home: Path) -> None:
    creator = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from metapaas.providers import LocalProvider
        from tests.providers.conftest import script_argv, spec
        provider = LocalProvider(Path(sys.argv[1]), agent_argv=script_argv({SLEEPER!r}))
        provider.create_node(spec("n-0"))
        """
    )
    subprocess.run(
        [sys.executable, "-c", creator, str(home)],
        check=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )

    info = make_local().get_node("n-0")

    assert info is not None
    assert info.running


def test_a_killed_node_is_restarted_with_the_same_ports(
    make_local: MakeProvider, home: Path
) -> None:
    provider = make_local()
    before = provider.create_node(spec("n-0", ports={"a": 1001, "b": 1002}))
    old_pid = recorded(home, "n-0")["pid"]
    os.killpg(old_pid, signal.SIGKILL)
    wait_for(lambda: not _running(provider, "n-0"), "the killed node to count as stopped")

    after = provider.create_node(
        replace(spec("n-0", ports={"a": 1001, "b": 1002}), bootstrap_token="fresh-token")
    )

    assert after.running
    assert after.ports == before.ports
    assert recorded(home, "n-0")["pid"] != old_pid
    assert (home / "nodes" / "n-0" / "bootstrap.token").read_text() == "fresh-token"


def _running(provider: LocalProvider, name: str) -> bool:
    info = provider.get_node(name)
    return info is not None and info.running


@pytest.mark.parametrize(
    ("script", "grace"),
    [
        pytest.param(TREE_IN_GROUP, 5.0, id="SIGTERM to the group ends the agent and its child"),
        pytest.param(
            TREE_DETACHED_STUBBORN,
            0.2,
            id="an agent ignoring SIGTERM and its child in another session are SIGKILLed",
        ),
    ],
)
def test_delete_stops_the_whole_tree_and_removes_the_directory(
    make_local: MakeProvider, home: Path, script: str, grace: float
) -> None:
    provider = make_local(script, grace=grace)
    provider.create_node(spec("n-0"))
    node_dir = home / "nodes" / "n-0"
    wait_for(lambda: (node_dir / "child.pid").exists(), "the agent to start its child")
    agent = recorded(home, "n-0")
    child = int((node_dir / "child.pid").read_text())
    child_start = start_time(child)

    provider.delete_node("n-0")

    assert not alive(agent["pid"], agent["start_time"])
    assert not alive(child, child_start)
    assert not node_dir.exists()
    assert provider.get_node("n-0") is None
    provider.delete_node("n-0")  # a second delete is a no-op


def test_list_nodes_filters_by_labels(make_local: MakeProvider) -> None:
    provider = make_local()
    provider.create_node(spec("a-0", instance="a"))
    provider.create_node(spec("a-1", instance="a"))
    provider.create_node(spec("b-0", instance="b"))

    assert [n.name for n in provider.list_nodes({INSTANCE: "a"})] == ["a-0", "a-1"]
    assert [n.name for n in provider.list_nodes({})] == ["a-0", "a-1", "b-0"]
    assert provider.list_nodes({INSTANCE: "c"}) == []


def test_a_reused_pid_is_neither_running_nor_signalled(
    make_local: MakeProvider, home: Path
) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    try:
        node_dir = home / "nodes" / "n-0"
        node_dir.mkdir(parents=True)
        record = {
            "name": "n-0",
            "labels": {},
            "control_plane_url": "http://127.0.0.1:1",
            "ports": {"http": 20_000},
            "pid": stranger.pid,
            "start_time": start_time(stranger.pid) + 1,
        }
        (node_dir / "node.json").write_text(json.dumps(record))
        provider = make_local()

        info = provider.get_node("n-0")
        provider.delete_node("n-0")

        assert info is not None
        assert not info.running
        assert stranger.poll() is None
        assert not node_dir.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_an_agent_that_cannot_start_is_a_temporary_error(home: Path) -> None:
    provider = LocalProvider(home, agent_argv=lambda url, d: [str(home / "no-such-python")])

    with pytest.raises(TemporaryError, match="cannot start the agent of node n-0"):
        provider.create_node(spec("n-0"))

    info = provider.get_node("n-0")
    assert info is not None
    assert not info.running


@pytest.mark.usefixtures("make_local")
def test_the_default_command_runs_the_agent_module_in_the_node_directory(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    provider = LocalProvider(home, agent_module="tests.providers.fake_agent")

    provider.create_node(spec("n-0"))

    started = home / "nodes" / "n-0" / "started.json"
    wait_for(started.exists, "the agent module to start")
    seen = json.loads(started.read_text())
    node_dir = str(home / "nodes" / "n-0")
    assert seen == {
        "argv": ["--url", "http://127.0.0.1:1", "--dir", node_dir],
        "cwd": node_dir,
        "node": "n-0",
    }


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="an empty name is refused"),
        pytest.param("Node-0", id="an upper-case name is refused"),
        pytest.param("-n-0", id="a name starting with a dash is refused"),
        pytest.param("n_0", id="an underscore is refused"),
        pytest.param("../n-0", id="a path is refused"),
        pytest.param("n-0\n", id="a trailing newline is refused"),
        pytest.param("n" * 64, id="a name of 64 characters is refused"),
    ],
)
def test_bad_names_are_permanent_errors(home: Path, name: str) -> None:
    provider = LocalProvider(home, agent_argv=script_argv(SLEEPER))

    with pytest.raises(PermanentError, match="node name"):
        provider.create_node(spec(name))
    with pytest.raises(PermanentError, match="node name"):
        provider.delete_node(name)
    with pytest.raises(PermanentError, match="node name"):
        provider.get_node(name)
    assert not (home / "nodes").exists() or not any((home / "nodes").iterdir())


@pytest.mark.parametrize("then", ["create", "delete"])
def test_an_agent_started_but_never_recorded_before_a_crash_is_stopped_by_the_next_call(
    make_local: MakeProvider, home: Path, then: str
) -> None:
    node_dir = home / "nodes" / "n-0"
    make_local().create_node(spec("n-0"))
    record = recorded(home, "n-0")
    stray, stray_start = record["pid"], start_time(record["pid"])
    # What a crash between starting the agent and recording its pid leaves behind.
    (node_dir / "node.json").write_text(json.dumps({**record, "pid": None, "start_time": None}))

    restarted = make_local()  # the provider of a control plane started again
    if then == "create":
        restarted.create_node(spec("n-0"))
        assert processes_in(node_dir) == [recorded(home, "n-0")["pid"]]
    else:
        restarted.delete_node("n-0")
    assert not alive(stray, stray_start)


def test_the_volume_outlives_the_node_and_is_attached_again(
    make_local: MakeProvider, home: Path
) -> None:
    provider = make_local()
    provider.create_node(spec("v-0", instance="a"))
    data = home / "nodes" / "v-0" / "data"
    (data / "dump.rdb").write_text("kept")

    provider.delete_node("v-0")  # as a replacement does
    assert not (home / "nodes" / "v-0").exists()
    assert [v.name for v in provider.list_volumes({INSTANCE: "a"})] == ["v-0"]
    provider.create_node(spec("v-0", instance="a"))

    assert (data / "dump.rdb").read_text() == "kept"


def test_delete_volume_removes_the_node_and_its_data(make_local: MakeProvider, home: Path) -> None:
    provider = make_local()
    provider.create_node(spec("v-0", instance="a"))
    provider.create_node(spec("w-0", instance="b"))
    (home / "nodes" / "v-0" / "data" / "dump.rdb").write_text("gone")

    provider.delete_volume("v-0")
    provider.delete_volume("v-0")  # absent is no error

    assert provider.get_node("v-0") is None
    assert [v.name for v in provider.list_volumes({})] == ["w-0"]
    provider.create_node(spec("v-0", instance="a"))
    assert list((home / "nodes" / "v-0" / "data").iterdir()) == []
