"""Which types a host can run: the Debian packages each type's nodes need (``debian_packages``
of its declaration), installed there or, where the host's policy allows it, installed by us.

A type whose packages a host lacks (and may not get) is unsuitable *on that host*: placement
passes the host by for that type's nodes and says why; other types still run there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from metapaas_ssh.remote import Completed

Run = Callable[[Sequence[str], float], Completed]
"""Runs an argv on the host (as root) with a timeout."""

QUERY_SECONDS = 30.0
INSTALL_SECONDS = 900.0


def installed(run: Run, packages: set[str]) -> set[str]:
    """Those of ``packages`` dpkg says are installed ("ii")."""
    if not packages:
        return set()
    done = run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n", *sorted(packages)],
        QUERY_SECONDS,
    )
    if done.exit_status not in (0, 1):  # 1: some package is unknown to dpkg
        raise OSError(done.stderr.decode(errors="replace").strip() or "dpkg-query failed")
    found = set()
    for line in done.stdout.decode(errors="replace").splitlines():
        name, _, status = line.partition(" ")
        if status.startswith("ii"):
            found.add(name.split(":")[0])  # "name:arch" for multi-arch packages
    return found


def install(run: Run, packages: set[str]) -> str:
    """Install ``packages`` with apt; the error, or "" when it went well."""
    argv = [
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        *sorted(packages),
    ]
    done = run(argv, INSTALL_SECONDS)
    if done.exit_status == 0:
        return ""
    return done.stderr.decode(errors="replace").strip()[-300:] or f"exit {done.exit_status}"


def type_findings(
    run: Run, wanted: Mapping[str, Sequence[str]], *, may_install: bool
) -> dict[str, str]:
    """For each type, why the host cannot run its nodes, or "" when it can."""
    needed = {package for packages in wanted.values() for package in packages}
    try:
        have = installed(run, needed)
        failure = ""
        if needed - have and may_install:
            failure = install(run, needed - have)
            have = installed(run, needed)
    except OSError as exc:
        return {
            slug: f"cannot check Debian packages: {exc}" for slug, pkgs in wanted.items() if pkgs
        }
    findings = {}
    for slug, packages in wanted.items():
        absent = sorted(set(packages) - have)
        if not absent:
            findings[slug] = ""
        elif may_install:
            findings[slug] = (
                f"missing Debian packages {', '.join(absent)}: apt-get failed: {failure}"
            )
        else:
            findings[slug] = (
                f"missing Debian packages {', '.join(absent)}, and the host's policy does not "
                "let the control plane install them"
            )
    return findings
