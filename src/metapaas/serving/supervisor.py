"""The supervisor: holds the listening socket and hands it from one process generation to the next.

Loading a new plugin version into a running Python process would mean
reloading modules in place, which leaves old objects pointing at old code.
Instead, a process never changes the code it has loaded: the supervisor (this
small process, which imports nothing of the control plane) opens the socket
once and runs the control plane in a child, a *generation*. When the served
plugins change, the generation asks for a hand-over: the supervisor starts
the next generation on the same socket, and once that one says it is ready,
tells the old one to drain. Both accept on the one socket meanwhile, so no
connection is refused; the old one stops accepting, answers what it has with
``Connection: close`` and exits when its connections are done (see
:mod:`metapaas.serving.generation`).

Protocol, one line per message on a socket pair per generation: the
generation says ``ready`` and ``reload``; the supervisor says ``drain`` and
``reload-failed <why>``. A generation that exits without being told to stops
the supervisor with its exit code; SIGTERM and SIGINT are passed on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CHANNEL_FD_ENV = "METAPAAS_SUPERVISOR_FD"
LISTEN_FD_ENV = "METAPAAS_LISTEN_FD"
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 40.0
"""Longer than a generation's drain, so a stop lets open requests finish."""


@dataclass
class Generation:
    """One child process and its end of the channel."""

    number: int
    process: subprocess.Popen[bytes]
    channel: socket.socket
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False
    buffer: bytes = b""

    def send(self, message: str) -> None:
        with contextlib.suppress(OSError):  # it is gone; the loop handles its exit
            self.channel.sendall(message.encode() + b"\n")

    def messages(self) -> list[str]:
        try:
            data = self.channel.recv(4096)
        except OSError:
            data = b""
        if not data:
            return ["eof"]
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [line.decode() for line in lines]


def listen(host: str, port: int) -> socket.socket:
    """The socket every generation accepts on, inherited through ``LISTEN_FD_ENV``."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Runs generations of ``argv`` (``first_args`` added to the first one only)."""

    def __init__(
        self,
        argv: Sequence[str],
        listener: socket.socket | None,
        first_args: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)
        self.first_args = list(first_args)
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.current: Generation | None = None
        self.next: Generation | None = None
        self.draining: list[Generation] = []
        self.count = 0
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        signal.set_wakeup_fd(wake_write.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop())
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        self.current = self._spawn()
        while self.current is not None or self.draining:
            for key, _ in self.selector.select(timeout=0.5):
                if key.data is None:
                    wake_read.recv(4096)
                else:
                    self._handle(key.data)
            self._reap()
        return self.exit_code

    # -- children ---------------------------------------------------------------------

    def _spawn(self) -> Generation:
        self.count += 1
        ours, theirs = socket.socketpair()
        fds = [theirs.fileno()]
        env = {**os.environ, CHANNEL_FD_ENV: str(theirs.fileno())}
        if self.listener is not None:
            fds.append(self.listener.fileno())
            env[LISTEN_FD_ENV] = str(self.listener.fileno())
        argv = self.argv + (self.first_args if self.count == 1 else [])
        process = subprocess.Popen(argv, pass_fds=fds, env=env)
        theirs.close()
        generation = Generation(self.count, process, ours)
        self.selector.register(ours, selectors.EVENT_READ, generation)
        log.info("generation %d started (pid %d)", generation.number, process.pid)
        return generation

    def _handle(self, generation: Generation) -> None:
        for message in generation.messages():
            if message == "eof":
                self.selector.unregister(generation.channel)
                return
            if message == "ready":
                self._ready(generation)
            elif message == "reload" and self._may_reload(generation):
                self.next = self._spawn()

    def _may_reload(self, generation: Generation) -> bool:
        """Only the serving generation asks, one hand-over at a time, never while stopping."""
        return generation is self.current and self.next is None and not self.stopping

    def _ready(self, generation: Generation) -> None:
        generation.ready = True
        if generation is self.next:
            log.info("generation %d is ready: draining the one before", generation.number)
            if self.current is not None:
                self.current.send("drain")
                self.draining.append(self.current)
            self.current, self.next = generation, None

    def _reap(self) -> None:
        for generation in list(self.draining):
            if generation.process.poll() is not None:
                self.draining.remove(generation)
                self._close(generation)
        pending = self.next
        if pending is not None:
            code = pending.process.poll()
            late = time.monotonic() - pending.started_at > READY_TIMEOUT_SECONDS
            if code is not None or late:
                why = f"exited with {code}" if code is not None else "was not ready in time"
                self._abandon(pending, why)
        current = self.current
        if current is not None and current.process.poll() is not None:
            if not self.stopping:
                log.error("generation %d exited on its own", current.number)
                self.exit_code = current.process.returncode or 1
                self._stop()
            self.current = None
            self._close(current)

    def _abandon(self, pending: Generation, why: str) -> None:
        log.error("generation %d %s: the one before keeps serving", pending.number, why)
        if pending.process.poll() is None:
            pending.process.kill()
            pending.process.wait()
        self._close(pending)
        self.next = None
        if self.current is not None:
            self.current.send(f"reload-failed the new process {why}")

    def _close(self, generation: Generation) -> None:
        if generation.channel.fileno() == -1:
            return
        with contextlib.suppress(KeyError):  # unregistered already at its end of file
            self.selector.unregister(generation.channel)
        generation.channel.close()

    def _stop(self) -> None:
        """Pass the stop on to every generation and wait for them (bounded)."""
        if self.stopping:
            return
        self.stopping = True
        children = [g for g in (self.current, self.next, *self.draining) if g is not None]
        for generation in children:
            if generation.process.poll() is None:
                generation.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for generation in children:
            try:
                generation.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                generation.process.kill()
                generation.process.wait()


def supervise(
    generation_argv: Sequence[str], listener: socket.socket | None, first_args: Sequence[str] = ()
) -> int:
    """Run generations until stopped; returns the exit code."""
    return Supervisor(
        [sys.executable, "-m", "metapaas.serving.generation", *generation_argv],
        listener,
        first_args,
    ).run()
