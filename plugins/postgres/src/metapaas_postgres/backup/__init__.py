"""Node side: the postgres type's backup steps and its WAL archiving, with pgBackRest.

``python -m metapaas_postgres.backup <step> --pgbackrest=P --node-dir=D ...``

- ``backup``, ``restore``, ``verify``, ``expire``: the steps ``sdk.Backups`` names, run
  by the agent with ``--result=<file>``, to which each writes its report as JSON
  (``backup`` also with ``--progress=<file>``, where it says the database's size);
- ``archive-push <wal>``: the server's ``archive_command`` (see :mod:`.archive`).

pgBackRest does every part of the work: backups (full, incremental), the WAL archive,
restores to a set, a time or the latest point, encryption (``aes-256-cbc`` with the
instance's key) and expiry. Its configs are the node's rendered
``conf/pgbackrest-store.conf`` and ``conf/pgbackrest-source.conf``; its logs, locks
and spool are under the node's ``backup/`` directory. A step that fails exits 1 with
its reason on one line.
"""
