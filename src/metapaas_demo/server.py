"""The demo node's web service: answers from ``site.json``, re-read when it changes.

Run by the agent as ``python .../metapaas_demo/server.py --port P --config FILE``
(with ``--https-port``, ``--certificate`` and ``--key``, HTTPS beside it): a script
of the standard library alone, so it starts without loading the type's declaration.
Neither a config change nor a renewed certificate needs a restart: the files' mtimes
are checked per request and per connection.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def stamp(path: Path) -> tuple[int, int]:
    """What changes when the file is replaced (the agent renames a new one over it)."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_ino


class Site:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] = (-1, -1)
        self._data: dict[str, Any] = {}

    def current(self) -> dict[str, Any]:
        now = stamp(self.path)
        if now != self._stamp:
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
            self._stamp = now
        return self._data


class Certificate:
    """A server context loaded anew whenever the certificate file was replaced."""

    def __init__(self, certificate: Path, key: Path) -> None:
        self.certificate, self.key = certificate, key
        self._stamp: tuple[int, int] = (-1, -1)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._lock = threading.Lock()

    def context(self) -> ssl.SSLContext:
        with self._lock:
            now = stamp(self.certificate)
            if now != self._stamp:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(self.certificate, self.key)
                self._context, self._stamp = context, now
            return self._context


class HTTPSServer(ThreadingHTTPServer):
    """Each accepted connection is wrapped with the current certificate's context; the
    handshake runs on the connection's own thread, so a slow client holds no one up."""

    def __init__(self, address: tuple[str, int], handler: Any, certificate: Certificate) -> None:
        super().__init__(address, handler)
        self.certificate = certificate

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        context = self.certificate.context()
        return context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        ), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client that does not speak TLS, or one that refused our certificate
        super().finish_request(request, client_address)


def handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = site.current()
            path = self.path.strip("/")
            if path == "healthz":
                self._answer(HTTPStatus.OK, "ok")
            elif path == "":
                self._answer(HTTPStatus.OK, data["message"])
            elif path in data["pages"]:
                self._answer(HTTPStatus.OK, data["pages"][path])
            else:
                self._answer(HTTPStatus.NOT_FOUND, "not found")

        def _answer(self, status: HTTPStatus, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Served-By-Pid", str(os.getpid()))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--https-port", type=int)
    parser.add_argument("--certificate", type=Path)
    parser.add_argument("--key", type=Path)
    args = parser.parse_args()
    handler = handler_for(Site(args.config))
    if args.https_port is not None:
        certificate = Certificate(args.certificate, args.key)
        certificate.context()  # a certificate that does not load fails the start
        https = HTTPSServer((args.host, args.https_port), handler, certificate)
        threading.Thread(target=https.serve_forever, daemon=True).start()
    ThreadingHTTPServer((args.host, args.port), handler).serve_forever()


if __name__ == "__main__":
    main()
