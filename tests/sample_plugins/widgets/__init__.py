"""A well-formed type with an immutable field, a generated secret, a child
collection with its own markers, a rule across resources (``validate``), backups
(full and incremental, with its log archived: the steps are the simulated agents') and
a two-revision migration stream."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from metapaas import sdk


class WidgetSpec(BaseModel):
    size: int = Field(default=1, ge=1, le=10)
    color: str = sdk.immutable("red", pattern=r"^[a-z]+$")
    password: str | None = sdk.secret(generate=sdk.token())


class PartSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    serial: str = sdk.immutable("s-1")
    weight: int = Field(default=1, ge=0, le=100)
    key: str | None = sdk.secret(generate=sdk.token(8))


class Widgets(sdk.PaasType):
    slug = "widgets"
    title = "Widgets"
    versions = (
        sdk.Version("1.0", default=True),
        sdk.Version("2.0"),
        sdk.Version("0.9", deprecated=True),
    )
    spec = WidgetSpec
    resources = (sdk.ChildResource("parts", PartSpec),)
    migrations = Path(__file__).parent / "migrations" / "versions"
    backups = sdk.Backups(
        role="main",
        methods=("snapshot", "continuous"),
        consistency="every committed change up to the point restored",
        incremental=True,
    )

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        steps = ("backup", "restore", "verify", "expire")
        return sdk.DataPlane(commands=tuple(sdk.Command(step, ("true",)) for step in steps))

    def validate(self, instance: sdk.InstanceView) -> None:
        assert isinstance(instance.spec, WidgetSpec)
        weight = sum(part["weight"] for part in instance.resources["parts"])
        if weight > instance.spec.size * 10:
            limit = instance.spec.size * 10
            raise sdk.Invalid("weight", "capacity", f"parts would weigh {weight}, over {limit}")
