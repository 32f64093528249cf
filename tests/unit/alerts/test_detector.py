"""Detector on generated series: planted spikes in overdispersed noise, many seeds.

Precision and recall are printed (run with -s) and asserted against floors.
"""

from __future__ import annotations

from alerts.calibrate import WINDOWS, noise_rate, precision_recall, simulate
from alerts.detector import DetectorParams, DetectorState, step


def test_high_volume_15m_windows_precision_and_recall() -> None:
    params = DetectorParams(halflife_windows=96, min_count=20)
    runs = [simulate(seed, rate=80, base_share=0.2, jump=0.35, params=params) for seed in range(40)]
    precision, recall = precision_recall(runs)
    print(
        f"15m-like: rate 80/window, share 0.20 -> +0.35: precision={precision:.3f} recall={recall:.3f}"
    )
    assert precision >= 0.9
    assert recall >= 0.75


def test_pure_noise_rarely_fires() -> None:
    params = DetectorParams(halflife_windows=96, min_count=20)
    runs = [simulate(seed, rate=80, base_share=0.2, jump=0.0, params=params) for seed in range(40)]
    rate = noise_rate(runs)
    print(
        f"noise only: {rate * 40 * WINDOWS:.0f} incidents in {40 * WINDOWS} windows ({rate:.4f}/window)"
    )
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
    precision, recall = precision_recall(runs)
    print(f"daily low-volume: precision={precision:.3f} recall={recall:.3f}")
    assert precision >= 0.9
    assert recall >= 0.85


def test_nothing_fires_below_the_volume_gate() -> None:
    params = DetectorParams(
        halflife_windows=14, min_count=15, min_history_windows=3, min_baseline_docs=5
    )
    # Spikes of ~15 documents: about half the spike windows fall under the gate.
    runs = [
        simulate(
            seed, rate=5, base_share=0.1, jump=0.8, params=params, spike_volume=3.0, n_spikes=8
        )
        for seed in range(60)
    ]
    counts = [c for r in runs for c in r.fired_counts]
    assert counts, "some spikes clear the gate, so the test is not vacuous"
    assert min(counts) >= params.min_count
    # Without volume, even a total swing to negative never pages.
    quiet = [simulate(seed, rate=5, base_share=0.1, jump=0.8, params=params) for seed in range(60)]
    assert all(c >= params.min_count for r in quiet for c in r.fired_counts)


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
