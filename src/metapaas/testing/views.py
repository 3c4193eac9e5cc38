"""A plugin's hooks and node files without a control plane: for fast unit tests.

``instance_view`` makes what hooks see of an instance, validated and with its
generated secrets made as the API makes them; ``write_node`` renders a role's
templates into a directory through the agent's own apply code, from the
metadata document the control plane would publish, and returns the render
context (to render an argv with ``render_argv``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metapaas import sdk, tls
from metapaas.agent.apply import apply_template
from metapaas.agent.render import certificate_templates, node_context
from metapaas.db.models import utcnow
from metapaas.orchestrator import metadata_document
from metapaas.sdk import introspect

TEST_INSTANCE_ID = "00000000-0000-4000-8000-000000000001"


def instance_view(
    declaration: sdk.PaasType,
    spec: Mapping[str, Any] | None = None,
    *,
    resources: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    name: str = "test",
    version: str | None = None,
) -> sdk.InstanceView:
    """An instance of ``declaration`` with ``spec`` (defaults filled, secrets generated
    where the type generates them) and child ``resources`` by collection."""
    values = dict(spec or {})
    for field, generate in introspect.secret_generators(declaration.spec).items():
        if values.get(field) is None:
            values[field] = generate()
    model = declaration.spec.model_validate(values)
    secret_fields = introspect.fields_marked(declaration.spec, introspect.SECRET_KEY)
    secrets = {f: str(v) for f in secret_fields if (v := getattr(model, f)) is not None}
    children: dict[str, list[dict[str, Any]]] = {r.collection: [] for r in declaration.resources}
    for collection, items in (resources or {}).items():
        children[collection] = [dict(item) for item in items]
    return sdk.InstanceView(
        id=TEST_INSTANCE_ID,
        slug=declaration.slug,
        name=name,
        project_id="test-project",
        version=_version(declaration, version),
        generation=1,
        spec=model,
        secrets=secrets,
        resources=children,
    )


def write_node(
    declaration: sdk.PaasType,
    view: sdk.InstanceView,
    node_dir: Path,
    ports: Mapping[str, int],
    *,
    role: str = "main",
    address: str = "127.0.0.1",
    authority: tls.Authority | None = None,
    certificate: tls.Issued | None = None,
) -> dict[str, Any]:
    """Write ``role``'s templates into ``node_dir`` as its agent would (checks run,
    reloads do not: a test runs them when its engine serves); return the context.

    With ``authority``, the node has a server certificate signed by it (``certificate``,
    or one issued now for the node's address and name), written as the agent writes
    it (``sdk.TLS_*``), and ``node.tls`` names its files."""
    node = sdk.NodeView(f"test-{role}-0", role, 0, address, dict(ports))
    document = metadata_document(view, declaration, [node])
    document["node"] = {
        "name": node.name,
        "role": role,
        "ordinal": 0,
        "address": address,
        "ports": dict(ports),
    }
    if authority is not None:
        issued = certificate or authority.issue([address, node.name], utcnow())
        pem = {"certificate": issued.certificate, "key": issued.key}
        document["node"]["pem"] = {**pem, "authority": authority.certificate_pem}
    context = node_context(document, node_dir)
    node_dir.mkdir(parents=True, exist_ok=True)
    plane = declaration.data_plane(role, view.version)
    for template in (*certificate_templates(document, plane.tls_reload), *plane.templates):
        apply_template(template, node_dir, context)
    return context


def _version(declaration: sdk.PaasType, name: str | None) -> sdk.Version:
    versions = list(declaration.versions)
    if name is not None:
        return next(v for v in versions if v.name == name)
    return next((v for v in versions if v.default), versions[0])
