"""A plugin's hooks and node files without a control plane: for fast unit tests.

``instance_view`` makes what hooks see of an instance, validated and with its
generated secrets made as the API makes them; ``write_node`` renders a role's
templates into a directory through the agent's own apply code, from the
metadata document the control plane would publish (with a certificate for a
role with a TLS port), and returns the render context (to render an argv with
``render_argv``); ``running_service`` runs one of the role's services from it, as the agent's
supervisor would, for as long as a test needs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from metapaas import sdk, tls
from metapaas.agent.apply import apply_template
from metapaas.agent.render import certificate_templates, node_context, render_argv, render_env
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
    backup: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``role``'s templates into ``node_dir`` as its agent would (checks run,
    reloads do not: a test runs them when its engine serves); return the context.

    A role with a TLS port gets its certificate files first, as the agent writes them:
    ``certificate``, or one ``authority`` issues now for the node's address and name
    as the orchestrator would (a new authority unless given: pass one to verify the
    node against it). ``backup`` is the document's ``backup`` part (``store`` and
    ``source``, as ``sdk.Backups`` describes them): none by default."""
    node = sdk.NodeView(f"test-{role}-0", role, 0, address, dict(ports))
    document = metadata_document(view, declaration, [node], backup)
    document["node"] = {
        "name": node.name,
        "role": role,
        "ordinal": 0,
        "address": address,
        "ports": dict(ports),
    }
    if _serves_tls(declaration, view, role):
        signer = authority or tls.Authority.new("MetaPaaS test CA", utcnow())
        issued = certificate or signer.issue([address, node.name], utcnow())
        document["node"]["pem"] = {
            "certificate": issued.certificate,
            "key": issued.key,
            "authority": signer.certificate_pem,
        }
    context = node_context(document, node_dir)
    node_dir.mkdir(parents=True, exist_ok=True)
    plane = declaration.data_plane(role, view.version)
    for template in (*certificate_templates(document, plane.tls_reload), *plane.templates):
        apply_template(template, node_dir, context)
    return context


@contextlib.contextmanager
def running_service(
    service: sdk.Service, context: Mapping[str, Any], node_dir: Path, *, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``service`` rendered with ``context`` (``write_node``'s) in ``node_dir``, as the
    agent's supervisor starts it (its environment added to the test's, its output to
    ``log`` when given); stopped as the agent stops it: SIGTERM, then SIGKILL after its
    ``stop_timeout``."""
    argv = render_argv(service.argv, context, where=f"service {service.name}")
    env = {**os.environ, **render_env(service.env, context, where=f"service {service.name}")}
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(log.open("wb")) if log is not None else None
        process = subprocess.Popen(argv, cwd=node_dir, env=env, stdout=output, stderr=output)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(service.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _serves_tls(declaration: sdk.PaasType, view: sdk.InstanceView, role: str) -> bool:
    groups = declaration.node_plan(view)
    return any(port.tls for group in groups if group.role == role for port in group.ports)


def _version(declaration: sdk.PaasType, name: str | None) -> sdk.Version:
    versions = list(declaration.versions)
    if name is not None:
        return next(v for v in versions if v.name == name)
    return next((v for v in versions if v.default), versions[0])
