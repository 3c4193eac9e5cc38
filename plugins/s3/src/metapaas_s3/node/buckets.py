"""Bring the engine's buckets to the declared state, level-triggered, with the admin key.

Run by the agent on a node (cwd = the node directory): once as the ``init``
command, then as the reload of ``buckets.json`` whenever the declared buckets
change. Each run reads the whole declaration and the engine's actual state and
closes the gap, so a run that failed half-way is finished by the next one:

- every declared bucket exists, with its versioning and the instance's
  default encryption;
- the health probe bucket and object exist;
- a bucket this program created earlier and that is no longer declared is
  deleted, objects included. Buckets someone made directly through S3 with
  the admin key are never touched: ownership is kept in ``--managed``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from metapaas import sdk
from metapaas_s3.node.s3client import add_client_arguments, connect, error_code, until_done

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WAIT_SECONDS = 50.0
"""Below the agent's 60 s limit for a reload; ``init`` passes a longer ``--wait``."""
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_ENCRYPTION = "ServerSideEncryptionConfigurationNotFoundError"
_AES256_RULES: Any = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


@dataclass(frozen=True)
class Declared:
    """What ``buckets.json`` asks for."""

    versioning: dict[str, bool]
    """Declared bucket names and whether each keeps versions."""
    encryption: str
    probe_bucket: str
    probe_key: str

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Declared:
        return cls(
            versioning={b["name"]: bool(b["versioning"]) for b in document["buckets"]},
            encryption=document["encryption"],
            probe_bucket=document["probe"]["bucket"],
            probe_key=document["probe"]["key"],
        )


class Applier:
    """One pass over the engine's buckets; every step is safe to repeat."""

    def __init__(self, client: S3Client, declared: Declared, managed_file: Path) -> None:
        self._client = client
        self._declared = declared
        self._managed_file = managed_file

    def apply(self) -> None:
        declared = set(self._declared.versioning)
        existing = {b["Name"] for b in self._client.list_buckets().get("Buckets", [])}
        managed = self._read_managed()
        # Ownership is recorded before creating, so a crash cannot orphan a bucket.
        self._write_managed(managed | declared)
        for name, versioning in sorted(self._declared.versioning.items()):
            self._ensure_bucket(name, existing)
            self._ensure_encryption(name)
            self._ensure_versioning(name, versioning)
        self._ensure_probe(existing)
        for name in sorted((managed - declared) & existing):
            self._delete_bucket(name)
        self._write_managed(declared)

    def _ensure_bucket(self, name: str, existing: set[str]) -> None:
        if name not in existing:
            self._client.create_bucket(Bucket=name)
            print(f"created bucket {name}")

    def _ensure_encryption(self, name: str) -> None:
        try:
            rules = self._client.get_bucket_encryption(Bucket=name)
            current = rules["ServerSideEncryptionConfiguration"]["Rules"]
            algorithm = current[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        except ClientError as exc:
            if error_code(exc) != _NO_ENCRYPTION:
                raise
            algorithm = None
        if self._declared.encryption == "aes256" and algorithm != "AES256":
            self._client.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration=_AES256_RULES
            )
            print(f"bucket {name}: default encryption AES256")
        elif self._declared.encryption == "none" and algorithm is not None:
            self._client.delete_bucket_encryption(Bucket=name)
            print(f"bucket {name}: default encryption removed")

    def _ensure_versioning(self, name: str, wanted: bool) -> None:
        status = self._client.get_bucket_versioning(Bucket=name).get("Status")
        # S3 cannot return a bucket to "never versioned": off means suspended.
        target = "Enabled" if wanted else ("Suspended" if status == "Enabled" else status)
        if target != status and target is not None:
            self._client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": target}
            )
            print(f"bucket {name}: versioning {target}")

    def _ensure_probe(self, existing: set[str]) -> None:
        bucket, key = self._declared.probe_bucket, self._declared.probe_key
        self._ensure_bucket(bucket, existing)
        self._ensure_encryption(bucket)
        try:
            self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) not in _NOT_FOUND:
                raise
            self._client.put_object(Bucket=bucket, Key=key, Body=b"ok\n")
            print(f"wrote health probe {bucket}/{key}")

    def _delete_bucket(self, name: str) -> None:
        """Delete a bucket with its objects (every version of them)."""
        try:
            self._client.delete_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) != "BucketNotEmpty":
                raise
            self._empty(name)  # engines that refuse to drop a non-empty bucket
            self._client.delete_bucket(Bucket=name)
        print(f"deleted bucket {name} and its objects")

    def _empty(self, name: str) -> None:
        pages = self._client.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            objects: Any = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries]
            if objects:
                self._client.delete_objects(Bucket=name, Delete={"Objects": objects})

    def _read_managed(self) -> set[str]:
        try:
            return set(json.loads(self._managed_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return set()

    def _write_managed(self, names: Iterable[str]) -> None:
        sdk.write_private(self._managed_file, json.dumps(sorted(names)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("declaration", type=Path, help="buckets.json (mode 0600: admin key)")
    parser.add_argument("--managed", type=Path, default=Path("managed-buckets.json"))
    parser.add_argument("--wait", type=float, default=WAIT_SECONDS)
    add_client_arguments(parser)
    args = parser.parse_args(argv)
    document = json.loads(args.declaration.read_text(encoding="utf-8"))
    key_id, secret = document["access_key_id"], document["secret_access_key"]
    client = connect(args.endpoint, key_id, secret, args.authority)
    applier = Applier(client, Declared.from_json(document), args.managed)
    until_done(applier.apply, seconds=args.wait, what="applying the declared buckets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
