"""The half of the ``ssh`` provider that runs on a host: one request on stdin, one answer.

``python3 -s -m metapaas_ssh.hostside`` with the runtime bundle on
``PYTHONPATH``, as root (or under ``sudo``), reads a JSON :class:`Request` and
writes a JSON :class:`Answer`. Nodes are the :class:`LocalProvider`'s, kept
under ``/var/lib/metapaas`` (:data:`HOME`), reached at the host's ``address``,
each under a system user of its own. The bootstrap token travels in the
request on stdin, never on a command line another user could read.

It imports neither the database nor a web framework (an import-linter
contract holds it): each call starts a fresh interpreter on the host.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from metapaas.providers import LocalProvider, NodeInfo, NodeSpec, VolumeInfo
from metapaas.providers.local import NODE_FILE
from metapaas.sdk import PermanentError, TemporaryError

HOME = Path("/var/lib/metapaas")
MODULE = "metapaas_ssh.hostside"


def node_file(node: str) -> str:
    """Where the host keeps the record of node ``node`` (its agent's pid among it)."""
    return str(HOME / "nodes" / node / NODE_FILE)


LIVENESS_SCRIPT = """
import importlib.util, json, sys
procs_file, node_file = sys.argv[1:3]
spec = importlib.util.spec_from_file_location("procs", procs_file)
procs = sys.modules["procs"] = importlib.util.module_from_spec(spec)  # for its dataclasses
spec.loader.exec_module(procs)
try:
    with open(node_file) as file:
        record = json.load(file)
except FileNotFoundError:
    print("null")
else:
    pid, start = record.get("pid"), record.get("start_time")
    print(json.dumps(pid is not None and start is not None and procs.alive(pid, start)))
"""
"""Whether a node's agent runs, asked often (every pass of its instance's reconcile): with
the standard library and ``_procs`` alone, in tens of milliseconds, where this module's
imports take most of a second. Run as ``python3 -I -S -c SCRIPT <_procs.py> <node.json>``;
prints ``null`` (no such node), ``true`` or ``false``."""

Operation = Literal[
    "create_node",
    "restart_node",
    "delete_node",
    "delete_volume",
    "list_nodes",
    "list_volumes",
]


class Request(BaseModel):
    op: Operation
    address: str  # where the host's nodes listen and are reached
    spec: dict[str, Any] | None = None  # a NodeSpec, for create and restart
    name: str = ""  # the node, for delete and delete_volume
    labels: dict[str, str] = {}  # the selector, for the lists


class Answer(BaseModel):
    result: Any = None
    error: str = ""
    temporary: bool = True


def handle(request: Request, home: Path = HOME) -> Answer:
    provider = LocalProvider(home, sys.executable, address=request.address, node_users=True)
    try:
        return Answer(result=_call(provider, request))
    except TemporaryError as exc:
        return Answer(error=str(exc))
    except PermanentError as exc:
        return Answer(error=str(exc), temporary=False)


def _call(provider: LocalProvider, request: Request) -> Any:
    match request.op:
        case "create_node" | "restart_node":
            spec = NodeSpec(**(request.spec or {}))
            return _plain(getattr(provider, request.op)(spec))
        case "delete_node" | "delete_volume":
            getattr(provider, request.op)(request.name)
            return None
        case "list_nodes":
            return [_plain(info) for info in provider.list_nodes(request.labels)]
        case "list_volumes":
            return [_plain(volume) for volume in provider.list_volumes(request.labels)]


def _plain(found: NodeInfo | VolumeInfo) -> dict[str, Any]:
    return dataclasses.asdict(found)


def main() -> None:
    request = Request.model_validate_json(sys.stdin.buffer.read())
    sys.stdout.write(handle(request).model_dump_json())


if __name__ == "__main__":
    main()
