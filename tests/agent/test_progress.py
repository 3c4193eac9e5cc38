"""A running command's progress file is read when it changed, at most every 2 s once it
said something, and what is no progress record is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapaas.agent.progress import READ_EVERY, ProgressWatch
from metapaas.sdk import StepProgress

from .helpers import FakeClock

HALF = '{"done_bytes": 5, "total_bytes": 10}'
ALL = '{"done_bytes": 10, "total_bytes": 10}'
NEXT_WINDOW = READ_EVERY


@pytest.mark.parametrize(
    ("writes", "sent"),
    [
        pytest.param([(0, HALF)], [(5, 10)], id="the first record is sent at once"),
        pytest.param(
            [(0, HALF), (0.5, ALL)], [(5, 10)], id="a change within 2 s of the last send waits"
        ),
        pytest.param(
            [(0, HALF), (NEXT_WINDOW, ALL)], [(5, 10), (10, 10)], id="after 2 s it is sent"
        ),
        pytest.param(
            [(0, HALF), (0.5, ALL), (NEXT_WINDOW, None)],
            [(5, 10), (10, 10)],
            id="a change that waited is sent once 2 s passed",
        ),
        pytest.param(
            [(0, HALF), (NEXT_WINDOW, HALF)], [(5, 10)], id="the same record again is no news"
        ),
        pytest.param(
            [(0, '{"done_bytes": -1}'), (0, "{not json"), (0, '{"done": 1}'), (0, "[]")],
            [],
            id="what is no progress record is ignored",
        ),
        pytest.param(
            [(0, "{half"), (0, '{"done_bytes": 7}')],
            [(7, 0)],
            id="a record written after a bad one is read at once, its total unknown",
        ),
    ],
)
def test_the_progress_file_is_passed_on_when_it_changed_at_most_every_2_s(
    tmp_path: Path,
    clock: FakeClock,
    writes: list[tuple[float, str | None]],
    sent: list[tuple[int, int]],
) -> None:
    told: list[StepProgress] = []
    watch = ProgressWatch(tmp_path / "c1.progress.json", clock, None, told.append)
    watch.poll()  # no file yet: nothing to say
    for after, text in writes:
        clock.advance(after)
        if text is not None:
            watch.path.write_text(text)
        watch.poll()
        watch.poll()  # unchanged since the last look
    assert [(p.done_bytes, p.total_bytes) for p in told] == sent


def test_the_agents_own_part_tells_through_the_same_file(tmp_path: Path, clock: FakeClock) -> None:
    ticks: list[str] = []
    told: list[StepProgress] = []
    path = tmp_path / "c1.progress.json"
    watch = ProgressWatch(path, clock, lambda: ticks.append("tick"), told.append)
    three = StepProgress(done_bytes=3, total_bytes=9)
    watch.tell(three)
    assert StepProgress.model_validate_json(path.read_bytes()) == three
    assert (told, ticks) == ([three], ["tick"]), "the agent's periodic work ran, then the send"
