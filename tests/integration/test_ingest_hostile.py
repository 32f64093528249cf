"""Hostile input against a real `finsent ingest serve` process on the real broker and Redis.

Over 2,000 malformed, oversized, slow, concurrent and unauthenticated requests, with 200
good documents interleaved. Pass: no 5xx, the process stays up, /healthz answers
throughout, and every good document is on the topic exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from tests.integration.conftest import FINSENT, REPO, own_words, read_topic

TOKEN = "hostile-" + uuid.uuid4().hex
GOOD = 200
BAD_PER_GOOD = 10  # 2,000 hostile requests
SLOW = 24  # slowloris-like connections, each bounded by the server's body timeout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(
    settings: FinsentSettings, topic_factory: Callable[..., str], tmp_path: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    topic = topic_factory("hostile")
    port = _free_port()
    env = {
        **os.environ,
        "FINSENT_INGEST_PUSH_TOKEN": TOKEN,
        "FINSENT_INGEST_PUSH_RATE_PER_S": "1000000",
        "FINSENT_INGEST_PUSH_BURST": "1000000",
        "FINSENT_INGEST_PUSH_BODY_TIMEOUT_S": "3",
        "FINSENT_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "serve.log").open("wb")  # a file, not a pipe nobody drains
    proc = subprocess.Popen(
        [FINSENT, "ingest", "serve", "--port", str(port), "--topic", topic],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=15).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        proc.kill()
        raise AssertionError(f"serve did not start: {(tmp_path / 'serve.log').read_text()}")
    try:
        yield url, topic, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


NOW = datetime.now(UTC)


def _good(i: int, run: str) -> dict[str, object]:
    return {
        "id": f"{run}-{i}",
        "source": "hostile",
        "text": f"Apple shares move {run} {i} " + own_words(f"{run}x{i}", 6),
        "published_at": (NOW - timedelta(minutes=i % 50)).isoformat(),
    }


def _hostile(rng: random.Random, run: str) -> tuple[dict[str, str], bytes]:
    """One hostile request: headers and body."""
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    when = NOW.isoformat()
    choice = rng.randrange(14)
    if choice in (6, 7) and rng.random() > 0.3:  # keep the megabyte bodies to a few dozen
        choice = 13
    if choice == 0:
        return {"Content-Type": "application/json"}, b"{}"  # no token
    if choice == 1:
        return {"Authorization": "Bearer wrong", "Content-Type": "application/json"}, b"[]"
    if choice == 2:
        return {"Authorization": f"Basic {TOKEN}"}, json.dumps({"text": "x"}).encode()
    if choice == 3:
        return auth, bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
    if choice == 4:
        return auth, b'{"text": "Apple", "published_at": NaN}'
    if choice == 5:
        return auth, b"[" * 50_000  # nesting
    if choice == 6:  # over the 1 MiB request cap
        return auth, b'{"text": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    if choice == 7:  # just under the cap, rejected as oversized: its dead letter is capped
        text = "b" * (1024 * 1024 - 100)
        return auth, json.dumps({"text": text, "published_at": when}).encode()
    if choice == 8:  # the old quadratic cleaning: 240 KB of unclosed openers
        text = rng.choice(["<!--", "<script>", "<style>", "<br"]) * 60_000
        return auth, json.dumps({"text": text, "published_at": when}).encode()
    if choice == 9:  # series-label syntax and scope escapes
        doc = {"text": "Apple falls", "published_at": when, "source": "a,b=(c)", "id": "tw:1"}
        return auth, json.dumps(doc).encode()
    if choice == 10:  # a day ahead (issue 12) and bidi controls
        doc = {"text": "\u202eApple\u202c", "published_at": (NOW + timedelta(days=1)).isoformat()}
        return auth, json.dumps(doc).encode()
    if choice == 11:
        return {**auth, "Content-Type": "text/html"}, b"<html/>"
    if choice == 12:
        return auth, json.dumps([{"text": i} for i in range(600)]).encode()  # batch cap
    items = [1, None, "x", {"published_at": "yesterday"}, {"text": ""}]
    return auth, json.dumps(rng.sample(items, 3)).encode()


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    health: list[int] = field(default_factory=list)
    slow: list[int] = field(default_factory=list)
    good_tries: int = 0


async def _slowloris(host: str, port: int, tally: Tally) -> None:
    """Headers at once, then a body trickled one byte a second: bounded by the server."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    writer.write(head.encode())
    try:
        for _ in range(20):  # at most about 20 s: the server must cut it off first
            writer.write(b" ")
            await writer.drain()
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=1.0)
            except TimeoutError:
                continue
            if line:
                tally.slow.append(int(line.split()[1]))
                return
            break
    except ConnectionError:
        pass
    finally:
        writer.close()
    tally.slow.append(0)


