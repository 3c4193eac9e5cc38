"""The testing kit's network lab: a control-plane namespace on a bridge of its own, reached
from the machine's namespace, and nothing left once the lab is left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from metapaas.providers import netns
from metapaas.testing import wait_for
from metapaas.testing.netlab import STATE_DIR, NetLab, unavailable_reason

UNAVAILABLE = unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _leftovers(name: str) -> list[str]:
    found = [n for n in [*netns.namespaces(), *netns.links()] if n.startswith(f"{name}-")]
    return found + ([str(STATE_DIR / name)] if (STATE_DIR / name).exists() else [])


def test_a_server_in_the_control_plane_namespace_answers_the_machine(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("from the control plane\n")
    with NetLab(prefix="mpnetlab") as lab:
        server = subprocess.Popen(
            [
                *("ip", "netns", "exec", lab.control_plane_netns, sys.executable, "-m"),
                *("http.server", "--bind", lab.control_plane_address),
                *("--directory", str(tmp_path), "8000"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://{lab.control_plane_address}:8000/hello.txt"
        wait_for(lambda: _answers(url), 10, "the server in the control plane's namespace")
        assert httpx.get(url, trust_env=False).text == "from the control plane\n"
        name = lab.name
    assert server.wait(5) == -9, "leaving the lab killed what ran in it"
    assert _leftovers(name) == []


def test_leaving_the_lab_on_an_interrupt_leaves_nothing_behind() -> None:
    with pytest.raises(KeyboardInterrupt), NetLab(prefix="mpnetlab") as lab:  # noqa: PT012
        name = lab.name
        assert lab.control_plane_netns in netns.namespaces()
        raise KeyboardInterrupt
    assert _leftovers(name) == []
    assert netns.addresses_in(lab.subnet) == []
