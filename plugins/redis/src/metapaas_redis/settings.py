"""The redis.conf settings a spec decides and a running server takes with CONFIG SET."""

from __future__ import annotations

from collections.abc import Mapping

from metapaas_redis.spec import Persistence, RedisSpec

RUNTIME_SETTINGS = ("maxmemory", "maxmemory-policy", "appendonly", "save")
"""Written to redis.conf for a start, applied live with CONFIG SET on a change."""

RDB_SAVE_POINTS = "3600 1 300 100 60 10000"
"""Redis's own default snapshot schedule: after N seconds if at least M keys changed."""

PERSISTENCE: Mapping[Persistence, Mapping[str, str]] = {
    "none": {"appendonly": "no", "save": ""},
    "rdb": {"appendonly": "no", "save": RDB_SAVE_POINTS},
    "aof": {"appendonly": "yes", "save": ""},
}


def runtime_settings(spec: RedisSpec) -> dict[str, str]:
    """Every setting of ``RUNTIME_SETTINGS`` with the value ``spec`` asks for."""
    return {
        "maxmemory": f"{spec.memory_mb}mb",
        "maxmemory-policy": spec.maxmemory_policy,
        **PERSISTENCE[spec.persistence],
    }
