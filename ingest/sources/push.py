"""HTTP push: `POST /v1/documents` takes one document or a batch, behind a bearer token.

Each token names a client (`push_clients.PushClients`). Whole-request problems get a 4xx
with `{"detail": reason}`: 401 (token, checked first), 429 (rate per client, with
`Retry-After`), 415 (content type), 413 (size or batch), 408
(body too slow), 400 (not UTF-8 / not JSON / NaN or Infinity / wrong shape). Otherwise each item is handled on its own: the answer is 202 with one
result per item (`accepted`, `duplicate` or `rejected` with its reason) once Kafka has
acknowledged the accepted ones, or 422 with the same body when every item was rejected.
Rejected items also go to the dead-letter topic. 503 (with `Retry-After`) means Kafka or
Redis is down, or an id of the request is still being published by an earlier one: retry.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from kafka.errors import KafkaError
from prometheus_client import generate_latest
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from finsent.errors import InvalidMessage, Reason, TransientError, reason_text
from ingest.ingestor import Ingestor
from ingest.metrics import IngestMetrics
from ingest.models import Candidate, Unreadable
from ingest.settings import IngestSettings
from ingest.sources.push_clients import UNAUTHENTICATED, PushClients
from ingest.sources.push_groups import RequestGroups
from ingest.sources.records import DocumentIn, raw_from_document, validation_error

ItemStatus = Literal["accepted", "duplicate", "rejected"]


class ItemResult(BaseModel):
    """The fate of one submitted item, in submission order."""

    index: int
    status: ItemStatus
    id: str | None = None
    """The document id (yours, scoped by source, or a content hash)."""
    reason: str | None = None
    """Why it was rejected, or which kind of duplicate it was (`id`, `content`, `near`)."""


class PushResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]


class Problem(BaseModel):
    detail: str


_MAX_CLIENTS = 10_000
_PARSE_INLINE_BYTES = 16 * 1024
"""Bodies up to this size (a few documents) are parsed on the event loop: a hand-off to
a worker thread costs more than parsing them."""


class TokenBucket:
    """Per-client token buckets: `rate` tokens a second, up to `burst`."""

    def __init__(
        self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0 when allowed, else seconds until a token is free."""
        now = self._monotonic()
        with self._lock:
            if len(self._buckets) > _MAX_CLIENTS:
                self._forget_full(now)
            tokens, last = self._buckets.get(client, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self._rate

    def _forget_full(self, now: float) -> None:
        """Drop clients whose bucket has refilled: they are indistinguishable from new ones."""
        self._buckets = {
            c: (t, last)
            for c, (t, last) in self._buckets.items()
            if t + (now - last) * self._rate < self._burst
        }


_BODY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/components/schemas/DocumentIn"},
        {"type": "array", "items": {"$ref": "#/components/schemas/DocumentIn"}},
        {
            "type": "object",
            "required": ["documents"],
            "properties": {
                "documents": {"type": "array", "items": {"$ref": "#/components/schemas/DocumentIn"}}
            },
        },
    ]
}


