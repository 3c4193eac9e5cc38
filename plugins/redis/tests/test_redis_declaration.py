"""The redis declaration without a server: input rules, ACL lines, settings and hooks."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from metapaas_redis import SERVER_OVERHEAD_MB, Redis
from metapaas_redis.acl import acl_entries, user_rules
from metapaas_redis.settings import RUNTIME_SETTINGS, runtime_settings
from metapaas_redis.spec import RedisSpec, UserSpec
from pydantic import ValidationError

from metapaas import sdk
from metapaas.testing import instance_view

REDIS = Redis()
GOOD_USER = {"name": "app", "password": "p" * 16, "keys": ["app:*"]}


def rules_broken(model: type[RedisSpec | UserSpec], data: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ({"memory_mb": 15}, "memory_mb", "greater_than_equal"),
        ({"memory_mb": 65537}, "memory_mb", "less_than_equal"),
        ({"maxmemory_policy": "lru"}, "maxmemory_policy", "literal_error"),
        ({"persistence": "disk"}, "persistence", "literal_error"),
        ({"password": "short"}, "password", "string_too_short"),
    ],
    ids=[
        "memory below 16 MiB names memory_mb",
        "memory above 64 GiB names memory_mb",
        "an unknown eviction policy names maxmemory_policy",
        "an unknown persistence names persistence",
        "a short given password names password",
    ],
)
def test_bad_instance_spec_names_field_and_rule(
    data: dict[str, Any], field: str, rule: str
) -> None:
    assert (field, rule) in rules_broken(RedisSpec, data)


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"name": "default"}, "name", "reserved"),
        ({"name": "metapaas-admin"}, "name", "reserved"),
        ({"name": "App"}, "name", "string_pattern_mismatch"),
        ({"keys": []}, "keys", "too_short"),
        ({"keys": ["a b"]}, "keys.0", "string_pattern_mismatch"),
        ({"keys": ['say"hi']}, "keys.0", "string_pattern_mismatch"),
        ({"keys": [""]}, "keys.0", "string_pattern_mismatch"),
        ({"access": "admin"}, "access", "literal_error"),
    ],
    ids=[
        "the default user is the instance's own",
        "metapaas* names are the platform's",
        "an upper-case name breaks the Redis-safe pattern",
        "a user without key patterns could touch nothing",
        "a pattern with a blank would split the ACL line",
        "a pattern with a quote would change the ACL line",
        "an empty pattern is refused",
        "access is readonly or readwrite",
    ],
)
def test_bad_user_names_field_and_rule(change: dict[str, Any], field: str, rule: str) -> None:
    assert (field, rule) in rules_broken(UserSpec, GOOD_USER | change)


def test_defaults_are_a_small_snapshotting_cache() -> None:
    spec = RedisSpec()
    assert (spec.memory_mb, spec.maxmemory_policy, spec.persistence) == (64, "noeviction", "rdb")
    assert runtime_settings(spec) == {
        "maxmemory": "64mb",
        "maxmemory-policy": "noeviction",
        "appendonly": "no",
        "save": "3600 1 300 100 60 10000",
    }


@pytest.mark.parametrize(
    ("persistence", "appendonly", "save"),
    [("none", "no", ""), ("rdb", "no", "3600 1 300 100 60 10000"), ("aof", "yes", "")],
)
def test_persistence_maps_to_appendonly_and_save(
    persistence: str, appendonly: str, save: str
) -> None:
    settings = runtime_settings(RedisSpec.model_validate({"persistence": persistence}))
    assert tuple(settings) == RUNTIME_SETTINGS
    assert (settings["appendonly"], settings["save"]) == (appendonly, save)


def test_acl_entries_hold_hashes_and_rules_never_passwords() -> None:
    users = [
        UserSpec(name="zed", password="z" * 16, keys=["z:*"], access="readwrite"),
        UserSpec(name="reader", password="r" * 16, keys=["a:*", "b:?"], access="readonly"),
    ]
    entries = acl_entries("owner-password-123", users)
    assert [e["name"] for e in entries] == ["default", "reader", "zed"]
    default, reader, _ = entries
    assert default["password_sha256"] == hashlib.sha256(b"owner-password-123").hexdigest()
    assert "owner-password-123" not in str(entries)
    assert "r" * 16 not in str(entries)
    assert default["rules"] == "~* &* +@all -@admin +config|get"
    assert reader["rules"] == (
        "resetkeys ~a:* ~b:? resetchannels -@all +@read +@connection -@dangerous"
    )


def test_a_readwrite_user_gets_every_command_but_dangerous_ones() -> None:
    user = UserSpec.model_validate(GOOD_USER | {"access": "readwrite"})
    assert user_rules(user) == "resetkeys ~app:* resetchannels +@all -@dangerous"


def test_nodes_publish_settings_and_acl_users() -> None:
    extra = REDIS.node_metadata(_view(users=[GOOD_USER]))
    assert extra["settings"] == runtime_settings(RedisSpec(password="x" * 16))
    assert [user["name"] for user in extra["acl_users"]] == ["default", "app"]


def test_credentials_name_the_node_say_tls_and_quote_the_password_in_the_url() -> None:
    view = _view(password="p@ss/word:0123456789")
    node = sdk.NodeView("n-main-0", "main", 0, "127.0.0.1", {"redis": 40123})
    assert REDIS.credentials(view, [node]) == {
        "host": "127.0.0.1",
        "port": 40123,
        "username": "default",
        "password": "p@ss/word:0123456789",
        "tls": True,
        "url": "rediss://default:p%40ss%2Fword%3A0123456789@127.0.0.1:40123/0",
    }
    assert REDIS.endpoints(view, [node]) == {"redis": "127.0.0.1:40123"}


def test_credentials_before_the_node_has_a_port_ask_for_a_retry() -> None:
    with pytest.raises(sdk.TemporaryError):
        REDIS.credentials(_view(), [])


def test_one_node_with_a_tls_redis_port_and_the_engine_binary_required() -> None:
    (group,) = REDIS.node_plan(_view())
    port = sdk.Port("redis", 6379, tls=True)
    assert (group.role, group.count, group.ports) == ("main", 1, (port,))
    assert group.memory_mb == _view().spec.memory_mb + SERVER_OVERHEAD_MB  # reserved on a host
    plane = REDIS.data_plane("main", REDIS.versions[0])
    assert plane.required_binaries == ("redis-server",)
    assert plane.services[0].argv[-2:] == ("serve", "redis-server")
    assert plane.tls_reload[-1] == "reload-tls"


def _view(password: str = "x" * 16, users: list[dict[str, Any]] | None = None) -> sdk.InstanceView:
    return instance_view(REDIS, {"password": password}, resources={"users": users or []})
