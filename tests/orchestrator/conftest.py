"""The orchestrator's tests run a :class:`Rig`: the real API and reconciler over the
in-memory provider, simulated agents and a fake clock, on each database backend."""

from __future__ import annotations

import pytest

from metapaas.plugins import Registry
from tests import sample_plugins
from tests.conftest import MakeApi, standard_entry_points
from tests.orchestrator.rig import Rig


@pytest.fixture
def rig(make_api: MakeApi) -> Rig:
    registry = Registry.discover(found=[*standard_entry_points(), sample_plugins.CLUSTERS])
    return Rig(make_api(registry))