def create_app(
    ingestor: Ingestor,
    settings: IngestSettings,
    metrics: IngestMetrics,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    group_acks: bool = True,
) -> FastAPI:
    """The push API on an open ingestor.

    Concurrent requests are handled in groups (`RequestGroups`): one dedupe round trip,
    acknowledgement wait and confirmation per group, each request answered for its own
    documents. `group_acks=False` handles each request alone and flushes the producer
    for it (the first version's path; `bench-push` measures it as the baseline).

    Raises:
        ConfigurationError: no push client, or a bad one (`PushClients`).
    """
    clients = PushClients.from_settings(settings)
    limiter = TokenBucket(settings.push_rate_per_s, settings.push_burst, monotonic)
    groups = RequestGroups(
        functools.partial(ingestor.handle_groups_and_wait, timeout_s=settings.push_ack_timeout_s),
        in_flight=settings.push_groups_in_flight,
        observe=metrics.push_group_requests.observe,
    )
    app = FastAPI(
        title="finsent ingest",
        version="1",
        description=__doc__,
        openapi_tags=[{"name": "documents", "description": "Submit news and posts."}],
    )

    def problem(
        client: str, status: int, detail: str, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        metrics.push_requests.labels(client, str(status)).inc()
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.post(
        "/v1/documents",
        tags=["documents"],
        status_code=202,
        response_model=PushResponse,
        summary="Submit one document or a batch",
        responses={
            400: {"model": Problem},
            401: {"model": Problem},
            413: {"model": Problem},
            415: {"model": Problem},
            422: {"model": PushResponse, "description": "Every item was rejected."},
            429: {"model": Problem},
            503: {"model": Problem},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _BODY_SCHEMA}},
            }
        },
    )
    async def post_documents(request: Request) -> Response:
        """Body: a document, a JSON array of documents, or `{"documents": [...]}`.

        Each document needs `published_at` (with a timezone) and `text` or `title`.
        Send `Authorization: Bearer <token>`.
        """
        # Authenticate first, then rate-limit per client: behind a proxy every client has
        # the proxy's address, and strangers must not spend the pushers' budget.
        client = clients.identify(bearer_token(request.headers.get("authorization", "")))
        if client is None:
            return problem(
                UNAUTHENTICATED,
                401,
                "missing or wrong bearer token",
                {"WWW-Authenticate": "Bearer"},
            )
        wait_s = limiter.take(client)
        if wait_s > 0:
            return problem(
                client, 429, "rate limit exceeded", {"Retry-After": str(max(1, round(wait_s)))}
            )
        ctype = request.headers.get("content-type", "application/json").split(";")[0]
        ctype = ctype.strip().lower()
        if ctype not in ("application/json", ""):
            return problem(
                client, 415, f"content type must be application/json, not {ctype[:60]!r}"
            )
        limit = settings.push_max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return problem(client, 413, f"request body over {limit} bytes")
        try:  # `timeout`, not `wait_for`: no task per request
            async with asyncio.timeout(settings.push_body_timeout_s):
                body = await _read_body(request, limit)
        except TimeoutError:
            return problem(
                client, 408, f"request body not received within {settings.push_body_timeout_s:g} s"
            )
        if body is None:
            return problem(client, 413, f"request body over {limit} bytes")
        try:  # parsing up to a megabyte is CPU work: keep big bodies off the event loop
            if len(body) <= _PARSE_INLINE_BYTES:
                candidates = _candidates(body, settings.push_max_batch)
            else:
                candidates = await run_in_threadpool(_candidates, body, settings.push_max_batch)
        except InvalidMessage as exc:
            status = 413 if exc.kind is Reason.BATCH_TOO_LARGE else 400
            return problem(client, status, exc.reason)
        try:
            if group_acks:
                handled = await groups.submit(candidates)
            else:
                handled = await run_in_threadpool(
                    ingestor.handle_and_wait, candidates, settings.push_ack_timeout_s, flush=True
                )
        except (TransientError, KafkaError, redis.RedisError) as exc:
            return problem(
                client, 503, f"temporarily unavailable: {exc}"[:300], {"Retry-After": "5"}
            )
        results = [
            ItemResult(
                index=i,
                status="accepted" if h.outcome == "produced" else
                "duplicate" if h.outcome == "duplicate" else "rejected",
                id=h.doc_id,
                reason=h.reason,
            )
            for i, h in enumerate(handled)
        ]  # fmt: skip
        rejected = sum(r.status == "rejected" for r in results)
        reply = PushResponse(
            accepted=sum(r.status == "accepted" for r in results),
            duplicates=sum(r.status == "duplicate" for r in results),
            rejected=rejected,
            results=results,
        )
        status = 422 if rejected == len(results) else 202
        metrics.push_requests.labels(client, str(status)).inc()
        # pydantic-core writes the JSON (compact, UTF-8, as JSONResponse would): no dict pass.
        return Response(reply.model_dump_json(), status_code=status, media_type="application/json")

    @app.get("/healthz", summary="Liveness: the server answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: Kafka and Redis reachable", responses={503: {}})
    async def readyz() -> JSONResponse:
        checks = await run_in_threadpool(ingestor.readiness)
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
            headers=None if ready else {"Retry-After": "5"},
        )

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    app.openapi_schema = None
    _add_component(app)
    return app


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _add_component(app: FastAPI) -> None:
    """Publish `DocumentIn` under components/schemas for the hand-written request body."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("schemas", {})["DocumentIn"] = (
                DocumentIn.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _candidates(body: bytes, max_batch: int) -> list[Candidate]:
    """Split a request body into per-item candidates.

    Raises:
        InvalidMessage: the body as a whole is unusable (`undecodable`, `malformed`,
            `empty_batch`, `batch_too_large`).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(Reason.UNDECODABLE, f"body is not UTF-8 (byte {exc.start})") from None
    try:
        parsed = json.loads(text, parse_constant=_no_constant)
    except _NotJson as exc:
        raise InvalidMessage(Reason.MALFORMED, str(exc)) from None
    except (ValueError, RecursionError):  # ValueError: also ints over 4300 digits
        raise InvalidMessage(Reason.MALFORMED, "body is not valid JSON") from None
    if isinstance(parsed, dict) and "documents" in parsed:
        parsed = parsed["documents"]
        if not isinstance(parsed, list):
            raise InvalidMessage(Reason.MALFORMED, "`documents` must be an array")
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise InvalidMessage(Reason.EMPTY_BATCH, "no documents in the request")
    if len(items) > max_batch:
        raise InvalidMessage(Reason.BATCH_TOO_LARGE, f"{len(items)} documents > {max_batch}")
    return [_candidate(item) for item in items]


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    """Python's json accepts NaN and Infinity; JSON (RFC 8259) does not, nor do we."""
    raise _NotJson(f"{name} is not valid JSON")


def _candidate(item: Any) -> Candidate:
    try:
        raw = json.dumps(item, ensure_ascii=False).encode("utf-8", "backslashreplace")
    except (ValueError, RecursionError):
        raw = b""
    if not isinstance(item, dict):
        reason = reason_text(Reason.MALFORMED, f"expected a JSON object, got {type(item).__name__}")
        return Unreadable(source="push", raw=raw, reason=reason)
    try:
        record = DocumentIn.model_validate(item)
    except ValidationError as exc:
        return Unreadable(source="push", raw=raw, reason=validation_error(exc).reason)
    source = f"push:{record.source or 'default'}"
    record = record.model_copy(update={"source": None})
    return raw_from_document(record, source, raw, scope_id=True)
