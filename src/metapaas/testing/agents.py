"""Simulated agents: each running node of a :class:`MemoryProvider` plays its agent over
the real agent API, one step per :meth:`SimulatedAgents.tick`.

A step does what a real agent does between two ticks: register with the
bootstrap token its node was last started with (each start by the provider is a
new incarnation to the control plane; a token it refuses leaves the credential the
agent has, as on a real node), read the newest metadata, check that what the
node's templates need is there (its own address and every port its spec names; a
real agent would fail to render without them), finish the lifecycle commands it
was given (as the test's ``answers`` say; one answered ``running`` is under way, and
answered again at the next step), and report the applied revision and
generation with its health (on a change, else as a heartbeat every few ticks). A test
can make a node unhealthy, failing or silent to drive the orchestrator's healing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from metapaas.testing.memory import MemoryNode, MemoryProvider

HEARTBEAT_TICKS = 4
"""A real agent reports on every change and heartbeats every 4 s: at one tick a second,
a simulated one reports on change and every 4th tick."""


@dataclass
class _Agent:
    incarnation: str  # the provider's: a node created anew is a new directory
    bootstrap_token: str  # the token its node was started with
    credential: str = ""
    revision: int = 0
    generation: int = 0
    problem: str = ""
    done: set[str] = field(default_factory=set)  # command ids whose result was reported
    commands: list[dict[str, Any]] = field(default_factory=list)  # the metadata's last
    reported: dict[str, Any] = field(default_factory=dict)  # the last report sent
    quiet_ticks: int = 0  # ticks since it was sent


Answer = Callable[[str, dict[str, Any]], dict[str, Any]]


class SimulatedAgents:
    """The agents of ``provider``'s nodes, talking to the control plane through ``client``."""

    def __init__(self, client: httpx.Client, provider: MemoryProvider) -> None:
        self.client = client
        self.provider = provider
        self.unhealthy: set[str] = set()  # node names whose health check fails
        self.failing: set[str] = set()  # node names whose apply fails
        self._silent: set[str] = set()  # incarnations whose agent sends nothing
        self._agents: dict[str, _Agent] = {}
        #: How a command of a name ends, from its node's name and the command as the
        #: metadata gives it (id, name, args): the body of its result, or of a report
        #: that it still runs (``"state": "running"``, with its progress). By default
        #: it succeeds, with nothing to tell.
        self.answers: dict[str, Answer] = {}
        #: What each node's archive step last recorded (``sdk.ArchiveStatus``), by node name.
        self.archives: dict[str, dict[str, Any]] = {}

    def copy(self, provider: MemoryProvider) -> SimulatedAgents:
        """The same agents, as they are now, for ``provider`` (a copy of theirs)."""
        copied = SimulatedAgents(self.client, provider)
        copied.unhealthy, copied.failing = set(self.unhealthy), set(self.failing)
        copied._silent = set(self._silent)
        copied.answers = dict(self.answers)
        copied.archives = dict(self.archives)
        copied._agents = copy.deepcopy(self._agents)
        return copied

    def silence(self, name: str) -> None:
        """Freeze the node's agent (as SIGSTOP would); a replacement of it is not frozen."""
        self._silent.add(self.provider.nodes[name].incarnation)

    def credential(self, name: str) -> str:
        """The node credential the node's agent got when it registered."""
        return self._agents[name].credential

    def is_silent(self, name: str) -> bool:
        node = self.provider.nodes.get(name)
        return node is not None and node.incarnation in self._silent

    def tick(self) -> None:
        """One step of every running node's agent."""
        for node in self.provider.running():
            if node.incarnation not in self._silent:
                self._step(node)

    def _step(self, node: MemoryNode) -> None:
        agent = self._agent(node)
        if agent is None:
            return
        headers = {"Authorization": f"Bearer {agent.credential}"}
        answer = self.client.get(
            "/v1/agent/metadata", params={"after": agent.revision, "wait": 0}, headers=headers
        )
        if answer.status_code == httpx.codes.UNAUTHORIZED:
            return  # replaced: the orchestrator is about to remove this node
        if answer.status_code == httpx.codes.OK:
            self._apply(node, agent, answer.json())
        self._answer_commands(node, agent, headers)
        report: dict[str, Any] = {
            "applied_revision": agent.revision,
            "applied_generation": agent.generation,
            "state": "failed" if agent.problem else "ready",
            "health": "unhealthy" if node.spec.name in self.unhealthy else "healthy",
            "message": agent.problem,
            "events": [],
        }
        if node.spec.name in self.archives:
            report["archive"] = self.archives[node.spec.name]
        agent.quiet_ticks += 1
        if report != agent.reported or agent.quiet_ticks >= HEARTBEAT_TICKS:
            self.client.post("/v1/agent/report", headers=headers, json=report)
            agent.reported, agent.quiet_ticks = report, 0

    def _agent(self, node: MemoryNode) -> _Agent | None:
        """The node's agent as it runs now: a new one after each start of the node (the
        commands it ran are journalled on the node's disk, so it keeps them); None when it
        could not register."""
        name, token = node.spec.name, node.spec.bootstrap_token
        agent = self._agents.get(name)
        if agent is not None and (agent.incarnation, agent.bootstrap_token) == (
            node.incarnation,
            token,
        ):
            return agent
        started = _Agent(node.incarnation, token)
        if agent is not None and agent.incarnation == node.incarnation:  # restarted
            started.credential, started.done = agent.credential, agent.done
        if not self._register(node, started):
            return None
        self._agents[name] = started
        return started

    def _register(self, node: MemoryNode, agent: _Agent) -> bool:
        """Exchange the bootstrap token; a refused one leaves the agent its credential, and
        ends an agent without one, as on a real node."""
        answer = self.client.post(
            "/v1/agent/register", json={"bootstrap_token": agent.bootstrap_token}
        )
        if answer.status_code == httpx.codes.OK:
            agent.credential = answer.json()["credential"]
        elif not agent.credential:
            self.provider.stop(node.spec.name)
            return False
        return True

    def _apply(self, node: MemoryNode, agent: _Agent, document: dict[str, Any]) -> None:
        agent.problem = _problem(node, document["node"], node.spec.name in self.failing)
        agent.revision = document["revision"]
        agent.commands = [] if agent.problem else document["commands"]
        if not agent.problem:
            agent.generation = document["instance"]["generation"]

    def _answer_commands(self, node: MemoryNode, agent: _Agent, headers: dict[str, str]) -> None:
        for command in agent.commands:
            if command["id"] not in agent.done:
                body = self.answers.get(command["name"], _succeeded)(node.spec.name, command)
                self.client.post(f"/v1/agent/commands/{command['id']}", headers=headers, json=body)
                if body["state"] != "running":
                    agent.done.add(command["id"])


def _succeeded(node: str, command: dict[str, Any]) -> dict[str, Any]:
    return {"state": "succeeded", "exit_code": 0, "output": ""}


def _problem(node: MemoryNode, own: dict[str, Any], failing: bool) -> str:
    """Why the node cannot apply its metadata, or '': what its templates need is missing
    (its address, a port its spec names), or the test made its apply fail."""
    missing = [port for port in node.spec.ports if port not in own["ports"]]
    if missing:
        return f"cannot render: node.ports has no {', '.join(missing)}"
    if not own["address"]:
        return "cannot render: node.address is empty"
    return "cannot apply: the test made it fail" if failing else ""
