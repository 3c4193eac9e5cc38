"""A testing kit for MetaPaaS and plugin authors: a real control plane in a subprocess."""

from metapaas.agent.render import render_argv
from metapaas.testing.controlplane import ControlPlane, free_port, wait_for
from metapaas.testing.imports import modules_loaded_by
from metapaas.testing.readme import SessionOutput, run_example_session
from metapaas.testing.views import instance_view, write_node

__all__ = [
    "ControlPlane",
    "SessionOutput",
    "free_port",
    "instance_view",
    "modules_loaded_by",
    "render_argv",
    "run_example_session",
    "wait_for",
    "write_node",
]
