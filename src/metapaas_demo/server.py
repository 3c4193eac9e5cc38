"""The demo node's web service: answers from ``site.json``, re-read when it changes.

Run by the agent as ``python .../metapaas_demo/server.py --port P --config FILE``: a
script of the standard library alone, so it starts without loading the type's declaration.
A config change needs no restart: the file's mtime is checked per request.
"""

from __future__ import annotations

import argparse
import json
import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Site:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] = (-1, -1)
        self._data: dict[str, Any] = {}

    def current(self) -> dict[str, Any]:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp != self._stamp:
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
            self._stamp = stamp
        return self._data


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
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), handler_for(Site(args.config)))
    server.serve_forever()


if __name__ == "__main__":
    main()
