"""An S3 client for node-side programs, and a bounded retry for an engine still starting."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from metapaas import sdk
from metapaas_s3.spec import REGION

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

RETRY_SECONDS = 0.1
"""A new node waits for the first success: a retry a second cost it half a second on average."""

T = TypeVar("T")


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint`` and ``--authority``, which :data:`metapaas_s3.node.CLIENT_ARGS` pass."""
    parser.add_argument("--endpoint", required=True, help="the node's S3 URL (https)")
    parser.add_argument(
        "--authority", required=True, help="the CA file the node's certificate verifies with"
    )


def connect(endpoint: str, access_key_id: str, secret_access_key: str, authority: str) -> S3Client:
    """A path-style client with short timeouts (a node program must never hang) that
    trusts the CA file ``authority`` alone."""
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=3,
        read_timeout=30,
        retries={"max_attempts": 1},
    )
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
        verify=authority,
    )
    return client


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def until_done(action: Callable[[], T], *, seconds: float, what: str) -> T:
    """Run ``action`` until it succeeds; S3 errors are retried for about ``seconds``.

    An engine answers with errors for a while after it starts (SeaweedFS reads
    fail until its volume server has registered), so every step here is safe
    to repeat and is simply tried again.
    """
    try:
        return sdk.wait_until_ready(
            action,
            what=what,
            attempts=max(1, round(seconds / RETRY_SECONDS)),
            interval=RETRY_SECONDS,
            retry_on=(BotoCoreError, ClientError),
        )
    except sdk.NotReady as exc:
        raise SystemExit(str(exc)) from exc