async def _run(url: str, run: str) -> Tally:
    tally = Tally()
    rng = random.Random(13)
    done = asyncio.Event()
    jobs: asyncio.Queue[tuple[str, dict[str, str], bytes]] = asyncio.Queue()
    for i in range(GOOD):
        for _ in range(BAD_PER_GOOD):
            headers, body = _hostile(rng, run)
            jobs.put_nowait(("bad", headers, body))
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        jobs.put_nowait((f"good:{i}", auth, json.dumps(_good(i, run)).encode()))

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def worker() -> None:
            while not jobs.empty():
                kind, headers, body = jobs.get_nowait()
                while True:
                    try:
                        reply = await http.post("/v1/documents", content=body, headers=headers)
                    except httpx.TransportError:
                        # The server answered 413 on Content-Length and closed before
                        # taking a body over the cap: a refusal, not a failure.
                        assert kind == "bad" and len(body) > 1024 * 1024
                        tally.statuses[0] += 1
                        break
                    tally.statuses[reply.status_code] += 1
                    if kind == "bad" or reply.status_code not in (429, 503):
                        break
                    await asyncio.sleep(0.5)  # a good client retries on 429/503
                if kind != "bad":
                    tally.good_tries += 1
                    assert reply.status_code == 202, reply.text
                    tally.accepted += [
                        r["id"] for r in reply.json()["results"] if r["status"] == "accepted"
                    ]

        async def health() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=30) as probe:
                while not done.is_set():
                    tally.health.append((await probe.get("/healthz")).status_code)
                    await asyncio.sleep(0.2)

        prober = asyncio.create_task(health())
        port = int(url.rsplit(":", 1)[1])
        slow = [asyncio.create_task(_slowloris("127.0.0.1", port, tally)) for _ in range(SLOW)]
        await asyncio.gather(*(worker() for _ in range(32)))
        await asyncio.gather(*slow)
        done.set()
        await prober
    return tally


def test_hostile_requests_never_5xx_never_crash_and_lose_no_good_document(
    settings: FinsentSettings, server: tuple[str, str, subprocess.Popen[bytes]]
) -> None:
    url, topic, proc = server
    run = uuid.uuid4().hex[:8]
    tally = asyncio.run(_run(url, run))

    assert proc.poll() is None, "the server died"
    assert sum(tally.statuses.values()) >= GOOD * (BAD_PER_GOOD + 1)
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert tally.health and set(tally.health) == {200}
    assert tally.slow and all(s == 408 for s in tally.slow), tally.slow
    # Every class of hostile input got its own clear answer.
    assert {400, 401, 408, 413, 415, 422} <= set(tally.statuses) | set(tally.slow)
    good_ids = {f"push:hostile:{run}-{i}" for i in range(GOOD)}
    assert set(tally.accepted) == good_ids
    on_topic = Counter(DOCUMENTS.decode(r.value).id for r in read_topic(settings, topic))
    assert {i: n for i, n in on_topic.items() if i in good_ids} == dict.fromkeys(good_ids, 1)
    letters = read_topic(settings, topic + ".dlq")
    assert letters and max(len(r.value) for r in letters) <= 512 * 1024
    assert any(dict(r.headers).get("truncated_from") for r in letters)
