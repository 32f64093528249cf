"""A recording stand-in for Grafana's HTTP API on 127.0.0.1 (no Grafana server runs here).

It keeps data sources, folders, dashboards and annotations in memory with Grafana's status
codes (404 for an unknown uid), so `push` sees the same answers a real Grafana gives, and
records every call grafana-client makes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class GrafanaStub:
    url: str
    calls: list[Call] = field(default_factory=list)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.split("?")[0].strip("/").split("/")
        if parts[:3] == ["api", "datasources", "uid"] and len(parts) == 4:
            uid = parts[3]
            if method == "GET":
                found = self.datasources.get(uid)
                return (200, found) if found else (404, {"message": "Data source not found"})
            if method == "PUT":
                if uid not in self.datasources:
                    return 404, {"message": "Data source not found"}
                self.datasources[uid] = body
                return 200, {"message": "Datasource updated", "datasource": body}
        if parts == ["api", "datasources"] and method == "POST":
            if body["uid"] in self.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            self.datasources[body["uid"]] = body
            return 200, {"message": "Datasource added", "datasource": body}
        if parts[:2] == ["api", "folders"] and len(parts) == 3 and method == "GET":
            found = self.folders.get(parts[2])
            return (200, found) if found else (404, {"message": "folder not found"})
        if parts == ["api", "folders"] and method == "POST":
            self.folders[body["uid"]] = body
            return 200, body
        if parts == ["api", "dashboards", "db"] and method == "POST":
            uid = body["dashboard"]["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "version-mismatch"}
            self.dashboards[uid] = body
            return 200, {"uid": uid, "status": "success", "version": 1}
        if parts == ["api", "annotations"] and method == "POST":
            self.annotations.append(body)
            return 200, {"id": len(self.annotations), "message": "Annotation added"}
        return 404, {"message": f"no stub for {method} {path}"}


@pytest.fixture
def grafana_stub() -> Iterator[GrafanaStub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stub = GrafanaStub(url=f"http://127.0.0.1:{server.server_address[1]}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with lock:
                stub.calls.append(
                    Call(self.command, self.path, body, self.headers.get("Authorization"))
                )
                status, answer = stub.handle(self.command, self.path, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
