"""How well the detector pages: `python -m alerts.calibrate {simulate,dump-scored,stocknet}`.

- `simulate`: synthetic series through the real engine's detector, with planted bursts.
  Quiet series (a few posts a day, then a burst of mostly negative posts) and busy ones
  (dozens of posts per step, overdispersed shares, then a share shift), plus calm runs and
  "good news" volume bursts with the usual share that must never page. Prints precision,
  recall, false incidents per series-week and time-to-page.
- `dump-scored`: the scored documents of one namespace from `news.scored.v1` (what a
  `finsent run --replay ...` wrote), as JSON lines, so the next command reruns offline.
- `stocknet`: those documents through the real `AlertEngine` (fakeredis store, same code as
  live), evaluated step by step as live would, against the StockNet close-to-close moves.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from alerts.detector import Counts, DetectorState, is_idle, judge, learn
from alerts.rules import DEFAULT_RULES, Rule
from finsent.schemas import Alert, ScoredDocument

DAY_MS = 86_400_000


# -- simulations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Run:
    """One simulated series: the planted bursts and when incidents fired."""

    planted: tuple[Burst, ...]
    fired_ms: tuple[int, ...]
    fired_counts: tuple[int, ...]
    days: float


def run_detector(
    rule: Rule, steps: Sequence[Counts], market_share: float, t0_ms: int = 0
) -> tuple[list[int], list[int]]:
    """The engine's per-step loop for one series: (fire step ends, window counts at fire)."""
    s, w = rule.step_ms, rule.window_ms
    per = w // s
    state = DetectorState()
    fired: list[int] = []
    counts: list[int] = []
    n = k = 0
    padded = [Counts()] * per + list(steps)
    for i in range(len(steps)):
        entering, leaving = padded[i + per], padded[i]
        n += entering.count - padded[i].count
        k += entering.negative - padded[i].negative
        end = t0_ms + (i + 1) * s
        window = Counts(n, k)
        if is_idle(state, window, leaving, end - w - s):
            continue
        learn(state, end - w - s, rule.step_s, leaving, rule.params)
        d = judge(state, end, rule.window_s, window, market_share, rule.params, f"i{i}")
        if d.action == "fire":
            fired.append(end)
            counts.append(window.count)
    return fired, counts


