"""Planted-spike simulations that size the detector's thresholds: `python -m alerts.calibrate`.

Each run is a series of windows with Poisson volume and beta-binomial negatives (real
news is overdispersed: shares wander more than binomial noise), with 1-3-window spikes
planted at random. Precision = fired windows that are planted spikes / all fired windows;
recall = planted spikes with at least one fired window / all planted spikes.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

import numpy as np

from alerts.detector import DetectorParams, DetectorState, step

WINDOWS = 400
WARMUP = 30


@dataclass(frozen=True)
class Run:
    """One simulated series: planted spike windows and the windows that fired."""

    planted: frozenset[int]
    fired: tuple[int, ...]
    fired_counts: tuple[int, ...]


def simulate(
    seed: int,
    rate: float,
    base_share: float,
    jump: float,
    params: DetectorParams,
    *,
    overdispersion: float = 40.0,
    spike_volume: float = 1.0,
    n_spikes: int = 6,
    windows: int = WINDOWS,
) -> Run:
    """Run the detector over one generated series (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    picker = random.Random(seed)
    starts = sorted(picker.sample(range(WARMUP, windows - 5, 12), n_spikes))
    planted = frozenset(s + k for s in starts for k in range(picker.randint(1, 3)))
    state = DetectorState()
    fired: list[int] = []
    counts: list[int] = []
    for w in range(windows):
        spike = w in planted
        count = int(rng.poisson(rate * (spike_volume if spike else 1.0)))
        share = min(base_share + jump, 0.95) if spike else base_share
        p = rng.beta(share * overdispersion, (1 - share) * overdispersion)
        negative = int(rng.binomial(count, p)) if count else 0
        state, decision = step(state, count, negative, params, f"i{w}")
        if decision.action == "fire":
            fired.append(w)
            counts.append(count)
    return Run(planted, tuple(fired), tuple(counts))


def precision_recall(runs: list[Run]) -> tuple[float, float]:
    """Window precision and spike recall over many runs (1.0 precision when nothing fired)."""
    fires = sum(len(r.fired) for r in runs)
    true_fires = sum(1 for r in runs for w in r.fired if w in r.planted)
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
    return (true_fires / fires if fires else 1.0), (hit / spikes if spikes else 1.0)


def noise_rate(runs: list[Run]) -> float:
    """Incidents per window when nothing is planted."""
    return sum(len(r.fired) for r in runs) / (len(runs) * WINDOWS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=40)
    args = parser.parse_args()
    seeds = range(args.seeds)
    for z_fire in (3.0, 3.5, 4.0, 4.5):
        busy = DetectorParams(
            halflife_windows=96, min_count=30, min_history_windows=8, z_fire=z_fire
        )
        quiet = DetectorParams(
            halflife_windows=14,
            min_count=15,
            min_history_windows=5,
            min_baseline_docs=15,
            z_fire=z_fire,
        )
        cells = []
        for jump in (0.2, 0.3, 0.4):
            p, r = precision_recall([simulate(s, 80, 0.2, jump, busy) for s in seeds])
            cells.append(f"+{jump:.1f}: P={p:.2f} R={r:.2f}")
        noise = noise_rate([simulate(s, 80, 0.2, 0.0, busy) for s in seeds])
        quiet_runs = [
            simulate(s, 5, 0.2, 0.35, quiet, spike_volume=15.0, n_spikes=4) for s in seeds
        ]
        qp, qr = precision_recall(quiet_runs)
        qnoise = noise_rate([simulate(s, 5, 0.2, 0.0, quiet) for s in seeds])
        print(  # noqa: T201 - a calibration report prints its figures
            f"z_fire={z_fire}: busy (80 docs/window, share 0.2) {'; '.join(cells)}; "
            f"noise {noise:.4f}/window | quiet (5 docs/day, event day x15 volume +0.35) "
            f"P={qp:.2f} R={qr:.2f}, noise {qnoise:.4f}/window"
        )


if __name__ == "__main__":
    main()
