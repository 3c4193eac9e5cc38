"""A typed Python client of the MetaPaaS API, sync (:class:`Client`) and async
(:class:`AsyncClient`), on httpx.

It imports nothing of the server: a script needs only ``httpx`` and ``pydantic``.
Every error answer raises :class:`ApiError`, which carries the server's
problem details (status, title, detail and the fields at fault).
"""

from metapaas.client import models
from metapaas.client.calls import Call
from metapaas.client.errors import ApiError
from metapaas.client.models import (
    Event,
    InstanceView,
    Operation,
    Problem,
    ResourceView,
    TypeDetail,
    TypeSummary,
)
from metapaas.client.transport import AsyncClient, Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Call",
    "Client",
    "Event",
    "InstanceView",
    "Operation",
    "Problem",
    "ResourceView",
    "TypeDetail",
    "TypeSummary",
    "models",
]
