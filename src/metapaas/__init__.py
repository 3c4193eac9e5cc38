"""MetaPaaS: one control plane for many managed service types."""

__version__ = "0.1.0"
