"""The SDK's node-side helpers: private atomic writes and bounded waits."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from metapaas import sdk


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
