"""Placement as a table: which host a node goes to, and why none can take it."""

from __future__ import annotations

import pytest
from metapaas_ssh.placement import HostLoad, NoPlacement, Wanted, choose


def host(name: str, **changes: object) -> HostLoad:
    fields: dict[str, object] = {
        "name": name,
        "state": "READY",
        "draining": False,
        "capacity_nodes": 4,
        "capacity_memory_mb": 1024,
    }
    return HostLoad(**(fields | changes))  # type: ignore[arg-type]


CASES = [
    pytest.param([host("a"), host("b")], Wanted("i"), "a", id="the first by name when equal"),
    pytest.param(
        [host("a", instance_nodes={"i": 1}, nodes=1), host("b", nodes=2)],
        Wanted("i"),
        "b",
        id="spread: fewer nodes of the instance beats a lighter load",
    ),
    pytest.param([host("a", nodes=3), host("b", nodes=1)], Wanted("i"), "b", id="the least loaded"),
    pytest.param(
        [host("a"), host("b", nodes=3, instance_nodes={"i": 1})],
        Wanted("i", volume_host="b"),
        "b",
        id="the host holding the node's volume first",
    ),
    pytest.param(
        [host("a"), host("b", state="UNREACHABLE")],
        Wanted("i", volume_host="b"),
        "a",
        id="elsewhere when the volume's host is away",
    ),
    pytest.param(
        [host("a", unsuitable_types={"redis": "missing redis-server"}), host("b", nodes=3)],
        Wanted("i", type_slug="redis"),
        "b",
        id="not where the type cannot run",
    ),
    pytest.param(
        [host("a", labels={"pool": "slow"}), host("b", labels={"pool": "fast"})],
        Wanted("i", selector={"pool": "fast"}),
        "b",
        id="labels",
    ),
]


@pytest.mark.parametrize(("hosts", "wanted", "chosen"), CASES)
def test_choose(hosts: list[HostLoad], wanted: Wanted, chosen: str) -> None:
    assert choose(hosts, wanted) == chosen


def test_no_host_can_take_it_says_why_for_each() -> None:
    fast = {"pool": "fast"}
    hosts = [
        host("a", nodes=4, labels=fast),
        host("b", memory_mb=1000, labels=fast),
        host("c", state="UNREACHABLE", labels=fast),
        host("d", draining=True, labels=fast),
        host("e", state="UNSUITABLE", labels=fast),
        host("f", labels={"pool": "slow"}),
    ]
    with pytest.raises(NoPlacement) as refused:
        choose(hosts, Wanted("i", memory_mb=64, selector={"pool": "fast"}))
    message = str(refused.value)
    for reason in (
        "a: full (4/4 nodes)",
        "b: 24 MB of memory left, the node needs 64 MB",
        "c: UNREACHABLE",
        "d: draining",
        "e: UNSUITABLE",
        "f: labels do not match pool=fast",
    ):
        assert reason in message


def test_no_host_at_all() -> None:
    with pytest.raises(NoPlacement, match="none registered"):
        choose([], Wanted("i"))
