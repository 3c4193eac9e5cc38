"""A cluster made by ``initdb`` once per machine user and PostgreSQL build, copied per node.

``initdb`` is most of a new node's start (1.5-3 s here); copying its result takes
about 0.3 s. What makes each node's cluster its own is applied to the copy:

- the superuser's password: the template is made with a random one that is thrown
  away, and each copy gets the node's own in single-user mode before its server
  first starts (a verifier, so the password is in no process's input);
- the config and ``pg_hba.conf``: as before, the node's own files in ``conf/``
  (``--config_file``), never the copies in the data directory.

Copies share the template's system identifier, which only a replica would compare
against its primary's.

The templates live in ``$XDG_CACHE_HOME/metapaas-postgres`` (``~/.cache``), the
running user's own, so no other user (another node's) can change what a new node
starts from. A template is named after the ``initdb`` binary (path, size, mtime)
and the options, so an upgraded server gets a new one; it is complete when it has
its name, made under a temporary name and renamed, and flushed to disk first.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from metapaas_postgres import scram
from metapaas_postgres.privileges import as_unprivileged
from metapaas_postgres.spec import SUPERUSER_ROLE

INITDB_OPTIONS = (
    f"--username={SUPERUSER_ROLE}",
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
)
SERVER_ERRORS = ("FATAL:", "PANIC:", "ERROR:")


def templates_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "metapaas-postgres"


def initdb(bindir: Path, pgdata: Path, password_file: Path, *extra: str) -> None:
    """``initdb`` into ``pgdata`` (which must not exist) as the server will run."""
    command = [str(bindir / "initdb"), f"--pgdata={pgdata}", f"--pwfile={password_file}"]
    command += [*INITDB_OPTIONS, *extra]
    subprocess.run(as_unprivileged(command), check=True, stdout=sys.stderr)


def template(bindir: Path, root: Path) -> Path:
    """The data directory of the template for ``bindir``, made now if there is none."""
    made = root / _name(bindir)
    if made.is_dir():
        return made / "pgdata"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{made.name}.", dir=root))
    try:
        throwaway = staging / "password"
        throwaway.write_text(secrets.token_urlsafe(32))
        initdb(bindir, staging / "pgdata", throwaway, "--no-sync")
        throwaway.unlink()
        flush(staging)
        staging.rename(made)
    except OSError:
        if not made.is_dir():  # not just another node making it at the same moment
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return made / "pgdata"


def copy_cluster(source: Path, pgdata: Path, bindir: Path, password: str) -> None:
    """``source`` copied to ``pgdata`` with ``password`` for the superuser, on disk."""
    shutil.copytree(source, pgdata, symlinks=True)
    set_superuser_password(bindir, pgdata, password)
    flush(pgdata)


def set_superuser_password(bindir: Path, pgdata: Path, password: str) -> None:
    """Set the password in single-user mode: no server, no connection, no port."""
    verifier = scram.verifier(password, secrets.token_bytes(scram.SALT_BYTES))
    statement = f"ALTER ROLE {SUPERUSER_ROLE} PASSWORD '{verifier}'\n"
    single = [str(bindir / "postgres"), "--single", "-D", str(pgdata), "postgres"]
    done = _run(as_unprivileged(single), statement)
    # single-user mode exits 0 after a failed statement; its log says so.
    if done.returncode != 0 or "ERROR:" in done.stderr:
        raise RuntimeError(f"setting the superuser's password failed: {server_error(done.stderr)}")


def server_error(output: str) -> str:
    """What went wrong, on one line: the last FATAL, PANIC or ERROR line of the server's
    ``output`` (its last line when there is none)."""
    lines = output.splitlines()
    errors = [line for line in lines if any(level in line for level in SERVER_ERRORS)]
    return (errors or lines or ["the server exited without a word"])[-1][:1000]


def flush(path: Path) -> None:
    """Write the file system holding ``path`` to disk (syncfs): initdb's own per-file
    fsync is what makes it slow."""
    subprocess.run(["sync", "--file-system", str(path)], check=True)


def _run(argv: Sequence[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


def _name(bindir: Path) -> str:
    binary = (bindir / "initdb").resolve()
    stat = binary.stat()
    identity = f"{binary}:{stat.st_size}:{stat.st_mtime_ns}:{' '.join(INITDB_OPTIONS)}"
    return f"{bindir.parent.name}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
