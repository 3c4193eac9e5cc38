"""Backup objects encrypted with the instance's passphrase, and their checksums.

A sealed object is a header (magic, version, a random salt) and the file in
chunks of :data:`CHUNK` bytes, each AES-256-GCM with the header as associated
data. The key is scrypt of the passphrase and the object's own salt, so no two
objects share a key and a nonce can be the chunk's index plus a flag marking the
last chunk: a changed byte, a dropped, repeated or reordered chunk, a cut or an
appended tail all fail the tag of some chunk. Two chunks are in memory at most.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from metapaas.repositories.objects import RepositoryError
from metapaas.sdk import _node as durable

MAGIC = b"MPSEAL\x00\x01"
SALT_BYTES = 16
HEADER_BYTES = len(MAGIC) + SALT_BYTES
CHUNK = 1 << 20
TAG_BYTES = 16
SCRYPT_N = 1 << 14
"""16 MiB and some 50 ms per object: the passphrase is a long random one, not a password."""


def seal_stream(source: BinaryIO, dest: BinaryIO, passphrase: str) -> None:
    """Write ``source``, encrypted with a key derived from ``passphrase``, to ``dest``."""
    header = MAGIC + secrets.token_bytes(SALT_BYTES)
    cipher = _cipher(passphrase, header)
    dest.write(header)
    chunk, index = source.read(CHUNK), 0
    while True:
        following = source.read(CHUNK) if len(chunk) == CHUNK else b""
        dest.write(cipher.encrypt(_nonce(index, last=not following), chunk, header))
        if not following:
            return
        chunk, index = following, index + 1


def open_stream(source: BinaryIO, dest: BinaryIO, passphrase: str, *, name: str) -> None:
    """Decrypt what :func:`seal_stream` wrote from ``source`` to ``dest``; raise
    :class:`RepositoryError` naming the object ``name`` when it does not open."""
    header = source.read(HEADER_BYTES)
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise RepositoryError(f"{name} is not a sealed backup object")
    cipher = _cipher(passphrase, header)
    block, index = source.read(CHUNK + TAG_BYTES), 0
    while True:
        following = source.read(CHUNK + TAG_BYTES) if len(block) == CHUNK + TAG_BYTES else b""
        try:
            dest.write(cipher.decrypt(_nonce(index, last=not following), block, header))
        except InvalidTag:
            raise RepositoryError(
                f"{name} does not decrypt with the instance's key (chunk {index}): "
                "it was changed or damaged, or sealed with another key"
            ) from None
        if not following:
            return
        block, index = following, index + 1


def seal_file(source: Path, dest: Path, passphrase: str) -> None:
    """:func:`seal_stream` from file to file; ``dest`` appears only once complete."""
    with source.open("rb") as plain:
        durable.commit(durable.stage(dest, lambda out: seal_stream(plain, out, passphrase)), dest)


def open_file(source: Path, dest: Path, passphrase: str, *, name: str) -> None:
    """:func:`open_stream` from file to file; ``dest`` appears only once all of it opened."""
    with source.open("rb") as sealed:
        staged = durable.stage(dest, lambda out: open_stream(sealed, out, passphrase, name=name))
        durable.commit(staged, dest)


def _cipher(passphrase: str, header: bytes) -> AESGCM:
    salt = header[len(MAGIC) :]
    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=8, p=1)
    return AESGCM(kdf.derive(passphrase.encode("utf-8")))


def _nonce(index: int, *, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
