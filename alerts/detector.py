"""The burst detector: pure functions over one series, one decision step at a time, no I/O.

Every `step_s` of event time the engine hands the detector two things about a series: the
counts of the sliding window `[t - window, t)` just closed, and the counts of the step that
has just left that window. The detector decides on the window, then forgets nothing:

- **Baseline** (what is normal for this series), learned only from steps that have *left*
  the window, so the data under test never dilutes its own baseline. Exponentially
  weighted in event time (`halflife_s`), with a prior that makes cold start sane:
  - negative share `p = (ew_negatives + m * p0) / (ew_documents + m)`, where `p0` is the
    market's negative share (the `all` series of the same rule) and `m = prior_docs`;
    a name with no history is judged against the market, a name with history against
    itself;
  - negative rate `lam = (ew_negatives + prior_negatives_per_day * D) / (ew_seconds + D days)`
    with `D = prior_days`: a new name is assumed quiet until it shows otherwise.
- **Two tests, both must pass**, so that neither a busy-but-ordinary day nor a few unlucky
  posts page anyone:
  - *share*: the binomial z-score of the window's negatives against `p`,
    `r = (k - n p) / sqrt(n p (1 - p))`, divided by the series' own overdispersion
    (`spread`: an exponentially weighted mean |r| of past non-overlapping windows * 1.2533,
    floored at 1; busy series wander more than binomial noise). An up-day with many posts
    in the usual proportions never passes this.
  - *count*: the Poisson surprise of `k` negatives when `lam * window` were expected,
    `-log10 P(X >= k)`. A calm week with the usual few posts never passes this, nor does a
    share swing on a handful of posts in a series that has that many every hour.
- **Gates**: at least `min_count` documents and `min_negative` negatives in the window.
- **Hysteresis**: fire at `z >= z_fire` (critical at `z_critical`); once open, an incident
  resolves after `resolve_s` of windows that are calm (not `z >= z_resolve` with the
  gates met); no new incident for `cooldown_s` after one resolves. Steps that were inside
  the window of an open incident never feed the baseline or the spread.

Time enters only as event-time milliseconds handed in by the caller, so the same counts
always give the same decisions, live or replayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from finsent.schemas import Severity

NORMAL_MEAN_ABS_TO_SD = 1.2533
"""sqrt(pi/2): for a normal residual, SD = mean absolute deviation * this."""
PRIOR_WINDOWS = 6.0
"""The spread starts as this many windows' worth of pure binomial noise (spread 1)."""
DAY_S = 86_400
MAX_SURPRISE = 300.0


class DetectorParams(BaseModel):
    """Thresholds and priors of one rule (defaults are justified in docs/alerts.md)."""

    model_config = ConfigDict(frozen=True)

    halflife_s: Annotated[int, Field(gt=0)] = 7 * DAY_S
    """Baseline memory in event time."""
    spread_halflife_s: Annotated[int, Field(gt=0)] = 14 * DAY_S
    prior_share: Annotated[float, Field(gt=0, lt=1)] = 0.15
    """Negative share assumed for the market itself before it has any history: the bearish
    share of the labelled financial tweets (1,442 of 9,543 in sent_train, 15.1%). 0.2 was
    above every share measured, and a fresh install judged a first burst against it: WMT's
    12 negatives in 32 posts never paged (docs/alerts.md, "Priors")."""
    prior_docs: Annotated[float, Field(ge=0)] = 30.0
    """Weight, in documents, of the market share in a series' baseline share."""
    prior_negatives_per_day: Annotated[float, Field(gt=0)] = 2.0
    """Negative rate assumed for a series with no history (a quiet name)."""
    prior_days: Annotated[float, Field(gt=0)] = 1.0
    """Weight, in days of event time, of that rate."""
    min_count: Annotated[int, Field(ge=1)] = 10
    min_negative: Annotated[int, Field(ge=1)] = 5
    z_fire: Annotated[float, Field(gt=0)] = 4.0
    z_critical: Annotated[float, Field(gt=0)] = 7.0
    z_resolve: Annotated[float, Field(ge=0)] = 2.0
    min_surprise: Annotated[float, Field(ge=0)] = 4.0
    """Count test: fire only if P(this many negatives | normal rate) <= 10^-min_surprise."""
    resolve_s: Annotated[int, Field(ge=0)] = 1800
    cooldown_s: Annotated[int, Field(ge=0)] = 3600
    spread_min_count: Annotated[int, Field(ge=1)] = 20
    """Windows with fewer documents say too little about overdispersion to learn from."""
    share_floor: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    """Baseline share is clamped into [floor, 1 - floor] for the binomial error."""
    residual_clip: Annotated[float, Field(gt=0)] = 4.0


