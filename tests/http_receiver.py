"""A local HTTP receiver for tests of outbound channels (webhook, Slack, Alertmanager, Grafana).

It binds 127.0.0.1 on a free port (never a fixed one: tests run side by side), records
every POST as `(path, headers, body)` before answering, and answers what `respond` says.
The default answer is 200 with `{"id": 1}`, the shape Grafana's annotation API returns
and that the other channels ignore.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Received = tuple[str, dict[str, str], bytes]
"""One POST: its path, its headers as sent (original case), its body."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


Responder = Callable[[str, dict[str, str], bytes], Reply]
"""Decides the reply to one POST from its path, headers and body."""


def ok_json(_path: str, _headers: dict[str, str], _body: bytes) -> Reply:
    return Reply(200, b'{"id": 1}', {"Content-Type": "application/json"})


@dataclass
class HttpReceiver:
    url: str = ""
    """`http://127.0.0.1:<port>`, without a path."""
    got: list[Received] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.got]


@contextmanager
def http_receiver(respond: Responder = ok_json) -> Iterator[HttpReceiver]:
    """Serve on a thread until the block ends; then shut the server down."""
    box = HttpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = dict(self.headers.items())
            box.got.append((self.path, headers, body))
            reply = respond(self.path, headers, body)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.body:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
