"""The redis type's backup steps, run by the agent in the node directory.

    python -m metapaas_redis.snapshot backup --staging DIR --result FILE
    python -m metapaas_redis.snapshot restore --staging DIR
    python -m metapaas_redis.snapshot verify --keys N [--expiring N] --result FILE

The agent stores the snapshot (``sdk.Backups(stored_by="agent")``): ``backup``
only has Redis write an RDB (BGSAVE), copies it into the staging directory and
reports the key count at the save; ``restore`` puts a staged RDB where
redis-server loads it at start; ``verify`` counts the keys a restored server
serves. Each talks to Redis as :mod:`metapaas_redis.node`'s reloads do (TLS, the
node's admin user).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metapaas import sdk
from metapaas_redis.node import CONFIG, admin_connection, read_config

if TYPE_CHECKING:
    import redis

DUMP = "dump.rdb"
"""The staged snapshot's name: the stored object is ``<backup>/dump.rdb``."""
POLL_SECONDS = 0.05
SAVE_ATTEMPTS = 5
"""BGSAVE is refused while Redis's own save or AOF rewrite runs; it is asked again."""
LOADING_ATTEMPTS = 600
"""A restored server answers LOADING until its dataset is in memory (up to a minute here)."""
AOF_SEQUENCE = 1


def backup(node_dir: Path, staging: Path, result: Path) -> None:
    """BGSAVE, wait for it, copy the RDB it wrote into ``staging``; report the keys saved."""
    config = read_config(node_dir / CONFIG)
    dump = Path(config["dir"][0]) / config["dbfilename"][0]
    with admin_connection(node_dir) as connection:
        keyspace = _save(connection)
        saves = _persistence(connection)["rdb_saves"]
        with dump.open("rb") as saved:
            # Opened after our save and before another one: the file is ours.
            if _persistence(connection)["rdb_saves"] != saves:
                sys.exit("backup failed: another save replaced the dump before it was copied")
            with (staging / DUMP).open("wb") as copy:
                shutil.copyfileobj(saved, copy, 1 << 20)
    position = {"keys": _count(keyspace, "keys"), "expires": _count(keyspace, "expires")}
    sdk.write_private(result, json.dumps({"position": position}))


def _save(connection: redis.Redis) -> Mapping[str, Any]:
    """Run one BGSAVE; the keyspace at the moment it forked.

    INFO and BGSAVE go in one pipeline: Redis runs a client's pipelined commands
    back to back, so no other client's write falls between the count and the fork.
    (Inside MULTI, BGSAVE would only be scheduled, for a later fork.)
    """
    for _ in range(SAVE_ATTEMPTS):
        _wait_idle(connection)
        keyspace = _bgsave(connection)
        if keyspace is not None:
            status = _wait_idle(connection)["rdb_last_bgsave_status"]
            if status != "ok":
                sys.exit(f"backup failed: Redis's BGSAVE ended {status!r} (see its log)")
            return keyspace
    sys.exit(f"backup failed: Redis refused BGSAVE {SAVE_ATTEMPTS} times: a save was running")


def _bgsave(connection: redis.Redis) -> Mapping[str, Any] | None:
    """The keyspace at the fork of a BGSAVE; None when Redis started a save of its own
    in the meantime and refused ours."""
    import redis

    pipeline = connection.pipeline(transaction=False)
    pipeline.info("keyspace")
    pipeline.bgsave()
    try:
        keyspace, _ = pipeline.execute()
    except redis.ResponseError as exc:
        if "in progress" in str(exc):
            return None
        raise
    return dict(keyspace)


def _wait_idle(connection: redis.Redis) -> Mapping[str, Any]:
    """Wait until Redis runs no save and no AOF rewrite; its persistence INFO then."""
    while True:
        info = _persistence(connection)
        if not info["rdb_bgsave_in_progress"] and not info["aof_rewrite_in_progress"]:
            return info
        time.sleep(POLL_SECONDS)


def _persistence(connection: redis.Redis) -> Mapping[str, Any]:
    return dict(connection.info("persistence"))


def _count(keyspace: Mapping[str, Any], field: str) -> int:
    """``field`` (``keys`` or ``expires``) summed over every database (``db0``, ``db1``...)."""
    return sum(int(db[field]) for name, db in keyspace.items() if name.startswith("db"))


def restore(node_dir: Path, staging: Path) -> None:
    """Move the staged RDB to where redis-server loads it at start: the dump file, or, with
    AOF on, the base of a new AOF (an RDB base is loaded whole; Redis ignores the dump
    when AOF is on)."""
    config = read_config(node_dir / CONFIG)
    data = Path(config["dir"][0])
    data.mkdir(mode=0o700, exist_ok=True)
    aof = data / config.get("appenddirname", ["appendonlydir"])[0]
    dump = data / config["dbfilename"][0]
    for existing in (aof, dump):
        if existing.exists():
            sys.exit(f"restore failed: the volume already holds {existing}; a restore needs none")
    if config["appendonly"][0] != "yes":
        shutil.move(staging / DUMP, dump)
        return
    base = f"{config['appendfilename'][0]}.{AOF_SEQUENCE}.base.rdb"
    aof.mkdir(mode=0o700)
    shutil.move(staging / DUMP, aof / base)
    manifest = f"file {base} seq {AOF_SEQUENCE} type b\n"
    sdk.write_private(aof / f"{config['appendfilename'][0]}.manifest", manifest)


def verify(node_dir: Path, keys: int, expiring: int, result: Path) -> None:
    """Count the keys the restored server serves; fail naming both counts unless it is the
    backup's, less at most the ``expiring`` keys that had a TTL (they may have expired)."""
    import redis

    with admin_connection(node_dir) as connection:
        sdk.wait_until_ready(
            connection.ping,
            what="the restored server to load its data",
            attempts=LOADING_ATTEMPTS,
            interval=0.1,
            retry_on=(redis.BusyLoadingError,),
        )
        count = _count(connection.info("keyspace"), "keys")
    if not keys - expiring <= count <= keys:
        sys.exit(f"verify failed: the restored server holds {count} keys, the backup {keys}")
    check = f"the restored server holds {count} keys; the backup recorded {keys}"
    sdk.write_private(result, json.dumps({"check": check}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metapaas_redis.snapshot", description=__doc__)
    parser.add_argument("--node-dir", type=Path, default=Path.cwd())
    steps = parser.add_subparsers(dest="step", required=True)
    saving = steps.add_parser("backup")
    saving.add_argument("--staging", type=Path, required=True)
    saving.add_argument("--result", type=Path, required=True)
    steps.add_parser("restore").add_argument("--staging", type=Path, required=True)
    checking = steps.add_parser("verify")
    checking.add_argument("--keys", type=int, required=True, help="the keys the backup saved")
    checking.add_argument("--expiring", type=int, default=0, help="of them, those with a TTL")
    checking.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    node_dir = args.node_dir.resolve()
    import redis  # here, as in metapaas_redis.node: the declaration needs no client

    try:
        if args.step == "backup":
            backup(node_dir, args.staging, args.result)
        elif args.step == "restore":
            restore(node_dir, args.staging)
        else:
            verify(node_dir, args.keys, args.expiring, args.result)
    except (redis.RedisError, sdk.NotReady, OSError) as exc:
        sys.exit(f"{args.step} failed: {exc}")


if __name__ == "__main__":
    main()