def simulate(
    seed: int,
    rule: Rule,
    *,
    per_day: float,
    share: float,
    days: int = 28,
    bursts: int = 2,
    burst_docs: float = 30.0,
    burst_share: float = 0.6,
    burst_minutes: int = 60,
    overdispersion: float = 40.0,
    warm_days: int = 0,
) -> Run:
    """One series of `days` (deterministic per seed): Poisson volume with a daily cycle,
    beta-binomial negatives (real shares wander), `bursts` planted bursts of
    `burst_docs` extra posts over `burst_minutes` at `burst_share` negative. A burst with
    `burst_share` equal to `share` is good news: more posts, the usual proportions.
    `warm_days` of history come first (no burst in them)."""
    rng = np.random.default_rng(seed)
    picker = random.Random(seed)
    s = rule.step_ms
    steps_per_day = DAY_MS // s
    total = (days + warm_days) * steps_per_day
    planted: list[Burst] = []
    slots = list(range(warm_days * steps_per_day + 8, total - steps_per_day, steps_per_day // 2))
    for start in sorted(picker.sample(slots, bursts)):
        offset = picker.randrange(steps_per_day // 4)
        planted.append(Burst((start + offset) * s, (start + offset) * s + burst_minutes * 60_000))
    hours = (np.arange(total) * s / 3_600_000) % 24
    cycle = 1.0 + 0.8 * np.sin((hours - 9) / 24 * 2 * np.pi)  # busier in the afternoon UTC
    rate = per_day / steps_per_day * cycle
    steps: list[Counts] = []
    for i in range(total):
        start_ms = i * s
        n = int(rng.poisson(rate[i]))
        p = rng.beta(share * overdispersion, (1 - share) * overdispersion)
        k = int(rng.binomial(n, p)) if n else 0
        for b in planted:
            if b.start_ms <= start_ms < b.end_ms:
                extra = int(rng.poisson(burst_docs * s / (b.end_ms - b.start_ms)))
                n += extra
                k += int(rng.binomial(extra, burst_share)) if extra else 0
        steps.append(Counts(n, k))
    fired, counts = run_detector(rule, steps, share)
    return Run(tuple(planted), tuple(fired), tuple(counts), float(days))


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    false_per_week: float
    median_delay_min: float


def score(runs: Sequence[Run], rule: Rule) -> Scores:
    """An incident is true if it fired while a burst was in its window (up to the
    window's length after the burst ended); recall counts bursts with a true incident;
    delay is fire step end + lateness - burst start."""
    fires = true = spikes = hit = 0
    delays: list[float] = []
    weeks = 0.0
    for r in runs:
        weeks += r.days / 7
        for b in r.planted:
            spikes += 1
            caught = [t for t in r.fired_ms if b.start_ms < t <= b.end_ms + rule.window_ms]
            if caught:
                hit += 1
                delays.append((caught[0] + rule.lateness_ms - b.start_ms) / 60_000)
        for t in r.fired_ms:
            fires += 1
            true += any(b.start_ms < t <= b.end_ms + rule.window_ms for b in r.planted)
    return Scores(
        precision=true / fires if fires else 1.0,
        recall=hit / spikes if spikes else 1.0,
        false_per_week=(fires - true) / weeks if weeks else 0.0,
        median_delay_min=float(np.median(delays)) if delays else float("nan"),
    )


SCENARIOS: dict[str, dict[str, float]] = {
    # name: simulate() keyword arguments
    "quiet 4/day, burst 25 posts/1h at 60% neg": {
        "per_day": 4, "share": 0.2, "burst_docs": 25, "burst_share": 0.6, "burst_minutes": 60,
    },
    "quiet 4/day, burst 12 posts/2h at 70% neg": {
        "per_day": 4, "share": 0.2, "burst_docs": 12, "burst_share": 0.7, "burst_minutes": 120,
    },
    "quiet 4/day, good news 40 posts/2h at 20% neg": {
        "per_day": 4, "share": 0.2, "burst_docs": 40, "burst_share": 0.2, "burst_minutes": 120,
    },
    "mid 40/day, burst 40 posts/1h at 60% neg": {
        "per_day": 40, "share": 0.2, "burst_docs": 40, "burst_share": 0.6, "burst_minutes": 60,
    },
    "busy 2000/day, +200 posts/1h at 50% neg": {
        "per_day": 2000, "share": 0.2, "burst_docs": 200, "burst_share": 0.5, "burst_minutes": 60,
    },
    "busy 2000/day, good news +600 posts/1h at 20% neg": {
        "per_day": 2000, "share": 0.2, "burst_docs": 600, "burst_share": 0.2, "burst_minutes": 60,
    },
}  # fmt: skip


def simulate_main(seeds: int, cold: bool) -> None:
    """Prints one line per (rule, scenario)."""
    for rule in DEFAULT_RULES:
        for name, kwargs in SCENARIOS.items():
            busy = kwargs["per_day"] >= 1000
            if busy and "ticker" in rule.kinds and len(rule.kinds) == 1:
                continue  # the quiet rule is for tickers; busy tickers are the 1h rule's
            runs = [
                simulate(seed, rule, warm_days=0 if cold else 7, **kwargs)  # type: ignore[arg-type]
                for seed in range(seeds)
            ]
            sc = score(runs, rule)
            good_news = kwargs["burst_share"] == kwargs["share"]
            figures = (
                f"false incidents/series-week {sc.false_per_week:.3f}"
                if good_news
                else f"P={sc.precision:.2f} R={sc.recall:.2f} "
                f"false/series-week {sc.false_per_week:.3f} "
                f"median time-to-page {sc.median_delay_min:.0f} min"
            )
            print(f"{rule.name:18} {name:48} {figures}")  # noqa: T201 - a report
    calm = [
        simulate(seed, rule, per_day=3, share=0.2, bursts=0, days=7)
        for seed in range(seeds * 5)
        for rule in DEFAULT_RULES
    ]
    print(  # noqa: T201 - a report
        f"calm week, no history, 3 posts/day: {sum(len(r.fired_ms) for r in calm)} incidents "
        f"in {len(calm)} series-weeks"
    )


# -- StockNet ------------------------------------------------------------------------------


def dump_scored(namespace: str, out: Path) -> int:
    """Write the namespace's scored documents from `news.scored.v1` as JSON lines."""
    from kafka import TopicPartition

    from finsent.kafka_io import make_consumer
    from finsent.settings import FinsentSettings
    from finsent.topics import SCORED

    consumer = make_consumer(FinsentSettings().kafka, group_id=None)
    written = 0
    try:
        tps = [TopicPartition(SCORED.name, p) for p in consumer.partitions_for_topic(SCORED.name)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        with out.open("w") as fh:
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                for records in consumer.poll(timeout_ms=1000).values():
                    for record in records:
                        doc = SCORED.decode(record.value)
                        if doc.namespace == namespace:
                            fh.write(doc.model_dump_json() + "\n")
                            written += 1
    finally:
        consumer.close()
    return written


def close_to_close(price_dir: Path) -> dict[tuple[str, date], float]:
    """(ticker, day) -> close-to-close return of that trading day."""
    moves: dict[tuple[str, date], float] = {}
    for path in sorted(price_dir.glob("*.csv")):
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        for prev, row in itertools.pairwise(rows):
            day = date.fromisoformat(row["Date"])
            moves[(path.stem, day)] = float(row["Adj Close"]) / float(prev["Adj Close"]) - 1
    return moves


def move_on(moves: dict[tuple[str, date], float], ticker: str, at: datetime) -> tuple[date, float]:
    """The price move an alert decided at `at` speaks about: that day's close if the
    market had not closed yet (20:00 UTC in October), else the next trading day's."""
    day = at.date() if at.hour < 20 else at.date() + timedelta(days=1)
    for _ in range(5):
        if (ticker, day) in moves:
            return day, moves[(ticker, day)]
        day += timedelta(days=1)
    return day, float("nan")


def replay_engine(docs: Iterable[ScoredDocument], rules: tuple[Rule, ...]) -> list[Alert]:
    """The real engine over a fakeredis store, evaluated after every document as live would
    be (the clock is the newest event time, so the namespace pages and is clock-capped)."""
    import fakeredis

    from alerts.engine import AlertEngine
    from alerts.settings import AlertsSettings
    from finsent.store import CoreStore, StoreOptions

    ordered = sorted(docs, key=lambda d: (d.published_at, d.document_id))
    store = CoreStore(fakeredis.FakeRedis(), StoreOptions())
    now = {"t": ordered[0].published_at}
    ns = ordered[0].namespace
    settings = AlertsSettings(rules=rules, page_namespaces=(ns,), publish_kafka=False)
    engine = AlertEngine(store, settings, clock=lambda: now["t"])
    out: list[Alert] = []
    batch: list[ScoredDocument] = []
    for doc in ordered:
        # Live evaluates every few seconds; evaluating once per event-time hour decides the
        # same (decisions depend on the data, not on when the engine looks: see the tests).
        if batch and doc.published_at.timestamp() // 3600 > now["t"].timestamp() // 3600:
            store.write_batch(batch)
            batch = []
            out += engine.evaluate(ns)
        batch.append(doc)
        now["t"] = doc.published_at
    store.write_batch(batch)
    out += engine.evaluate(ns)
    return out


def stocknet_main(scored: Path, prices: Path) -> None:
    docs = [ScoredDocument.model_validate_json(line) for line in scored.read_text().splitlines()]
    moves = close_to_close(prices)
    alerts = replay_engine(docs, DEFAULT_RULES)
    fired = [a for a in alerts if a.state == "firing" and a.series.kind == "ticker"]
    print(f"{len(docs)} scored documents; {len(fired)} ticker incidents fired")  # noqa: T201
    up_days = 0
    for a in fired:
        assert a.decided_at is not None
        day, move = move_on(moves, a.series.value, a.decided_at)
        up_days += move > 0.02
        print(  # noqa: T201 - a report
            f"  {a.rule:18} {a.series.value:5} decided {a.decided_at:%Y-%m-%d %H:%M} UTC "
            f"window {a.window_start:%m-%d %H:%M}..{a.window_end:%H:%M} "
            f"{a.doc_count:3d} docs {a.observed:.0%} neg (baseline {a.baseline:.0%}, "
            f"z={a.z_score:.1f}) -> close-to-close {day} {move:+.1%}"
        )
    big_days = sorted(
        (t, d, m)
        for (t, d), m in moves.items()
        if abs(m) > 0.04 and d.year == 2015 and d.month == 10
    )
    print(f"ticker alerts on >+2% days: {up_days}")  # noqa: T201
    print("moves beyond 4% in the month:", [(t, str(d), f"{m:+.1%}") for t, d, m in big_days])  # noqa: T201


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alerts.calibrate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="precision/recall on planted bursts")
    sim.add_argument("--seeds", type=int, default=20)
    sim.add_argument("--cold", action="store_true", help="no history before the first burst")
    dump = sub.add_parser("dump-scored", help="a namespace's scored documents as JSON lines")
    dump.add_argument("namespace")
    dump.add_argument("out", type=Path)
    net = sub.add_parser("stocknet", help="the engine over scored StockNet documents")
    net.add_argument("scored", type=Path, help="JSON lines from dump-scored")
    net.add_argument("--prices", type=Path, required=True, help="stocknet-dataset/price/raw")
    args = parser.parse_args(argv)
    if args.command == "simulate":
        simulate_main(args.seeds, args.cold)
    elif args.command == "dump-scored":
        print(f"{dump_scored(args.namespace, args.out)} documents written")  # noqa: T201
    else:
        stocknet_main(args.scored, args.prices)


if __name__ == "__main__":
    main(sys.argv[1:])
