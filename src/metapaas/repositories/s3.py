"""A repository in an S3 bucket, over HTTPS, path-style (any S3 server, not only AWS).

Every call is bounded: a server that stops answering fails a call within about
ten seconds (two attempts of a few seconds each) instead of holding the agent.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from metapaas.repositories.objects import (
    Repository,
    RepositoryError,
    StoredObject,
    checked_key,
    checked_prefix,
    under,
)
from metapaas.sdk import _node as durable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

CONNECT_SECONDS, READ_SECONDS, ATTEMPTS = 3, 4, 2
"""At most about 2 x 4 s (plus a backoff under 1 s) for a call to a silent server."""
TRANSFER = TransferConfig(use_threads=False, num_download_attempts=ATTEMPTS)
"""One thread: the agent's calls stay on its own thread, and their bounds are the client's."""
DELETE_BATCH = 1000
"""The most keys one DeleteObjects takes."""
CREDENTIALS_REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}


class S3Repository(Repository):
    """Objects in ``bucket`` at ``endpoint`` (``host:port``), HTTPS verified against
    ``ca_certificate`` (PEM) when given, else against the system's trusted CAs."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        ca_certificate: str = "",
    ) -> None:
        self.bucket = bucket
        self.description = f"bucket {bucket} at {endpoint}"
        self._endpoint = endpoint
        # botocore verifies against a file only: a private one, removed by close().
        self._ca_file = _private_file(ca_certificate) if ca_certificate else None
        config = Config(
            s3={"addressing_style": "path"},
            connect_timeout=CONNECT_SECONDS,
            read_timeout=READ_SECONDS,
            retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
        )
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=f"https://{endpoint}",
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
            verify=str(self._ca_file) if self._ca_file else True,
        )

    def put(self, key: str, source: Path) -> None:
        key = checked_key(key)
        with self._answers(f"storing {key}"), source.open("rb") as data:
            self._client.upload_fileobj(data, self.bucket, key, Config=TRANSFER)

    def get(self, key: str, dest: Path) -> None:
        key = checked_key(key)
        with self._answers(f"reading {key}"):

            def download(out: BinaryIO) -> None:
                self._client.download_fileobj(self.bucket, key, out, Config=TRANSFER)

            durable.commit(durable.stage(dest, download), dest)

    def list(self, prefix: str = "") -> list[StoredObject]:
        start = under(checked_prefix(prefix))
        with self._answers(f"listing {start or 'the objects'}"):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            return [
                StoredObject(item["Key"], item["Size"], item["LastModified"])
                for page in pages
                for item in page.get("Contents", ())
            ]

    def delete(self, prefix: str) -> int:
        keys = [stored.key for stored in self.list(prefix)]
        with self._answers(f"deleting {prefix}"):
            for at in range(0, len(keys), DELETE_BATCH):
                batch: list[ObjectIdentifierTypeDef] = [
                    {"Key": key} for key in keys[at : at + DELETE_BATCH]
                ]
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise RepositoryError(
                        f"{self.description} kept {first.get('Key')}: {first.get('Message')}"
                    )
        return len(keys)

    def close(self) -> None:
        self._client.close()
        if self._ca_file is not None:
            self._ca_file.unlink(missing_ok=True)
            self._ca_file = None

    @contextlib.contextmanager
    def _answers(self, doing: str) -> Iterator[None]:
        """botocore's exceptions as sentences saying what failed."""
        try:
            yield
        except ClientError as exc:
            raise self._refusal(exc, doing) from exc
        except SSLError as exc:
            raise RepositoryError(
                f"the certificate of {self._endpoint} is not trusted ({doing}): {exc}"
            ) from exc
        except (BotoConnectionError, ReadTimeoutError, ConnectionClosedError) as exc:
            message = f"{self._endpoint} is unreachable ({doing}): {exc}"
            raise RepositoryError(message, temporary=True) from exc
        except BotoCoreError as exc:
            raise RepositoryError(f"{doing} in {self.description} failed: {exc}") from exc

    def _refusal(self, error: ClientError, doing: str) -> RepositoryError:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in CREDENTIALS_REFUSED:
            return RepositoryError(f"{self._endpoint} refused the credentials ({doing}): {code}")
        if code == "NoSuchBucket":
            return RepositoryError(f"there is no bucket {self.bucket} at {self._endpoint}")
        if code == "AccessDenied":
            return RepositoryError(f"{self.description} is not writable with these credentials")
        if code in ("NoSuchKey", "404"):
            return RepositoryError(f"{doing}: {self.description} holds no such object")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        temporary = status >= 500
        return RepositoryError(
            f"{doing} in {self.description} failed: {error}", temporary=temporary
        )


def _private_file(text: str) -> Path:
    """``text`` in a new file only this user reads (``mkstemp`` makes it 0600)."""
    fd, name = tempfile.mkstemp(prefix="metapaas-repository-ca-", suffix=".pem")
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    return Path(name)
