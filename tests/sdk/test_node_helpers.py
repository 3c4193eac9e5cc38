"""The SDK's node-side helpers: private atomic writes and bounded waits."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import pytest

from metapaas import sdk
from metapaas.sdk import _node


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_replaces_the_file_owner_only_and_leaves_no_staged_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "secret.conf"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o644)
    sdk.write_private(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.conf"]


def test_create_private_keeps_the_first_content(tmp_path: Path) -> None:
    target = tmp_path / "admin.secret"
    assert sdk.create_private(target, b"first") is True
    assert sdk.create_private(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["admin.secret"]


def test_wait_until_ready_retries_until_the_probe_answers() -> None:
    answers = iter([ConnectionRefusedError("not yet"), ConnectionRefusedError("not yet"), "up"])

    def probe() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert sdk.wait_until_ready(probe, what="the engine", attempts=3, interval=0) == "up"


def test_wait_until_ready_gives_up_after_its_attempts_naming_what_and_why() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        raise ConnectionRefusedError("refused")

    with pytest.raises(sdk.NotReady, match=r"the engine: not ready after 4 attempts: refused"):
        sdk.wait_until_ready(probe, what="the engine", attempts=4, interval=0)
    assert len(calls) == 4


def test_wait_until_ready_stops_at_once_on_an_error_it_does_not_retry() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        raise RuntimeError("the engine exited")

    with pytest.raises(RuntimeError, match="exited"):
        sdk.wait_until_ready(probe, what="the engine", attempts=5, interval=0, retry_on=(OSError,))
    assert len(calls) == 1


def test_a_staged_file_can_be_written_by_a_writer_and_committed(tmp_path: Path) -> None:
    target = tmp_path / "bundle.tar.gz"
    staged = _node.stage(target, lambda out: out.write(b"made as it goes"), 0o644)
    assert not target.exists()
    _node.commit(staged, target)
    assert target.read_bytes() == b"made as it goes"
    assert _mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.tar.gz"]


def test_exclusive_makes_a_second_holder_wait_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / ".lock"
    order: list[str] = []
    first_holds = threading.Event()

    def second() -> None:
        first_holds.wait(5)
        with sdk.exclusive(lock):
            order.append("second")

    waiter = threading.Thread(target=second)
    waiter.start()
    with sdk.exclusive(lock):
        first_holds.set()
        time.sleep(0.2)  # the second is blocked in flock meanwhile
        order.append("first")
    waiter.join(5)
    assert order == ["first", "second"]
