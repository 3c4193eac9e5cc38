"""A testing kit for MetaPaaS and plugin authors: the control plane in the test's process
(:class:`InProcessControlPlane`, nodes simulated) or a real one in a subprocess
(:class:`ControlPlane`, real nodes)."""

from metapaas.agent.render import render_argv
from metapaas.testing.certificates import served_certificate
from metapaas.testing.controlplane import ControlPlane, free_port, wait_for
from metapaas.testing.imports import modules_loaded_by
from metapaas.testing.inprocess import Caller, InProcessControlPlane, in_process
from metapaas.testing.migrations import drift
from metapaas.testing.readme import SessionOutput, run_example_session
from metapaas.testing.views import instance_view, running_service, write_node

__all__ = [
    "Caller",
    "ControlPlane",
    "InProcessControlPlane",
    "SessionOutput",
    "drift",
    "free_port",
    "in_process",
    "instance_view",
    "modules_loaded_by",
    "render_argv",
    "run_example_session",
    "running_service",
    "served_certificate",
    "wait_for",
    "write_node",
]
