"""Serving the control plane in process generations handed over on one socket."""
