"""How the node runs PostgreSQL programs that refuse to run as root.

``initdb`` and ``postgres`` exit at once when their effective uid is 0. An
agent running as root starts them in a new user namespace where it is mapped
to ``nobody``: the server has no capability on the host and its files stay
owned by the agent's user, in the node directory, wherever that lives.

Switching to the ``postgres`` OS user instead (setpriv) was tried and refused:
that user must be able to traverse every parent of the node directory (a
pytest ``tmp_path`` or ``/root/...`` is mode 0700), and it is the account of
the machine's own PostgreSQL, which a tenant's server must not share.
An agent that is not root runs them directly.
"""

from __future__ import annotations

import os

NOBODY = "65534"


def as_unprivileged(argv: list[str]) -> list[str]:
    """``argv`` wrapped so that it runs without root's privileges."""
    if os.geteuid() != 0:
        return argv
    return ["unshare", "--user", f"--map-user={NOBODY}", f"--map-group={NOBODY}", "--", *argv]


def binaries_needed() -> tuple[str, ...]:
    """What :func:`as_unprivileged` and the launcher run besides PostgreSQL's own programs."""
    return ("unshare", "setpriv", "sync") if os.geteuid() == 0 else ("setpriv", "sync")
