"""The plugin author's one import: declare a PaaS type and its data plane.

A minimal type::

    from pydantic import BaseModel
    from metapaas import sdk

    class Spec(BaseModel):
        message: str = "hello"

    class Hello(sdk.PaasType):
        slug = "hello"
        title = "Hello"
        versions = [sdk.Version("1.0", default=True)]
        spec = Spec

and in ``pyproject.toml``::

    [project.entry-points."metapaas.plugins"]
    hello = "hello_plugin:Hello"
"""

from metapaas.sdk._dataplane import (
    Command,
    DataPlane,
    HealthCheck,
    LifecycleName,
    NodeGroup,
    Service,
    Template,
)
from metapaas.sdk._declaration import (
    ChildResource,
    InstanceView,
    NodeView,
    PaasType,
    Version,
    hook_phase,
    hookspec,
)
from metapaas.sdk._errors import Invalid, PermanentError, PluginError, TemporaryError
from metapaas.sdk._fields import (
    IMMUTABLE_KEY,
    NODE_ONLY_KEY,
    SECRET_KEY,
    fields_marked,
    immutable,
    secret,
    secret_generators,
    token,
)

__all__ = [
    "IMMUTABLE_KEY",
    "NODE_ONLY_KEY",
    "SECRET_KEY",
    "ChildResource",
    "Command",
    "DataPlane",
    "HealthCheck",
    "InstanceView",
    "Invalid",
    "LifecycleName",
    "NodeGroup",
    "NodeView",
    "PaasType",
    "PermanentError",
    "PluginError",
    "Service",
    "Template",
    "TemporaryError",
    "Version",
    "fields_marked",
    "hook_phase",
    "hookspec",
    "immutable",
    "secret",
    "secret_generators",
    "token",
]