@dataclass(slots=True)
class DetectorState:
    """Everything the detector remembers about one (rule, series); persisted as JSON.

    Exponential weights are kept "as of" an event time and decayed lazily, so an idle
    series costs nothing per step.
    """

    as_of_ms: int | None = None
    ew_negative: float = 0.0
    ew_count: float = 0.0
    ew_seconds: float = 0.0
    spread_as_of_ms: int | None = None
    abs_residual_sum: float = PRIOR_WINDOWS / NORMAL_MEAN_ABS_TO_SD
    abs_weight: float = PRIOR_WINDOWS
    incident_id: str | None = None
    severity: Severity | None = None
    paged: bool | None = None
    """Whether the open incident's firing paged on-call: its resolution pages the same way.
    None for state written before this was kept (the resolution's own window decides)."""
    calm_since_ms: int | None = None
    cooldown_until_ms: int = 0
    quarantine_from_ms: int | None = None
    """Steps starting at or after this (and before `quarantine_until_ms`, when set) are not
    learned: they were in the window of an incident."""
    quarantine_until_ms: int | None = None
    pending_residual: float | None = None
    """The residual of the last ordinary aligned window, learned into the spread only once
    that window has wholly left the window under judgement (and never if an incident's
    window overlaps it): a burst that builds slowly must not widen its own spread."""
    pending_end_ms: int | None = None

    def share(self, prior_share: float, params: DetectorParams) -> float:
        """Baseline negative share, shrunk toward `prior_share`."""
        return (self.ew_negative + params.prior_docs * prior_share) / (
            self.ew_count + params.prior_docs
        )

    def negative_rate_per_s(self, params: DetectorParams) -> float:
        prior_s = params.prior_days * DAY_S
        prior_negatives = params.prior_negatives_per_day * params.prior_days
        return (self.ew_negative + prior_negatives) / (self.ew_seconds + prior_s)

    @property
    def spread(self) -> float:
        return max(1.0, self.abs_residual_sum / self.abs_weight * NORMAL_MEAN_ABS_TO_SD)

    def to_json(self) -> bytes:
        return _STATE_ADAPTER.dump_json(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> DetectorState:
        return _STATE_ADAPTER.validate_json(raw)


_STATE_ADAPTER = TypeAdapter(DetectorState)


@dataclass(frozen=True, slots=True)
class Counts:
    """Documents and negatives of a window or a step."""

    count: int = 0
    negative: int = 0


class Decision(BaseModel):
    """What one step did: `fire`, `resolve`, or nothing (`none`)."""

    model_config = ConfigDict(frozen=True)

    action: Literal["fire", "resolve", "none"]
    observed: float
    baseline: float
    z_score: float
    surprise: float
    expected_negatives: float
    doc_count: int
    negative_count: int
    severity: Severity | None = None


def poisson_surprise(k: int, mu: float) -> float:
    """`-log10 P(X >= k)` for X ~ Poisson(mu); 0 for k <= 0, capped at `MAX_SURPRISE`."""
    if k <= 0:
        return 0.0
    if mu <= 0:
        return MAX_SURPRISE
    # Sum the upper tail in log space from k upward; terms fall fast once j > mu.
    log_term = k * math.log(mu) - mu - math.lgamma(k + 1)
    log_tail = log_term
    j = k
    while True:
        j += 1
        log_term += math.log(mu) - math.log(j)
        if log_term < log_tail - 36.0 and j > mu:
            break
        log_tail = max(log_tail, log_term) + math.log1p(math.exp(-abs(log_tail - log_term)))
    return min(MAX_SURPRISE, max(0.0, -log_tail / math.log(10)))


def share_residual(window: Counts, share: float, params: DetectorParams) -> float:
    """Binomial z of the window's negatives against `share` (0 for an empty window)."""
    if window.count <= 0:
        return 0.0
    p = min(max(share, params.share_floor), 1.0 - params.share_floor)
    return (window.negative - window.count * share) / math.sqrt(window.count * p * (1.0 - p))


def _decay(halflife_s: int, since_ms: int | None, until_ms: int) -> float:
    if since_ms is None or until_ms <= since_ms:
        return 1.0
    return float(0.5 ** ((until_ms - since_ms) / 1000.0 / halflife_s))


def _quarantined(state: DetectorState, start_ms: int) -> bool:
    if state.quarantine_from_ms is None or start_ms < state.quarantine_from_ms:
        return False
    return state.quarantine_until_ms is None or start_ms < state.quarantine_until_ms


def learn(
    state: DetectorState, start_ms: int, step_s: int, counts: Counts, params: DetectorParams
) -> None:
    """Feed the baseline one step `[start, start + step)` that has left the window.

    Steps the engine skipped as idle since the last call (empty, nothing open) count as
    observed, empty time: the exposure of the whole gap is added in closed form, so
    skipping idle steps gives the same state as learning each of them.
    """
    end_ms = start_ms + step_s * 1000
    since_ms = state.as_of_ms if state.as_of_ms is not None else start_ms
    d = _decay(params.halflife_s, since_ms, end_ms)
    state.ew_negative *= d
    state.ew_count *= d
    state.ew_seconds *= d
    state.as_of_ms = max(since_ms, end_ms)
    if _quarantined(state, start_ms):
        return
    # Integral of the decay weight over the gap: ~ the gap's seconds for gaps << half-life.
    state.ew_seconds += params.halflife_s / math.log(2) * (1.0 - d)
    state.ew_negative += counts.negative
    state.ew_count += counts.count


def _learn_spread(
    state: DetectorState, at_ms: int, residual: float, params: DetectorParams
) -> None:
    d = _decay(params.spread_halflife_s, state.spread_as_of_ms, at_ms)
    state.abs_residual_sum = state.abs_residual_sum * d + min(abs(residual), params.residual_clip)
    state.abs_weight = state.abs_weight * d + 1.0
    state.spread_as_of_ms = at_ms


def _settle_spread(
    state: DetectorState, end_ms: int, window_s: int, params: DetectorParams
) -> None:
    """Learn the pending residual once its window no longer overlaps `[end - window, end)`."""
    pending_end, residual = state.pending_end_ms, state.pending_residual
    if pending_end is None or residual is None or end_ms - window_s * 1000 < pending_end:
        return
    in_incident = (
        state.quarantine_from_ms is not None
        and pending_end > state.quarantine_from_ms
        and (
            state.quarantine_until_ms is None
            or state.quarantine_until_ms > pending_end - window_s * 1000
        )
    )
    if not in_incident:
        _learn_spread(state, pending_end, residual, params)
    state.pending_residual = state.pending_end_ms = None


def judge(
    state: DetectorState,
    end_ms: int,
    window_s: int,
    window: Counts,
    market_share: float,
    params: DetectorParams,
    incident_id: str,
) -> Decision:
    """Decide on the window `[end - window, end)`; updates `state` in place.

    Call `learn` with the step leaving the window first: the baseline must describe
    everything before the window and nothing in it.

    Args:
        state: the series' state (mutated).
        end_ms: event time at which the window ends.
        window_s: its length.
        window: its counts.
        market_share: the prior share (the market's baseline share).
        params: the rule's thresholds.
        incident_id: the id a new incident opened by this window gets.
    """
    _settle_spread(state, end_ms, window_s, params)
    share = state.share(market_share, params)
    residual = share_residual(window, share, params)
    z = residual / state.spread
    expected = state.negative_rate_per_s(params) * window_s
    surprise = poisson_surprise(window.negative, expected)
    gated = window.count >= params.min_count and window.negative >= params.min_negative

    def decide(action: Literal["fire", "resolve", "none"], severity: Severity | None) -> Decision:
        return Decision(
            action=action,
            observed=window.negative / window.count if window.count else 0.0,
            baseline=share,
            z_score=z,
            surprise=surprise,
            expected_negatives=expected,
            doc_count=window.count,
            negative_count=window.negative,
            severity=severity,
        )

    if state.incident_id is not None:
        if gated and z >= params.z_resolve:
            state.calm_since_ms = None
        elif state.calm_since_ms is None:
            state.calm_since_ms = end_ms
        if (
            state.calm_since_ms is not None
            and end_ms - state.calm_since_ms >= params.resolve_s * 1000
        ):
            severity = state.severity
            state.incident_id = None
            state.severity = None
            state.calm_since_ms = None
            state.cooldown_until_ms = end_ms + params.cooldown_s * 1000
            state.quarantine_until_ms = end_ms
            return decide("resolve", severity)
        return decide("none", state.severity)

    hot = gated and z >= params.z_fire and surprise >= params.min_surprise
    if not hot and window.count >= params.spread_min_count and end_ms % (window_s * 1000) == 0:
        # Non-overlapping, ordinary windows only: the spread of what is normal, learned
        # once this window has left the one under judgement (`_settle_spread`).
        state.pending_residual, state.pending_end_ms = residual, end_ms
    if hot and end_ms >= state.cooldown_until_ms:
        severity = "critical" if z >= params.z_critical else "warning"
        start_ms = end_ms - window_s * 1000
        overlapping = (
            state.quarantine_from_ms is not None
            and state.quarantine_until_ms is not None
            and state.quarantine_until_ms >= start_ms
        )
        state.quarantine_from_ms = (
            min(start_ms, state.quarantine_from_ms)
            if overlapping and state.quarantine_from_ms is not None
            else start_ms
        )
        state.quarantine_until_ms = None
        state.incident_id = incident_id
        state.severity = severity
        state.calm_since_ms = None
        return decide("fire", severity)
    return decide("none", None)


def is_idle(state: DetectorState, window: Counts, leaving: Counts, leaving_start_ms: int) -> bool:
    """Nothing to judge or learn: no incident, no documents in sight, no quarantine.

    An idle step changes nothing that `learn` cannot catch up on later in closed form, so
    the engine may skip it.
    """
    return (
        state.incident_id is None
        and window.count == 0
        and leaving.count == 0
        and not _quarantined(state, leaving_start_ms)
    )
