"""The test hosts kit: machines in network namespaces, each with its own sshd and files."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import httpx
import pytest
from hostlab import STATE_DIR, Host, HostLab, unavailable_reason

from metapaas.testing import wait_for

UNAVAILABLE = unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


# A lab in a process that is killed while in it: nothing cleans up.
CRASHING_LAB = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from hostlab import HostLab
with HostLab(count=1, prefix="mpstale") as lab:
    print(lab.name, lab.hosts[0].netns, flush=True)
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[HostLab]:
    with HostLab(count=3, prefix="mpkit", without_sftp={"host3"}) as made:
        yield made


def _connect(host: Host, host_key: str | None, timeout: float) -> asyncssh.SSHClientConnection:
    return asyncssh.connect(
        host.address,
        port=host.port,
        username=host.user,
        client_keys=[asyncssh.import_private_key(host.private_key)],
        known_hosts=asyncssh.import_known_hosts(f"{host.address} {host_key or host.host_key}\n"),
        agent_path=None,
        config=None,
        connect_timeout=timeout,
    )


def ssh(host: Host, command: str, *, host_key: str | None = None, timeout: float = 10) -> str:
    """Run ``command`` on ``host`` over SSH as the kit's client, its host key pinned."""

    async def session() -> str:
        async with _connect(host, host_key, timeout) as connection:
            result = await connection.run(command, check=True, timeout=timeout)
            return str(result.stdout)

    return asyncio.run(session())


def sftp_listing(host: Host) -> list[str]:
    """The names in ``/root`` of ``host``, read over SFTP."""

    async def session() -> list[str]:
        async with _connect(host, None, 10) as connection, connection.start_sftp_client() as sftp:
            return sorted(await sftp.listdir("/root"))

    return asyncio.run(session())


