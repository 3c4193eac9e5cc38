"""A testing kit for MetaPaaS and plugin authors: a real control plane in a subprocess."""

from metapaas.testing.controlplane import ControlPlane, free_port, wait_for

__all__ = ["ControlPlane", "free_port", "wait_for"]
