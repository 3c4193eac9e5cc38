"""A probe of an S3 repository that cannot work fails with a sentence saying why, soon."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from metapaas import tls
from metapaas.db.models import utcnow
from metapaas.repositories import RepositoryError, S3Repository, open_repository
from metapaas.testing import free_port

from .seaweedfs import READER_KEY_ID, READER_SECRET, Server

BOUND_SECONDS = 12.0
"""What a call to a repository that does not answer may take at most (about 10 s)."""


@pytest.fixture
def silent() -> Iterator[str]:
    """An endpoint that takes connections and never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


OTHER_CA = tls.Authority.new("another CA", utcnow()).certificate_pem
CASES = [
    ("a wrong secret is refused credentials", {"secret_access_key": "x" * 40}, "refused the cred"),
    ("an unknown key is refused credentials", {"access_key_id": "NOSUCHKEY0000000000"}, "refused"),
    ("an unknown bucket is named", {"bucket": "no-such-bucket"}, "no bucket no-such-bucket at"),
    (
        "a read-only key is not writable",
        {"access_key_id": READER_KEY_ID, "secret_access_key": READER_SECRET},
        "is not writable",
    ),
    ("a server signed by another CA is not trusted", {"ca_certificate": OTHER_CA}, "not trusted"),
    ("no CA given: the system's do not trust it", {"ca_certificate": ""}, "not trusted"),
]


@pytest.mark.parametrize(
    ("overrides", "sentence"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_probe_that_cannot_work_says_why(
    s3_server: Server, overrides: dict[str, str], sentence: str
) -> None:
    with (
        open_repository(s3_server.repository(**overrides)) as repository,
        pytest.raises(RepositoryError, match=sentence) as raised,
    ):
        repository.probe()
    assert not raised.value.temporary


@pytest.mark.parametrize(
    "where",
    ["stopped", "silent"],
    ids=["a stopped server is unreachable", "a server that never answers is unreachable in time"],
)
def test_a_probe_of_a_server_that_does_not_answer_fails_within_the_bound(
    s3_server: Server, request: pytest.FixtureRequest, where: str
) -> None:
    endpoint = f"127.0.0.1:{free_port()}" if where == "stopped" else request.getfixturevalue(where)
    started = time.monotonic()
    with (
        open_repository(s3_server.repository(endpoint=endpoint)) as repository,
        pytest.raises(RepositoryError, match=f"{endpoint} is unreachable") as raised,
    ):
        repository.probe()
    assert time.monotonic() - started < BOUND_SECONDS
    assert raised.value.temporary


def test_the_ca_file_is_private_while_open_and_gone_after(s3_server: Server) -> None:
    repository = open_repository(s3_server.repository())
    assert isinstance(repository, S3Repository)
    ca_file = repository._ca_file
    assert ca_file is not None
    assert ca_file.stat().st_mode & 0o777 == 0o600
    repository.close()
    assert not ca_file.exists()