def netns_pids(netns: str) -> list[int]:
    listed = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(pid) for pid in listed.stdout.split()]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie does not (this machine's init may not reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZXx"


def command_name(pid: int) -> str:
    """The process's name, or "" once it is gone (sshd's children come and go)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


def session_id(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[3])


def leftovers(lab_name: str, pids: list[int]) -> list[str]:
    """What of the lab is still on the machine: namespaces, links, its directory, processes."""
    names = [*os.listdir("/run/netns"), *os.listdir("/sys/class/net")]
    found = [name for name in names if name.startswith(f"{lab_name}-")]
    found += [str(STATE_DIR / lab_name)] if (STATE_DIR / lab_name).exists() else []
    return found + [f"process {pid}" for pid in pids if alive(pid)]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def addresses_in(subnet: str) -> str:
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "to", subnet], capture_output=True)
    return shown.stdout.decode()


def test_every_host_answers_over_ssh_with_its_pinned_key_in_its_own_namespaces(
    lab: HostLab,
) -> None:
    assert len({host.address for host in lab.hosts}) == 3
    assert len({host.host_key for host in lab.hosts}) == 3
    for host in lab.hosts:
        answer = ssh(host, "id -u; ip -o -4 addr show dev eth0; findmnt -n -o FSTYPE /etc")
        uid, address, etc = answer.splitlines()
        assert uid == "0"
        assert f" {host.address}/24 " in address
        assert etc == "overlay"
        assert host.host_key.startswith("ssh-ed25519 ")
        assert host.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_a_wrong_host_key_is_refused(lab: HostLab) -> None:
    first, second = lab.hosts[:2]
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        ssh(first, "id -u", host_key=second.host_key)


def test_useradd_on_one_host_is_seen_by_no_other_host_nor_the_machine(lab: HostLab) -> None:
    first, second = lab.hosts[:2]
    user = f"mp-probe-{secrets.token_hex(3)}"
    uid = ssh(first, f"useradd --create-home {user} && id -u {user}").strip()
    assert lab.run(first, ["id", "-u", user]).stdout.strip() == uid
    assert (first.directory / "home" / user).is_dir()
    assert lab.run(second, ["id", user], check=False).returncode != 0
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    assert user not in Path("/etc/passwd").read_text()
    assert not Path("/home", user).exists()


def test_kill_ends_what_the_host_ran_and_revive_boots_it_with_its_disk(lab: HostLab) -> None:
    host = lab.hosts[0]
    ssh(host, "echo kept > /var/lib/metapaas/marker")
    ssh(host, "setsid nohup sleep 1000 </dev/null >/dev/null 2>&1 &")
    [sleeper] = wait_for(
        lambda: [pid for pid in netns_pids(host.netns) if command_name(pid) == "sleep"],
        5,
        "the sleeper to exec",
        interval=0.01,
    )
    assert session_id(sleeper) == sleeper  # left sshd's session: its process tree cannot find it

    lab.kill(host)

    assert not alive(sleeper)
    assert netns_pids(host.netns) == []
    with pytest.raises(OSError):  # noqa: PT011 timed out or unreachable: the machine is gone
        ssh(host, "true", timeout=1)
    assert lab.hosts[1].address in ssh(lab.hosts[1], "ip -o -4 addr show dev eth0")

    lab.revive(host)

    assert ssh(host, "cat /var/lib/metapaas/marker") == "kept\n"
    assert (host.var_lib_metapaas / "marker").read_text() == "kept\n"
    assert "sleep" not in map(command_name, netns_pids(host.netns))  # nothing restarts it


def test_a_host_reaches_a_server_in_the_control_plane_namespace(
    lab: HostLab, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("from the control plane\n")
    port = 8000  # the namespace is the lab's own: nothing else listens there
    server = subprocess.Popen(
        [
            *("ip", "netns", "exec", lab.control_plane_netns),
            *(sys.executable, "-m", "http.server", "--bind", lab.control_plane_address),
            *("--directory", str(tmp_path), str(port)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://{lab.control_plane_address}:{port}/hello.txt"
    fetch = (
        "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read())"
    )
    host = lab.hosts[2]
    try:
        wait_for(lambda: answers(url), 10, "the control plane's server, from the root namespace")
        assert ssh(host, f"python3 -c '{fetch}' {url}") == "b'from the control plane\\n'\n"
    finally:
        server.terminate()
        _, log = server.communicate(timeout=10)
    assert f"{host.address} - - " in log  # the request came from the host's address


def test_leaving_the_lab_on_an_interrupt_leaves_nothing_behind() -> None:
    with pytest.raises(KeyboardInterrupt), HostLab(count=2, prefix="mpgone") as lab:  # noqa: PT012
        name = lab.name
        lab.run(lab.hosts[1], ["sh", "-c", "setsid -f sleep 1000 >/dev/null 2>&1"])
        forgotten = subprocess.Popen(
            ["ip", "netns", "exec", lab.control_plane_netns, "sleep", "1000"]
        )
        wait_for(
            lambda: forgotten.pid in netns_pids(lab.control_plane_netns),
            5,
            "a process in the control plane's namespace",
            interval=0.01,
        )
        namespaces = [*(host.netns for host in lab.hosts), lab.control_plane_netns]
        pids = [pid for netns in namespaces for pid in netns_pids(netns)]
        assert {"sshd", "sleep"} <= set(map(command_name, pids))
        assert leftovers(name, []) != []
        raise KeyboardInterrupt
    assert leftovers(name, pids) == []
    assert addresses_in(lab.subnet) == ""
    assert forgotten.wait(5) == -9


def test_a_lab_left_by_a_dead_process_is_removed_by_the_next_of_its_prefix() -> None:
    crashing = subprocess.Popen(
        [sys.executable, "-c", CRASHING_LAB], stdout=subprocess.PIPE, text=True
    )
    assert crashing.stdout is not None
    stale_name, stale_netns = crashing.stdout.readline().split()
    crashing.kill()  # no clean-up: the lab stays
    crashing.wait(10)
    survivors = [pid for pid in netns_pids(stale_netns) if alive(pid)]
    assert "sshd" in map(command_name, survivors)

    with HostLab(count=1, prefix="mpstale") as lab:
        assert not any(alive(pid) for pid in survivors)
        if lab.name != stale_name:  # the freed subnet may be the one taken again
            assert leftovers(stale_name, []) == []
        assert ssh(lab.hosts[0], "id -u") == "0\n"


def test_a_host_named_without_sftp_offers_no_sftp_subsystem(lab: HostLab) -> None:
    first, _, hardened = lab.hosts
    assert ".ssh" in sftp_listing(first)
    with pytest.raises(asyncssh.ChannelOpenError):
        sftp_listing(hardened)
    assert ssh(hardened, "echo still a shell") == "still a shell\n"
