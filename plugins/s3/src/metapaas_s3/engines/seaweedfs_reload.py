"""Make the running ``weed`` reread its S3 identity file, and wait until it has.

Run by the agent (cwd = the node directory) when ``identities.json`` changed:
SeaweedFS rereads ``-s3.config`` on SIGHUP, it does not watch the file. The
process is found through ``/proc`` as the ``weed`` whose working directory is
this node's. The command returns once the server accepts every key in the
file, so the node reports the change applied only when it is.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from metapaas_s3.node.s3client import add_client_arguments, connect, error_code, until_done

WAIT_SECONDS = 50.0
"""Below the agent's 60 s limit for a reload, so a slow engine fails this command visibly."""
_REFUSED_KEY = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch"})


def weed_pids(node_dir: Path) -> list[int]:
    """Processes running ``weed`` in ``node_dir`` (only this node's server runs there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            exe = Path(os.readlink(proc / "exe")).name
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:  # gone meanwhile, or another user's process
            continue
        if exe == "weed" and cwd == node_dir:
            found.append(int(proc.name))
    return found


def _credentials(identities_file: Path) -> list[tuple[str, str]]:
    document: dict[str, Any] = json.loads(identities_file.read_text(encoding="utf-8"))
    return [
        (credential["accessKey"], credential["secretKey"])
        for identity in document["identities"]
        for credential in identity.get("credentials", ())
    ]


def _accepted(endpoint: str, authority: str, key_id: str, secret: str) -> None:
    """Returns when the server knows the key; raises (to be retried) while it does not."""
    try:
        connect(endpoint, key_id, secret, authority).list_buckets()
    except ClientError as exc:
        if error_code(exc) in _REFUSED_KEY:
            raise
        # Any other answer (e.g. AccessDenied for a key without list rights) means
        # the signature was checked against this key: the server knows it.


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_client_arguments(parser)
    parser.add_argument("--identities", type=Path, required=True)
    parser.add_argument("--wait", type=float, default=WAIT_SECONDS)
    args = parser.parse_args(argv)
    pids = weed_pids(Path.cwd().resolve())
    if not pids:
        print("weed is not running; it reads the identity file when it starts")
        return 0
    for pid in pids:
        os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + args.wait
    for key_id, secret in _credentials(args.identities):
        until_done(
            functools.partial(_accepted, args.endpoint, args.authority, key_id, secret),
            seconds=max(deadline - time.monotonic(), 0.0),
            what=f"waiting for weed to accept key {key_id}",
        )
    print(f"weed (pid {', '.join(map(str, pids))}) reloaded {args.identities}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
