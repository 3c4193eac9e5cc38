"""Hooks see the spec and child resources as the type's own models."""

from __future__ import annotations

from pydantic import BaseModel

from metapaas import sdk
from metapaas.testing import instance_view


class Spec(BaseModel):
    size: int = 1
    password: str = sdk.secret(generate=sdk.token())


class Item(BaseModel):
    name: str
    key: str = sdk.secret(generate=sdk.token(8))


ITEMS = sdk.ChildResource("items", Item)


class Typed(sdk.PaasType[Spec]):
    slug = "typed"
    title = "Typed"
    versions = (sdk.Version("1", default=True),)
    spec = Spec
    resources = (ITEMS,)

    def node_plan(self, instance: sdk.InstanceView[Spec]) -> tuple[sdk.NodeGroup, ...]:
        return (sdk.NodeGroup("main", count=instance.spec.size),)


def test_the_spec_is_the_types_model_with_its_generated_secret() -> None:
    view = instance_view(Typed(), {"size": 2})
    assert isinstance(view.spec, Spec)
    assert view.spec.password == view.secrets["password"]
    assert Typed().node_plan(view)[0].count == 2


def test_children_are_the_collections_model() -> None:
    view = instance_view(Typed(), resources={"items": [{"name": "a", "key": "k" * 8}]})
    (item,) = view.children(ITEMS)
    assert isinstance(item, Item)
    assert (item.name, item.key) == ("a", "k" * 8)
