"""Worker threads: claim due work, reconcile, resync live instances, collect orphans."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Histogram
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, load_only, sessionmaker

from metapaas import db, providers, sdk, tls
from metapaas.db import claims, models
from metapaas.errors import NotFound
from metapaas.orchestrator import backups, certificates, queue, status
from metapaas.orchestrator.reconciler import Reconciler

log = logging.getLogger(__name__)

RECONCILE_SECONDS = Histogram(
    "metapaas_reconcile_seconds", "Duration of one reconcile pass", ["type", "outcome"]
)
LEASE_SECONDS = 30.0
SERVING = (models.InstanceStatus.ACTIVE, models.InstanceStatus.DEGRADED)
"""Instances the resync looks at when none of them is queued: a ``DEGRADED`` one that is
not queued serves, its data at risk (one healing requeues itself)."""
_SWEPT_COLUMNS = (
    load_only(
        models.Node.name,
        models.Node.instance_id,
        models.Node.incarnation,
        models.Node.started_at,
        models.Node.created_at,
        models.Node.wheelhouse,
        models.Node.tls_renew_at,
        models.Node.tls_issuer,
    ),
    joinedload(models.Node.reported).load_only(
        models.NodeReport.incarnation, models.NodeReport.last_seen_at
    ),
)
"""What the resync reads of each active node and its report, in one query: what
``_needs_a_look`` judges by."""


@dataclass(frozen=True)
class _Result:
    """How a pass ended: when to look again, or the error to retry after."""

    requeue_after: float | None
    error: str = ""
    min_delay: float = 0.0


class Worker:
    """Runs reconciles on ``concurrency`` threads; several processes may share one queue."""

    def __init__(
        self,
        reconciler: Reconciler,
        *,
        concurrency: int = 2,
        resync_seconds: float = 10.0,
        gc_seconds: float = 30.0,
        repository_check_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        clock: Callable[[], datetime] = models.utcnow,
        wakeup: threading.Event | None = None,
        worker_id: str | None = None,
        readers: sessionmaker[Session] | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.sessions: sessionmaker[Session] = reconciler.sessions
        #: Read-only sessions, for the looks that usually find nothing to do: on SQLite
        #: they never wait for (nor hold) the write lock.
        self.readers = readers or reconciler.readers
        self.concurrency = concurrency
        self.resync_seconds = resync_seconds
        self.gc_seconds = gc_seconds
        self.repository_check_seconds = repository_check_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.host = socket.gethostname()
        self.worker_id = worker_id or claims.holder_id()
        self.wakeup = wakeup or threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.recover()
        for index in range(self.concurrency):
            self._spawn(f"reconcile-{index}", self._reconcile_loop)
        self._spawn("resync", self._housekeeping_loop)

    def recover(self) -> int:
        """Free the claims of crashed workers on this host, so their work goes on at once."""
        with self.sessions.begin() as session:
            return queue.release_stale(session, self.host)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wakeup.set()
        for thread in self._threads:
            thread.join(timeout)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- reconciling --------------------------------------------------------------

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:  # the loop must outlive any one failure
                _log_failure("worker loop failed", exc)
                worked = False
            if not worked:
                self.wakeup.wait(self.poll_seconds)
                self.wakeup.clear()

    def run_once(self) -> bool:
        """Claim one due item and reconcile it; False when nothing was due."""
        with self.readers() as session:
            if not queue.due(session, self.clock()):
                return False
        with self.sessions() as session:
            claims = queue.claim(session, self.worker_id, self.clock(), LEASE_SECONDS, 1)
            if not claims:
                return False  # nothing to commit: an idle poll writes nothing
            session.commit()
        claim = claims[0]
        result = self._reconcile(claim)
        with self.sessions.begin() as session:
            due = queue.finish(
                session,
                claim,
                self.clock(),
                requeue_after=result.requeue_after,
                error=result.error,
                min_delay=result.min_delay,
            )
            if result.error and due is not None:
                self.reconciler.record_retry(
                    session, claim.instance_id, result.error, due, first=claim.attempts == 0
                )
        return True

    def _reconcile(self, claim: queue.Claim) -> _Result:
        started = time.monotonic()
        instance_id, slug = claim.instance_id, claim.slug
        try:
            outcome = self.reconciler.reconcile(instance_id)
        except sdk.TemporaryError as exc:
            RECONCILE_SECONDS.labels(slug, "retry").observe(time.monotonic() - started)
            log.info("reconcile of %s will be retried: %s", instance_id, exc)
            return _Result(None, f"temporary error: {exc}", exc.delay)
        except Exception as exc:
            RECONCILE_SECONDS.labels(slug, "error").observe(time.monotonic() - started)
            _log_failure(f"reconcile of {instance_id} failed", exc)
            return _Result(None, f"internal error (logged): {type(exc).__name__}: {exc}")
        RECONCILE_SECONDS.labels(slug, "ok").observe(time.monotonic() - started)
        return _Result(outcome.requeue_after)

    # -- housekeeping ---------------------------------------------------------------

    def _housekeeping_loop(self) -> None:
        chores = [
            (self.resync, self.resync_seconds),
            (self.collect_garbage, self.gc_seconds),
            (self.check_repositories, self.repository_check_seconds),
            (self.remove_deleted_backups, self.gc_seconds),
        ]
        due_at = [0.0] * len(chores)
        while not self._stop.is_set():
            for index, (chore, every) in enumerate(chores):
                now = time.monotonic()
                if now < due_at[index]:
                    continue
                try:
                    chore()
                except Exception as exc:  # one chore's failure must not stop the others
                    _log_failure(f"housekeeping ({chore.__name__}) failed", exc)
                due_at[index] = now + every
            self._stop.wait(1.0)

    def resync(self) -> None:
        """Queue the instances that need a look no request or report asked for.

        A converging instance requeues itself after each pass; one that lost its work
        item is queued again. An ``ACTIVE`` one is looked at only when one of its nodes
        needs it (``_needs_a_look``). Any other ``ACTIVE`` instance is left alone: no pass
        runs for an instance nothing happened to, so an idle control plane costs its
        nodes' heartbeats and this sweep (one provider listing, one read of the active
        nodes), not a pass per instance and interval. An instance in ``ERROR`` waits for
        news instead (a request, an agent's report): retrying on a timer cannot help
        what a ``PermanentError`` said.
        """
        listed = {
            node.name: node
            for node in self.reconciler.provider.list_nodes({providers.MANAGED: "true"})
        }
        now = self.clock()
        authority = self.reconciler.authority()
        with self.readers() as session:
            wanted = set(queue.unqueued(session)) | set(backups.due(session, now))
            active = session.execute(
                select(models.Node, models.Instance.type_slug)
                .join(models.Instance, models.Instance.id == models.Node.instance_id)
                .outerjoin(models.WorkItem, models.WorkItem.instance_id == models.Instance.id)
                .where(
                    models.Instance.status.in_(SERVING),
                    models.WorkItem.instance_id.is_(None),
                )
                .options(*_SWEPT_COLUMNS)
            )
            for node, slug in active:
                if node.instance_id not in wanted and self._needs_a_look(
                    node, slug, listed.get(node.name), authority, now
                ):
                    wanted.add(node.instance_id)
        if not wanted:
            return
        with self.sessions.begin() as session:
            for instance_id in sorted(wanted):
                queue.enqueue(session, instance_id, self.clock())
        self.wakeup.set()

    def check_repositories(self) -> None:
        """Probe every backup repository as at its registration; one whose state turned
        wakes the instances that keep their backups in it (their health reads it)."""
        with self.readers() as session:
            found = list(session.scalars(select(models.BackupRepository)))
            session.expunge_all()
        authority = self.reconciler.authority().certificate_pem  # before a transaction
        for repository in found:
            repository_id, failure = repository.id, ""
            probed: models.BackupRepository | None = repository
            if repository.instance_id is not None:
                probed, failure = self._followed(repository_id, authority)
            if probed is None:
                continue
            # No transaction is open while the probe waits on the repository.
            failure = failure or backups.probe(probed, self.reconciler.sealer)
            with self.sessions.begin() as session:
                row = session.get(models.BackupRepository, repository_id, with_for_update=True)
                if row is None or not backups.record_check(row, failure, self.clock()):
                    continue
                log.warning("backup repository %s is now %s %s", row.name, row.state, failure)
                for instance_id in backups.users(session, row.id):
                    queue.enqueue(session, instance_id, self.clock())
            self.wakeup.set()

    def remove_deleted_backups(self) -> None:
        """Remove the backups of deleted instances whose retention period ended."""
        with self.readers() as session:
            due = backups.leftovers.due(session, self.clock())
        for instance_id in due:
            backups.leftovers.remove(self.sessions, instance_id, self.reconciler.sealer)

    def _followed(
        self, repository_id: str, authority: str
    ) -> tuple[models.BackupRepository | None, str]:
        """A repository an instance of this control plane serves, pointed where that
        instance serves now (or why it serves none), as it is to be probed."""
        reconciler = self.reconciler
        with self.sessions.begin() as session:
            row = session.get(models.BackupRepository, repository_id, with_for_update=True)
            if row is None:
                return None, ""
            failure = backups.follow_instance(
                session, reconciler.registry, row, reconciler.sealer, authority
            )
            session.flush()
            session.expunge(row)
        return row, failure

    def _needs_a_look(
        self,
        node: models.Node,
        slug: str,
        listed: providers.NodeInfo | None,
        authority: tls.Authority,
        now: datetime,
    ) -> bool:
        """Whether a node of an ``ACTIVE`` instance needs a pass: its provider no longer runs
        it or wants it elsewhere (a dead agent, a draining host), its agent fell silent past
        its type's ``unreachable_after``, it runs another plugin version than the one
        loaded (a rollout to start), or its certificate is due for renewal (or another
        CA's)."""
        if listed is None or not listed.running or listed.evicted:
            return True
        if certificates.due(node, authority, now):
            return True
        try:
            loaded = self.reconciler.registry.get(slug)
        except NotFound:  # the type is gone: nothing to heal it with
            return False
        declaration = loaded.declaration
        return status.unreachable(node, now, declaration.unreachable_after) or bool(
            status.outdated(node, loaded.wheelhouse)
        )

    def collect_garbage(self) -> int:
        """Delete provider nodes and volumes labelled as ours whose instance is gone or
        which no node row plans."""
        provider = self.reconciler.provider
        ours = {providers.MANAGED: "true"}
        owners = {n.name: n.labels for n in provider.list_nodes(ours)}
        owners |= {v.name: v.labels for v in provider.list_volumes(ours)}
        if not owners:
            return 0
        with self.sessions() as session:
            live = set(
                session.scalars(
                    select(models.Instance.id).where(
                        models.Instance.status != models.InstanceStatus.DELETED
                    )
                )
            )
            planned = set(session.scalars(select(models.Node.name)))
        removed = 0
        for name, labels in sorted(owners.items()):
            owner = labels.get(providers.INSTANCE, "")
            # Rows are written before the provider is asked and deleted after the node and
            # its volume, so a node or volume without a row is stray.
            if owner not in live or name not in planned:
                log.info("removing orphaned node %s and its volume (instance %s)", name, owner)
                provider.delete_volume(name)
                removed += 1
        return removed


def _log_failure(what: str, exc: Exception) -> None:
    """A database that is down or busy is logged in one line (the loop carries on and
    tries again); anything else with its traceback."""
    if db.outage(exc) is not None:
        log.warning("%s, the database is unavailable: %s", what, db.summary(exc))
    else:
        log.exception(what)
