"""Write and query throughput of a store backend: `python -m finsent.store.bench`.

Writes synthetic scored documents (3 tickers, 1 topic, 1 source, `all`: ~6 series each)
in batches to a throwaway namespace, redelivers them once, queries, and drops the namespace.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from finsent.schemas import SeriesRef
from finsent.settings import FinsentSettings
from finsent.store import open_store
from finsent.store.testing import scored_doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--backend", choices=["auto", "core", "timeseries"], default="auto")
    args = parser.parse_args()
    store = open_store(FinsentSettings(), args.backend)
    ns = "bench" + uuid.uuid4().hex[:8]
    rng = random.Random(0)
    t0 = datetime(2015, 10, 1, tzinfo=UTC)
    tickers = [f"T{i}" for i in range(50)]
    docs = [
        scored_doc(
            f"d{i}",
            t0 + timedelta(seconds=rng.randrange(7 * 86_400)),
            ns,
            rng.choice(["negative", "neutral", "positive"]),
            tickers=tuple(rng.sample(tickers, 3)),
        )
        for i in range(args.docs)
    ]
    try:
        for label in ("first delivery", "redelivery"):
            started = time.perf_counter()
            new = sum(
                store.write_batch(docs[i : i + args.batch]) for i in range(0, len(docs), args.batch)
            )
            took = time.perf_counter() - started
            print(  # noqa: T201 - a benchmark prints its figures
                f"{store.backend} {label}: {len(docs)} docs in {took:.2f}s "
                f"= {len(docs) / took:,.0f} docs/s (batch {args.batch}, {new} new)"
            )
        started = time.perf_counter()
        points = store.range(
            SeriesRef(kind="all", value="all"),
            ns,
            t0,
            t0 + timedelta(days=1),
            timedelta(minutes=15),
        )
        print(  # noqa: T201 - a benchmark prints its figures
            f"range of 1 day at 1m buckets into {len(points)} points: "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
    finally:
        store.drop_namespace(ns)
        store.close()


if __name__ == "__main__":
    main()
