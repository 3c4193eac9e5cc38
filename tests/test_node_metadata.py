"""The metadata document nodes read: what the control plane publishes of an instance."""

from __future__ import annotations

import pytest

from metapaas import sdk
from metapaas.orchestrator import metadata_document
from metapaas.testing import instance_view
from tests.sample_plugins.widgets import Widgets

NODE = sdk.NodeView("w-main-0", "main", 0, "127.0.0.1", {"http": 40000})
PART = {"name": "p1", "serial": "s-1", "weight": 3, "key": "part-key-1"}


class SealedWidgets(Widgets):
    """Widgets whose nodes get no plaintext secret, only what node_metadata derives."""

    node_secrets = False

    def node_metadata(self, instance: sdk.InstanceView) -> dict[str, object]:
        return {"password_length": len(instance.secrets["password"])}


@pytest.mark.parametrize(
    ("declaration", "shown"),
    [
        pytest.param(Widgets(), True, id="a type's nodes get its secrets by default"),
        pytest.param(SealedWidgets(), False, id="node_secrets = False keeps them off nodes"),
    ],
)
def test_secret_fields_reach_nodes_only_when_the_type_lets_them(
    declaration: Widgets, shown: bool
) -> None:
    view = instance_view(declaration, {"password": "hunter2-hunter2"}, resources={"parts": [PART]})
    document = metadata_document(view, declaration, [NODE])
    text = repr(document)
    assert ("hunter2-hunter2" in text) is shown
    assert ("part-key-1" in text) is shown
    assert document["instance"]["spec"]["size"] == 1
    assert document["resources"]["parts"][0]["weight"] == 3
    assert document["peers"]["main"][0]["ports"] == {"http": 40000}
    if not shown:
        assert document["extra"] == {"password_length": 15}
