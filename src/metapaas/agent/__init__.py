"""The agent that runs on every data-plane node.

It exchanges ``<dir>/bootstrap.token`` for a credential, long-polls the
node's metadata, applies the plugin's ``DataPlane`` (templates the confd way,
supervised services, health checks, lifecycle commands run once per id) and
reports back. Run it as ``python -m metapaas.agent --url URL --dir DIR``.
"""

import sys

# httpx imports its command-line client (rich, click, pygments: 10-20 % of the agent's
# import time) whenever they are installed; a new node waits for that before it
# can register. A None entry makes that import fail, which httpx expects and handles.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None is import's "absent"

from metapaas.agent.client import AgentClient, Report  # noqa: E402
from metapaas.agent.node import Node  # noqa: E402
from metapaas.agent.runner import run_agent  # noqa: E402

__all__ = ["AgentClient", "Node", "Report", "run_agent"]
