"""The spike detector: pure functions over one series' closed windows, no I/O.

For each closed window of a rule the detector sees (documents, negatives) and decides.

- Baseline: the negative share, as an exponentially weighted ratio of negatives to
  documents (a 3-document day weighs 3, not as much as a 300-document day).
- Residual: how far the window's share is from the baseline in binomial standard errors,
  `r = (observed - baseline) / sqrt(baseline * (1 - baseline) / n)`. This makes a 60% share
  over 80 tweets far more surprising than 60% over 5.
- Spread: real series are overdispersed (news clusters), so `r` is divided by a robust,
  exponentially weighted estimate of its own spread (EW mean absolute residual * 1.2533,
  the normal-consistent scale), floored at 1: `z = r / max(1, spread)`.
- Gates: no alert while the baseline is young (`min_history_windows`, `min_baseline_docs`)
  or the window is small (`min_count`).
- Hysteresis: fire at `z >= z_fire` (critical at `z >= z_critical`), resolve after
  `resolve_windows` consecutive windows below `z_resolve`; no new incident for
  `cooldown_windows` windows after one resolves.
- Windows that fire, or arrive during an incident, do not update the baseline, so a long
  incident does not become the new normal; other residuals are clipped before they update
  the spread.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from finsent.schemas import Severity

NORMAL_MEAN_ABS_TO_SD = 1.2533
"""sqrt(pi/2): for a normal residual, SD = mean absolute deviation * this."""
PRIOR_WINDOWS = 2.0


class DetectorParams(BaseModel):
    """Thresholds of one rule (defaults are justified in docs/alerts.md)."""

    model_config = ConfigDict(frozen=True)

    halflife_windows: Annotated[float, Field(gt=0)] = 24.0
    min_count: Annotated[int, Field(ge=1)] = 20
    min_history_windows: Annotated[int, Field(ge=0)] = 6
    min_baseline_docs: Annotated[int, Field(ge=0)] = 20
    z_fire: Annotated[float, Field(gt=0)] = 4.0
    z_critical: Annotated[float, Field(gt=0)] = 7.0
    z_resolve: Annotated[float, Field(ge=0)] = 2.0
    resolve_windows: Annotated[int, Field(ge=1)] = 1
    cooldown_windows: Annotated[int, Field(ge=0)] = 2
    share_floor: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    """Baseline share is clamped into [floor, 1 - floor] for the binomial error."""
    residual_clip: Annotated[float, Field(gt=0)] = 6.0

    @property
    def decay(self) -> float:
        return float(0.5 ** (1.0 / self.halflife_windows))


class DetectorState(BaseModel):
    """Everything the detector remembers about one (rule, series); persisted as JSON."""

    model_config = ConfigDict(frozen=True)

    ew_negative: float = 0.0
    ew_count: float = 0.0
    # Weighted mean of |residual|, with a prior worth `PRIOR_WINDOWS` windows of spread 1
    # (pure binomial noise), so a young series learns its real spread within a few windows.
    ew_abs_residual_sum: float = PRIOR_WINDOWS / NORMAL_MEAN_ABS_TO_SD
    ew_abs_weight: float = PRIOR_WINDOWS
    windows_seen: int = 0
    incident_id: str | None = None
    severity: Severity | None = None
    calm_windows: int = 0
    cooldown_left: int = 0

    @property
    def baseline(self) -> float:
        return self.ew_negative / self.ew_count if self.ew_count > 0 else 0.0

    @property
    def spread(self) -> float:
        mean_abs = self.ew_abs_residual_sum / self.ew_abs_weight
        return max(1.0, mean_abs * NORMAL_MEAN_ABS_TO_SD)


class Decision(BaseModel):
    """What one window did: `fire`, `resolve`, or nothing (`none`)."""

    model_config = ConfigDict(frozen=True)

    action: Literal["fire", "resolve", "none"]
    observed: float
    baseline: float
    z_score: float
    doc_count: int
    severity: Severity | None = None


def z_score(state: DetectorState, count: int, negative: int, params: DetectorParams) -> float:
    """Overdispersion-scaled binomial z-score of a window's negative share (0 if empty)."""
    if count <= 0:
        return 0.0
    p = min(max(state.baseline, params.share_floor), 1.0 - params.share_floor)
    residual = (negative / count - state.baseline) / math.sqrt(p * (1.0 - p) / count)
    return residual / state.spread


def _learn(
    state: DetectorState, count: int, negative: int, params: DetectorParams
) -> DetectorState:
    if count <= 0:
        # An empty window says nothing about the share; only age the weights.
        return state.model_copy(
            update={
                "ew_negative": state.ew_negative * params.decay,
                "ew_count": state.ew_count * params.decay,
                "windows_seen": state.windows_seen + 1,
            }
        )
    z = z_score(state, count, negative, params) * state.spread  # unscaled residual
    clipped = min(abs(z), params.residual_clip)
    d = params.decay
    learned_spread = state.ew_count > 0  # the first window has no baseline to deviate from
    return state.model_copy(
        update={
            "ew_negative": state.ew_negative * d + negative,
            "ew_count": state.ew_count * d + count,
            "ew_abs_residual_sum": state.ew_abs_residual_sum * d + clipped
            if learned_spread
            else state.ew_abs_residual_sum,
            "ew_abs_weight": state.ew_abs_weight * d + 1 if learned_spread else state.ew_abs_weight,
            "windows_seen": state.windows_seen + 1,
        }
    )


def step(
    state: DetectorState,
    count: int,
    negative: int,
    params: DetectorParams,
    incident_id: str,
) -> tuple[DetectorState, Decision]:
    """Advance one closed window.

    Args:
        state: what the detector knew before this window.
        count: documents in the window.
        negative: of which labelled negative.
        params: the rule's thresholds.
        incident_id: the id a new incident opened by this window gets.

    Returns:
        The new state and what happened.
    """
    observed = negative / count if count else 0.0
    z = z_score(state, count, negative, params)
    baseline = state.baseline
    warm = (
        state.windows_seen >= params.min_history_windows
        and state.ew_count >= params.min_baseline_docs
    )
    hot = warm and count >= params.min_count and z >= params.z_fire

    def decide(action: Literal["fire", "resolve", "none"], severity: Severity | None) -> Decision:
        return Decision(
            action=action,
            observed=observed,
            baseline=baseline,
            z_score=z,
            doc_count=count,
            severity=severity,
        )

    if state.incident_id is not None:
        calm = (
            0 if (count >= params.min_count and z >= params.z_resolve) else state.calm_windows + 1
        )
        if calm >= params.resolve_windows:
            resolved = state.model_copy(
                update={
                    "incident_id": None,
                    "severity": None,
                    "calm_windows": 0,
                    "cooldown_left": params.cooldown_windows,
                }
            )
            return _learn(resolved, count, negative, params), decide("resolve", state.severity)
        return state.model_copy(update={"calm_windows": calm}), decide("none", state.severity)

    if hot and state.cooldown_left == 0:
        severity: Severity = "critical" if z >= params.z_critical else "warning"
        fired = state.model_copy(
            update={"incident_id": incident_id, "severity": severity, "calm_windows": 0}
        )
        return fired, decide("fire", severity)

    cooled = state.model_copy(update={"cooldown_left": max(0, state.cooldown_left - 1)})
    if hot:
        return cooled, decide("none", None)  # in cooldown: do not learn the spike either
    return _learn(cooled, count, negative, params), decide("none", None)
