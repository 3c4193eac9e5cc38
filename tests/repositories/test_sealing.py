"""Sealed objects open with the passphrase alone, and any change to one fails it by name."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from metapaas.repositories import RepositoryError, open_file, seal_file
from metapaas.repositories.sealing import CHUNK, HEADER_BYTES, open_stream, seal_stream
from metapaas.sdk import sha256_of

KEY = "instance-passphrase-0123456789abcdef"


def _sealed(plain: bytes, passphrase: str = KEY) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(plain), out, passphrase)
    return out.getvalue()


def _open(sealed: bytes, passphrase: str = KEY) -> bytes:
    out = io.BytesIO()
    open_stream(io.BytesIO(sealed), out, passphrase, name="i/b1/dump.rdb")
    return out.getvalue()


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5], ids=lambda size: f"{size} bytes round-trip"
)
def test_what_is_sealed_opens_as_it_was(size: int) -> None:
    plain = os.urandom(size)
    sealed = _sealed(plain)
    assert _open(sealed) == plain
    assert plain[:64] not in sealed[HEADER_BYTES:] or size == 0


def test_two_seals_of_one_file_differ() -> None:
    assert _sealed(b"same") != _sealed(b"same"), "each object has a salt of its own"


SEALED = _sealed(os.urandom(2 * CHUNK + 100))
LAST = len(SEALED) - 1
CHANGES = {
    "a flipped byte in the salt": lambda b: _flip(b, 10),
    "a flipped byte in the first chunk": lambda b: _flip(b, HEADER_BYTES + 5),
    "a flipped byte in the middle chunk": lambda b: _flip(b, HEADER_BYTES + CHUNK + 40),
    "a flipped last byte (a tag)": lambda b: _flip(b, LAST),
    "a cut-off tail": lambda b: b[:-20],
    "a dropped last chunk": lambda b: b[: HEADER_BYTES + 2 * (CHUNK + 16)],
    "an appended tail": lambda b: b + b"x" * 20,
}


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("change", CHANGES.values(), ids=[f"{c} fails" for c in CHANGES])
def test_a_changed_object_fails_naming_it(change: Callable[[bytes], bytes]) -> None:
    with pytest.raises(RepositoryError, match=r"i/b1/dump\.rdb does not decrypt"):
        _open(change(SEALED))


def test_another_passphrase_does_not_open_it() -> None:
    with pytest.raises(RepositoryError, match="does not decrypt with the instance's key"):
        _open(SEALED, "another-passphrase")


def test_what_is_no_sealed_object_is_named_so() -> None:
    with pytest.raises(RepositoryError, match=r"i/b1/dump\.rdb is not a sealed backup object"):
        _open(b"REDIS0011 plain dump")


def test_a_file_that_fails_to_open_leaves_no_plaintext(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(os.urandom(CHUNK + 10))
    seal_file(tmp_path / "plain", tmp_path / "sealed", KEY)
    (tmp_path / "sealed").write_bytes(_flip((tmp_path / "sealed").read_bytes(), HEADER_BYTES + 3))
    with pytest.raises(RepositoryError, match="obj does not decrypt"):
        open_file(tmp_path / "sealed", tmp_path / "opened", KEY, name="obj")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "sealed"]


def test_sha256_of_a_file_is_its_hex_digest(tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 3 + 7)
    (tmp_path / "f").write_bytes(data)
    assert sha256_of(tmp_path / "f") == hashlib.sha256(data).hexdigest()
