"""Who holds a claim (a leased row of work) and whether that process is gone.

A claim names its holder as ``<host>:<pid>``. A process restarted after a
crash frees the claims of dead processes on its own host at once, instead of
waiting out their lease; a claim of another host can only run out.
"""

from __future__ import annotations

import os
import socket


def holder_id() -> str:
    """This process, as a claim names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def held_by_the_dead(claimed_by: str, host: str | None = None) -> bool:
    """Whether ``claimed_by`` is a process of ``host`` (this one by default) that is gone."""
    holder_host, _, pid = claimed_by.rpartition(":")
    if holder_host != (host or socket.gethostname()) or not pid.isdigit():
        return False
    return not os.path.exists(f"/proc/{pid}")
