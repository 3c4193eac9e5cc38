"""The PaaS type declaration: the one class a plugin subclasses.

Class attributes say *what* the type is; the methods marked ``@hookspec`` are
the hooks the runtime calls, in the order documented here. Their docstrings are
the plugin guide (``docs/plugin-contract.md`` is generated from them and a test
keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic

from pydantic import BaseModel
from typing_extensions import TypeVar  # a default for the type parameter (PEP 696) on 3.11

from metapaas.sdk._backups import Backups
from metapaas.sdk._dataplane import DataPlane, NodeGroup

F = TypeVar("F", bound=Callable[..., Any])
SpecT = TypeVar("SpecT", bound=BaseModel, default=BaseModel)
"""The instance spec model of a type: what ``instance.spec`` is in its hooks."""
SpecT_co = TypeVar("SpecT_co", bound=BaseModel, default=BaseModel, covariant=True)
"""The same, in a read-only view: an ``InstanceView[HelloSpec]`` is an ``InstanceView``."""
ChildT = TypeVar("ChildT", bound=BaseModel, default=BaseModel)
"""The spec model of a child collection."""

_HOOK_ATTR = "_metapaas_hook"
ENTRY_POINT_GROUP = "metapaas.plugins"
"""The entry-point group a plugin registers its :class:`PaasType` subclasses in."""


def hookspec(phase: str) -> Callable[[F], F]:
    """Mark a method of :class:`PaasType` as a hook of the given phase."""

    def mark(func: F) -> F:
        setattr(func, _HOOK_ATTR, phase)
        return func

    return mark


def hook_phase(func: object) -> str | None:
    """The phase a hook belongs to, or None when ``func`` is no hook."""
    phase = getattr(func, _HOOK_ATTR, None)
    return phase if isinstance(phase, str) else None


@dataclass(frozen=True)
class Version:
    """One entry of a type's catalog: the engine release an instance runs.

    ``engine`` is free-form data the type's hooks read (a binary path, an image
    name, a download URL); ``default`` marks the version used when a create
    names none; a ``deprecated`` version serves existing instances but cannot
    be chosen for new ones.
    """

    name: str
    engine: Mapping[str, Any] = field(default_factory=dict)
    default: bool = False
    deprecated: bool = False


@dataclass(frozen=True)
class ChildResource(Generic[ChildT]):
    """A collection that lives inside an instance, e.g. S3 ``buckets``.

    ``spec`` must have a ``name`` field: it addresses the resource within its
    instance. Fields marked :func:`immutable` cannot change after create;
    fields marked :func:`secret` are stored encrypted and shown only in the
    create response. Node-only secrets belong to the instance spec, not here.
    """

    collection: str
    spec: type[ChildT]
    title: str = ""


@dataclass(frozen=True)
class InstanceView(Generic[SpecT_co]):
    """What hooks see of an instance: read-only, already validated.

    ``secrets`` holds the spec's secret fields by name (they are in ``spec``
    too). The hooks whose results reach users (``initial_resources``,
    ``validate``, ``endpoints``, ``credentials``) see no node-only secret
    (``sdk.secret(node_only=True)``): it is absent from ``secrets`` and None in
    ``spec`` (whatever its annotation says: those hooks have no use for it).
    ``node_plan`` and ``node_metadata``, which serve the nodes, see it. A
    generated secret (``password: str = sdk.secret(generate=sdk.token())``) is
    made at create, so it is never None in a view.

    ``spec`` is the type's own model (``InstanceView[HelloSpec]``);
    ``resources`` holds the child resources as mappings by collection, and
    :meth:`children` gives them as their collection's model.
    """

    id: str
    slug: str
    name: str
    project_id: str
    version: Version
    generation: int
    spec: SpecT_co
    secrets: Mapping[str, str]
    resources: Mapping[str, Sequence[Mapping[str, Any]]]

    def children(self, resource: ChildResource[ChildT]) -> list[ChildT]:
        """The instance's resources of ``resource``'s collection, each as its spec model
        (secrets included)."""
        items = self.resources.get(resource.collection, ())
        return [resource.spec.model_validate(item) for item in items]


@dataclass(frozen=True)
class NodeView:
    """What hooks see of a node: its role, name, address and allocated ports."""

    name: str
    role: str
    ordinal: int
    address: str
    ports: Mapping[str, int]


class PaasType(Generic[SpecT]):
    """Subclass this to declare a PaaS type; register the class under the
    ``metapaas.plugins`` entry-point group.

    Name the spec model as the type parameter (``class Hello(sdk.PaasType[HelloSpec])``)
    and the hooks see ``instance.spec`` as a ``HelloSpec``.

    Required class attributes: ``slug``, ``title``, ``versions``, ``spec``.
    Optional: ``description``, ``resources``, ``migrations`` (a directory of
    Alembic revisions for the type's own tables, all prefixed ``<slug>_``).
    """

    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    versions: ClassVar[Sequence[Version]]
    # Not a ClassVar: a ClassVar cannot name the type parameter. Subclasses set it on
    # the class all the same.
    spec: type[SpecT]
    resources: ClassVar[Sequence[ChildResource[Any]]] = ()
    migrations: ClassVar[Path | None] = None
    #: Debian packages a node of the type needs on its machine (e.g. ``redis-server``): a
    #: host without them runs no node of the type, unless its policy lets the control
    #: plane install them.
    debian_packages: ClassVar[Sequence[str]] = ()
    #: Seconds without a heartbeat before a node is UNREACHABLE and replaced.
    unreachable_after: ClassVar[float] = 20.0
    #: Seconds a node may stay UNHEALTHY (its agent restarting the service) before it is replaced.
    replace_unhealthy_after: ClassVar[float] = 60.0
    #: Whether nodes get the secret fields (instance and child resources) in their
    #: metadata. A type whose ``node_metadata`` derives what its engine needs (e.g.
    #: password hashes) sets False, so no plaintext secret of its users reaches its
    #: nodes; its node-only secrets reach them either way (they exist for the nodes).
    node_secrets: ClassVar[bool] = True
    #: What the type's engine can keep of an instance, and how (``sdk.Backups``): the
    #: control plane schedules, catalogues, verifies and restores its backups. None: the
    #: type keeps no backups, and a backup request names it in a 409.
    backups: ClassVar[Backups | None] = None

    # -- control plane: what the API and the orchestrator ask -----------------

    @hookspec("control plane")
    def initial_resources(
        self, instance: InstanceView[SpecT]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        """Return the child resources created together with the instance, by collection.

        Called by the API when an instance is created, with the instance as
        requested (no child resources yet). Each item is validated by its
        collection's model, like the body of a create of that collection, and
        written in the same transaction as the instance, audited as such a
        create; ``validate`` then sees them. A bad one is a 422 and nothing is
        written. Use it for a resource the spec names, e.g. the bucket an S3
        instance is created with, so it is listed and managed like any other.
        Their secrets appear in no response, so leave resources whose secrets
        users need to be created by the users. The default creates none.
        """
        return {}

    @hookspec("control plane")
    def validate(self, instance: InstanceView[SpecT]) -> None:
        """Refuse a change that the schemas alone cannot judge: raise ``sdk.Invalid``.

        Called by the API with the state a request would produce (the
        instance's spec and every child resource, the change included) before
        any create, update or delete of the instance or a child resource is
        committed (at an instance create, with the resources
        ``initial_resources`` returned). Use it for rules across resources,
        e.g. a grant naming a database that does not exist. The API answers 422 with the field and
        rule, and writes nothing. The default accepts everything.
        """

    @hookspec("control plane")
    def node_plan(self, instance: InstanceView[SpecT]) -> Sequence[NodeGroup]:
        """Return the nodes the instance needs: roles, counts and ports (``sdk.Port``).

        Called by the orchestrator at the start of every reconcile pass (after
        a request, an agent's report, or the resync finding a node that needs it), with the view
        nodes get (node-only secrets included). It creates the nodes that are
        missing and removes the ones no longer planned, keyed by
        ``<instance>-<role>-<ordinal>``. The default is one ``main`` node with
        no allocated port.
        """
        return (NodeGroup(role="main"),)

    @hookspec("control plane")
    def node_metadata(self, instance: InstanceView[SpecT]) -> Mapping[str, Any]:
        """Return extra data published to the instance's nodes under ``extra``.

        Called by the orchestrator on every reconcile pass, as it builds the
        metadata document, with the view nodes get; the document becomes a new
        revision only when it changed, so the answer must depend on the
        instance alone (no clock, no fresh random salt). Use it for values
        derived from the spec that templates would otherwise compute (e.g.
        password hashes). The default is empty.
        """
        return {}

    @hookspec("control plane")
    def endpoints(
        self, instance: InstanceView[SpecT], nodes: Sequence[NodeView]
    ) -> Mapping[str, str]:
        """Return the addresses users connect to, shown on the instance.

        Called by the orchestrator on every reconcile pass that judges the
        instance ``ACTIVE``; the answer is stored on the instance and shown by
        the API. The default ``credentials`` calls it too. The default lists
        each node's allocated ports as ``<node>.<port-name>: host:port``.
        """
        return {
            f"{node.name}.{port}": f"{node.address}:{number}"
            for node in nodes
            for port, number in node.ports.items()
        }

    @hookspec("control plane")
    def credentials(
        self, instance: InstanceView[SpecT], nodes: Sequence[NodeView]
    ) -> Mapping[str, Any]:
        """Return what a client needs to connect, served by the credentials endpoint.

        Called by the API for ``GET .../credentials`` (permission
        ``<slug>.credentials.get``), once the instance has been ``ACTIVE``; it
        is the only answer that shows secrets after create. The default
        returns the endpoints and the instance's secret fields. Node-only
        secrets are not in ``instance``, and the runtime drops from the answer
        any value equal to one of them.
        """
        return {"endpoints": dict(self.endpoints(instance, nodes)), **instance.secrets}

    # -- data plane: what the agent applies on every node ----------------------

    @hookspec("data plane")
    def data_plane(self, role: str, version: Version) -> DataPlane:
        """Return the templates, services, health checks and lifecycle commands
        for a node of ``role`` running ``version``.

        Called by the agent on the node each time it applies a metadata
        revision, and by the orchestrator on every reconcile pass to find the
        role's ``init`` command. Everything in it is rendered from the node's
        metadata. The default runs nothing, which suits a type whose nodes
        only hold data.
        """
        return DataPlane()
