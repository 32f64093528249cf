"""Detector on generated series: planted spikes in overdispersed noise, many seeds.

Precision and recall are printed (run with -s) and asserted against floors.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from alerts.detector import DetectorParams, DetectorState, step

WINDOWS = 400
WARMUP = 30


@dataclass
class Run:
    planted: set[int]
    fired: list[int]
    max_count_below_gate_fired: int


def simulate(
    seed: int,
    rate: float,
    base_share: float,
    jump: float,
    params: DetectorParams,
    overdispersion: float = 40.0,
    spike_volume: float = 1.0,
    n_spikes: int = 6,
) -> Run:
    """Windows with Poisson volume and beta-binomial negatives; spikes of 1-3 windows."""
    rng = np.random.default_rng(seed)
    starts = sorted(random.Random(seed).sample(range(WARMUP, WINDOWS - 5, 12), n_spikes))
    planted = {s + k for s in starts for k in range(random.Random(seed + s).randint(1, 3))}
    state, fired, below = DetectorState(), [], 0
    for w in range(WINDOWS):
        spike = w in planted
        count = int(rng.poisson(rate * (spike_volume if spike else 1.0)))
        share = min(base_share + jump, 0.95) if spike else base_share
        p = rng.beta(share * overdispersion, (1 - share) * overdispersion)
        negative = int(rng.binomial(count, p)) if count else 0
        state, decision = step(state, count, negative, params, f"i{w}")
        if decision.action == "fire":
            fired.append(w)
            if count < params.min_count:
                below = max(below, count)
    return Run(planted, fired, below)


def score(runs: list[Run]) -> tuple[float, float]:
    true_fires = sum(1 for r in runs for w in r.fired if w in r.planted)
    fires = sum(len(r.fired) for r in runs)
    # An incident covers a planted spike when it fires in any of that spike's windows.
    spikes = hit = 0
    for r in runs:
        groups: list[list[int]] = []
        for w in sorted(r.planted):
            if groups and w == groups[-1][-1] + 1:
                groups[-1].append(w)
            else:
                groups.append([w])
        spikes += len(groups)
        hit += sum(1 for g in groups if any(w in r.fired for w in g))
    return (true_fires / fires if fires else 1.0), hit / spikes


def test_high_volume_15m_windows_precision_and_recall() -> None:
    params = DetectorParams(halflife_windows=96, min_count=20)
    runs = [simulate(seed, rate=80, base_share=0.2, jump=0.35, params=params) for seed in range(40)]
    precision, recall = score(runs)
    print(
        f"15m-like: rate 80/window, share 0.20 -> +0.35: precision={precision:.3f} recall={recall:.3f}"
    )
    assert precision >= 0.9
    assert recall >= 0.75


def test_pure_noise_rarely_fires() -> None:
    params = DetectorParams(halflife_windows=96, min_count=20)
    runs = [simulate(seed, rate=80, base_share=0.2, jump=0.0, params=params) for seed in range(40)]
    fires = sum(len(r.fired) for r in runs)
    rate = fires / (40 * WINDOWS)
    print(f"noise only: {fires} incidents in {40 * WINDOWS} windows ({rate:.4f}/window)")
    assert rate < 0.001


def test_low_volume_daily_windows_catch_a_volume_and_share_spike() -> None:
    # StockNet-like: ~5 tweets a day, an event day with ~15x volume and a negative swing.
    params = DetectorParams(
        halflife_windows=14, min_count=15, min_history_windows=5, min_baseline_docs=15
    )
    runs = [
        simulate(
            seed, rate=5, base_share=0.2, jump=0.35, params=params, spike_volume=15.0, n_spikes=4
        )
        for seed in range(60)
    ]
    precision, recall = score(runs)
    print(f"daily low-volume: precision={precision:.3f} recall={recall:.3f}")
    assert precision >= 0.9
    assert recall >= 0.85


def test_nothing_fires_below_the_volume_gate() -> None:
    params = DetectorParams(
        halflife_windows=14, min_count=15, min_history_windows=3, min_baseline_docs=5
    )
    runs = [
        simulate(seed, rate=5, base_share=0.1, jump=0.8, params=params, n_spikes=8)
        for seed in range(60)
    ]
    assert all(not r.fired for r in runs)  # spikes without volume: never above 15 docs


def test_one_incident_per_spike_with_hysteresis_and_cooldown() -> None:
    params = DetectorParams(
        min_count=10, min_history_windows=3, min_baseline_docs=10, cooldown_windows=2
    )
    state = DetectorState()
    actions = []
    windows = [(100, 20)] * 10 + [
        (100, 60),
        (100, 55),
        (100, 50),
        (100, 20),
        (100, 60),
        (100, 20),
        (100, 20),
    ]
    for i, (count, negative) in enumerate(windows):
        state, decision = step(state, count, negative, params, f"inc-{i}")
        actions.append(decision.action)
    assert actions[:10] == ["none"] * 10
    # Fires once, stays open through the spike, resolves when calm, cooldown blocks a re-fire.
    assert actions[10:] == ["fire", "none", "none", "resolve", "none", "none", "none"]
    assert state.incident_id is None
    assert state.baseline < 0.25  # the spike did not become the new normal


def test_severity_and_alert_fields() -> None:
    params = DetectorParams(min_count=10, min_history_windows=3, min_baseline_docs=10)
    state = DetectorState()
    for _ in range(8):
        state, _ = step(state, 200, 40, params, "x")
    state, decision = step(state, 200, 160, params, "inc")
    assert decision.action == "fire" and decision.severity == "critical"
    assert decision.observed == 0.8 and decision.doc_count == 200
    assert abs(decision.baseline - 0.2) < 1e-9
    assert decision.z_score > params.z_critical
    assert state.incident_id == "inc"
