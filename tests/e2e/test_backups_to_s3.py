"""An ``s3`` instance of this control plane keeps another instance's backups: the
repository names the instance, not an endpoint and keys, and the control plane points
it at where the instance serves, verified with its own CA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e

S3 = "/v1/types/s3/instances"
REDIS = "/v1/types/redis/instances"
POSTGRES = "/v1/types/postgres/instances"


def test_an_s3_instance_keeps_redis_and_postgres_backups_and_their_drills_restore_them(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    with control_plane.client() as client:
        made = client.post(S3, json={"name": "vault", "bucket_name": "backups"})
        assert made.status_code == 202, made.text
        vault = control_plane.wait_status(client, f"{S3}/vault", "ACTIVE")
        cache = client.post(REDIS, json={"name": "cache"})
        assert cache.status_code == 202, cache.text
        control_plane.wait_status(client, f"{REDIS}/cache", "ACTIVE")

        repository = {
            "name": "vault",
            "kind": "s3",
            "instance": f"{vault['project_id']}/vault",
            "bucket": "backups",
            "prefix": "metapaas",
        }
        registered = client.post("/v1/backup-repositories", json=repository)
        assert registered.status_code == 201, registered.text
        shown = registered.json()
        assert (shown["state"], shown["instance_id"]) == ("OK", vault["id"])
        assert f"https://{shown['endpoint']}" == vault["endpoints"]["s3"]
        assert "secret_access_key" not in shown

        policy = {"repository": "vault", "schedule": "0 3 * * *", "retention": {"count": 2}}
        assert client.put(f"{REDIS}/cache/backup-policy", json=policy).status_code == 200
        backup = verified_backup(client, f"{REDIS}/cache", 120)

        credentials = client.get(f"{S3}/vault/credentials").json()
        authority = tmp_path / "ca.pem"
        authority.write_text(credentials["ca_certificate"])
        s3 = boto3.client(
            "s3",
            endpoint_url=credentials["endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id=credentials["access_key_id"],
            aws_secret_access_key=credentials["secret_access_key"],
            config=Config(s3={"addressing_style": "path"}),
            verify=str(authority),
        )
        cache_id = client.get(f"{REDIS}/cache").json()["id"]
        stored = s3.list_objects_v2(Bucket="backups", Prefix=f"metapaas/{cache_id}/")
        keys = {o["Key"].removeprefix(f"metapaas/{cache_id}/") for o in stored["Contents"]}
        assert keys == set(backup["objects"])

        # pgBackRest speaks S3 itself, over HTTPS only, verifying with the same CA.
        db = client.post(POSTGRES, json={"name": "db"})
        assert db.status_code == 202, db.text
        control_plane.wait_status(client, f"{POSTGRES}/db", "ACTIVE", timeout=120)
        continuous = {**policy, "continuous": True}
        assert client.put(f"{POSTGRES}/db/backup-policy", json=continuous).status_code == 200
        verified_backup(client, f"{POSTGRES}/db", 180)  # pgBackRest's own S3 client
        db_id = client.get(f"{POSTGRES}/db").json()["id"]
        listed = s3.list_objects_v2(Bucket="backups", Prefix=f"metapaas/{db_id}/")
        assert listed["KeyCount"] > 0


def verified_backup(client: httpx.Client, instance: str, timeout: float) -> dict[str, Any]:
    """A backup of ``instance`` taken now into the s3 instance, once its drill restored
    it from there: it must be ``VERIFIED``."""
    started = client.post(f"{instance}/backups", json={})
    assert started.status_code == 202, started.text
    path = f"{instance}/backups/{started.json()['backup_id']}"
    ended = ("VERIFIED", "UNRESTORABLE", "FAILED")
    wait_for(
        lambda: client.get(path).json().get("state") in ended,
        timeout,
        f"a backup of {instance} into the s3 instance and its drill",
    )
    backup: dict[str, Any] = client.get(path).json()
    assert backup["state"] == "VERIFIED", backup["reason"]
    return backup
