"""A type whose ``validate`` hook fails the way its spec asks: ``mood`` names the error.

``temporary`` raises :class:`sdk.TemporaryError` with ``delay`` seconds, ``permanent``
an :class:`sdk.PermanentError`; ``calm`` admits the request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from metapaas import sdk


class MoodySpec(BaseModel):
    mood: Literal["calm", "temporary", "permanent"] = "calm"
    delay: float = Field(default=1.0, ge=0, le=60)


class Moody(sdk.PaasType):
    slug = "moody"
    title = "Moody"
    versions = (sdk.Version("1.0"),)
    spec = MoodySpec

    def validate(self, instance: sdk.InstanceView) -> None:
        assert isinstance(instance.spec, MoodySpec)
        if instance.spec.mood == "temporary":
            raise sdk.TemporaryError("the backing service is busy", delay=instance.spec.delay)
        if instance.spec.mood == "permanent":
            raise sdk.PermanentError("this mood can never be served")
