"""Pushes planned documents to `POST /v1/documents` when they are due, like a live client.

A background thread takes what the scheduler hands it, in order, in batches; on 503, 429
or a refused connection (the broker or Redis restarting) it retries the same batch until
it is answered, as the push API's docs ask of clients. Every item's fate is recorded.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from devstack.soak.scenario import PlannedDoc
from finsent.clock import Clock

MAX_BATCH = 100


class Pushed(BaseModel):
    """What the push API answered for one document."""

    model_config = ConfigDict(frozen=True)

    doc: PlannedDoc
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None
    at: datetime
    """Service time of the answer."""
    attempts: int


class Pusher:
    def __init__(self, url: str, token: str, clock: Clock) -> None:
        self._url = url.rstrip("/") + "/v1/documents"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._clock = clock
        self._queue: queue.Queue[PlannedDoc | None] = queue.Queue()
        self._lock = threading.Lock()
        self.results: list[Pushed] = []
        self.retries = 0
        self.retry_reasons: dict[str, int] = {}
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="pusher", daemon=True)
        self._thread.start()

    def submit(self, doc: PlannedDoc) -> None:
        self._queue.put(doc)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float) -> bool:
        """Finish what was submitted; False if it did not within `timeout_s`."""
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        with httpx.Client(timeout=30.0) as client:
            while (item := self._queue.get()) is not None:
                batch, last = [item], False
                while len(batch) < MAX_BATCH:
                    try:
                        following = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if following is None:
                        last = True
                        break
                    batch.append(following)
                try:
                    self._send(client, batch)
                except RuntimeError as exc:
                    self.error = str(exc)
                    return
                if last:
                    return

    def _send(self, client: httpx.Client, batch: list[PlannedDoc]) -> None:
        body = [d.body() for d in batch]
        attempts = 0
        while True:
            attempts += 1
            try:
                response = client.post(self._url, json=body, headers=self._headers)
            except httpx.HTTPError as exc:
                self._retry(type(exc).__name__)
                continue
            if response.status_code in (202, 422):
                results = response.json()["results"]
                at = self._clock.now()
                with self._lock:
                    for doc, result in zip(batch, results, strict=True):
                        self.results.append(
                            Pushed(
                                doc=doc,
                                status=result["status"],
                                reason=result.get("reason"),
                                at=at,
                                attempts=attempts,
                            )
                        )
                return
            if response.status_code in (429, 503):
                self._retry(f"http_{response.status_code}")
                continue
            raise RuntimeError(f"push API answered {response.status_code}: {response.text[:300]}")

    def _retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1
        time.sleep(0.5)
