"""Instances and child resources of any type: the logic behind the derived routes.

Nothing here knows a particular type; everything comes from the type's
declaration and the models derived from it. By job: what the API answers
(``views``), finding what a request names (``lookups``), the desired state a request
makes (``desired``), and the changes it records (``changes``).
"""

from metapaas.api.instances.changes import (
    create_instance,
    create_resource,
    delete_instance,
    delete_resource,
    flush_unique,
    retry_instance,
    update_instance,
    update_resource,
)
from metapaas.api.instances.lookups import (
    find_instance,
    find_resource,
    live_instances,
    resources_of,
)
from metapaas.api.instances.views import (
    credentials,
    event_views,
    instance_view,
    node_views,
    operation_view,
    resource_view,
)

__all__ = [
    "create_instance",
    "create_resource",
    "credentials",
    "delete_instance",
    "delete_resource",
    "event_views",
    "find_instance",
    "find_resource",
    "flush_unique",
    "instance_view",
    "live_instances",
    "node_views",
    "operation_view",
    "resource_view",
    "resources_of",
    "retry_instance",
    "update_instance",
    "update_resource",
]
