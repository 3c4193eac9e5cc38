"""The orchestrator's tests run a :class:`Rig`: the real API and reconciler over the
in-memory provider, simulated agents and a fake clock, on each database backend."""

from __future__ import annotations

import pytest

from metapaas.plugins import Registry
from metapaas.testing.agents import SimulatedAgents
from metapaas.testing.clock import FakeClock
from metapaas.testing.memory import MemoryProvider
from tests import sample_plugins
from tests.conftest import MakeApi, standard_entry_points
from tests.orchestrator.rig import Rig


@pytest.fixture
def rig(make_api: MakeApi) -> Rig:
    registry = Registry.discover(found=[*standard_entry_points(), sample_plugins.CLUSTERS])
    api = make_api(registry)
    clock = FakeClock()
    api.state.clock = clock
    provider = MemoryProvider()
    return Rig(api, clock, provider, SimulatedAgents(api.client, provider))
