"""The agent that runs on every data-plane node.

It exchanges ``<dir>/bootstrap.token`` for a credential, long-polls the
node's metadata, applies the plugin's ``DataPlane`` (templates the confd way,
supervised services, health checks, lifecycle commands run once per id) and
reports back. Run it as ``python -m metapaas.agent --url URL --dir DIR``.
"""

from metapaas.agent.client import AgentClient, Report
from metapaas.agent.node import Node
from metapaas.agent.runner import run_agent

__all__ = ["AgentClient", "Node", "Report", "run_agent"]
