"""Write throughput of the store, batch path against per-document path:
`python -m finsent.store.bench`.

Synthetic scored documents as a busy live feed delivers them: `--event-rate` documents per
second of event time, 3 of 50 tickers each, 1 topic, 2 sources, `all` (~6 series each),
read from 4 partitions with offsets. Each backend the server supports writes them twice
through the batch path (`write_batch_detailed`, first delivery then a full redelivery) and
once through the per-document path (the same script once per document, pipelined per
batch, as the store wrote before), each into its own namespace, which is then dropped.

"Per Redis core" is documents per second of the server's own CPU (`INFO cpu` before and
after, user + sys): what one Redis core sustains, whatever the client costs. The wall
figure includes this Python client on the same machine.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import redis

from finsent.schemas import ScoredDocument
from finsent.settings import FinsentSettings
from finsent.store import SeriesStore, SourceOffset, open_store_on
from finsent.store.testing import scored_doc
from finsent.store.timeseries import has_timeseries


@dataclass(frozen=True)
class Figure:
    docs: int
    wall_s: float
    redis_cpu_s: float

    @property
    def wall_rate(self) -> float:
        return self.docs / self.wall_s

    @property
    def per_core(self) -> float:
        return self.docs / self.redis_cpu_s if self.redis_cpu_s > 0 else float("inf")


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(client: redis.Redis, docs: int, run: Callable[[], object]) -> Figure:
    cpu, started = redis_cpu(client), time.perf_counter()
    run()
    return Figure(docs, time.perf_counter() - started, redis_cpu(client) - cpu)


def make_docs(count: int, namespace: str, event_rate: float) -> list[ScoredDocument]:
    rng = random.Random(0)
    t0 = datetime(2015, 10, 1, tzinfo=UTC)
    tickers = [f"T{i}" for i in range(50)]
    return [
        scored_doc(
            f"d{i}",
            t0 + timedelta(seconds=i / event_rate),
            namespace,
            rng.choice(["negative", "neutral", "positive"]),
            tickers=tuple(rng.sample(tickers, 3)),
            source=rng.choice(["rss:reuters", "push:desk"]),
            score=rng.uniform(-1, 1),
        )
        for i in range(count)
    ]


def batched(
    docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset], size: int
) -> list[tuple[Sequence[ScoredDocument], Sequence[SourceOffset]]]:
    return [(docs[i : i + size], offsets[i : i + size]) for i in range(0, len(docs), size)]


def write_all(
    store: SeriesStore,
    batches: list[tuple[Sequence[ScoredDocument], Sequence[SourceOffset]]],
    per_document: bool = False,
) -> None:
    for docs, offsets in batches:
        if per_document:
            store.write_per_document(docs, offsets)
        else:
            store.write_batch_detailed(docs, offsets)


def bench_backend(store: SeriesStore, args: argparse.Namespace) -> None:
    client = store.client
    results: dict[str, Figure] = {}
    for path in ("batch", "per-document"):
        ns = f"bench{uuid.uuid4().hex[:8]}"
        docs = make_docs(args.docs, ns, args.event_rate)
        offsets = [SourceOffset("bench", i % 4, i // 4) for i in range(len(docs))]
        batches = batched(docs, offsets, args.batch)
        try:
            if path == "batch":
                for label in ("first delivery", "redelivery"):
                    fig = measure(client, len(docs), partial(write_all, store, batches))
                    results[f"batch {label}"] = fig
                assert store.document_count(ns) == len(docs), "batch path miscounted"
            else:
                results["per-document first delivery"] = measure(
                    client, len(docs), partial(write_all, store, batches, per_document=True)
                )
                assert store.document_count(ns) == len(docs), "per-document path miscounted"
        finally:
            store.drop_namespace(ns)
    for label, fig in results.items():
        # INFO's CPU counters tick in 10 ms steps: below that there is no per-core figure.
        per_core = f"{fig.per_core:>9,.0f}" if fig.redis_cpu_s >= 0.05 else "  (<50 ms)"
        print(  # noqa: T201 - a benchmark prints its figures
            f"{store.backend:<10} {label:<28} {fig.docs} docs: wall {fig.wall_rate:>9,.0f} docs/s, "
            f"Redis CPU {fig.redis_cpu_s:6.2f} s = {per_core} docs/s per Redis core"
        )
    batch, single = results["batch first delivery"], results["per-document first delivery"]
    print(  # noqa: T201
        f"{store.backend:<10} batch / per-document: x{batch.per_core / single.per_core:.1f} per "
        f"Redis core, x{batch.wall_rate / single.wall_rate:.1f} wall (batch {args.batch}, "
        f"{args.event_rate:g} docs per event-second; UNDER LOAD if the machine is shared)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--event-rate", type=float, default=200.0, help="docs per event-second")
    parser.add_argument("--backend", choices=["auto", "both", "core", "timeseries"], default="both")
    args = parser.parse_args()
    settings = FinsentSettings()
    client = settings.redis.client()
    if args.backend == "both":
        backends = ["core"] + (["timeseries"] if has_timeseries(client) else [])
    else:
        backends = [args.backend]
    for backend in backends:
        bench_backend(open_store_on(client, settings.store, backend), args)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
