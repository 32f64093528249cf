"""What a soak replays: real StockNet days, planted events, calm stretches and faults.

Times in a `Scenario` are original (2015) event times. At start the soak maps them onto
service time with one offset, so a tweet sent at 14:57 on 2015-10-14 is pushed when the
soak's clock reads `14:57 + offset`, dated that re-timed moment, as it would arrive live.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from finsent.settings import REPO_ROOT

DEFAULT_DATA: Final = REPO_ROOT.parent / "shared" / "data"
"""The shared data folder (as `make run`'s DATA); StockNet is its `stocknet-dataset/`."""
CHANNELS: Final = ("webhook", "slack", "alertmanager")

FaultKind = Literal[
    "future_document", "late_batch", "channel_outage", "kill_alerts", "broker_restart",
    "redis_restart",
]  # fmt: skip


class PlantedEvent(BaseModel):
    """A burst that must page once per channel and resolve once.

    `start` is where the burst begins (its first document is the first tweet filed under
    `ticker` at or after it); pages for `ticker` between `match_from` and `match_to`
    belong to this event, anything else outside every event is a page in a calm period.

    A real event is StockNet's own tweets. A drill (`drill` non-empty) is a paging drill,
    as desks run them: written headlines about a fictitious name, pushed evenly over
    `drill_spread_s` from `start`. It proves the live paging contract (once per channel,
    resolved once, through an outage and a kill -9) whatever the model makes of a real
    event, and it is a first burst on a name with no history at all.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    ticker: str
    start: AwareDatetime
    match_from: AwareDatetime
    match_to: AwareDatetime
    why: str
    drill: tuple[str, ...] = ()
    """Drill headlines (each names `ticker` as a cashtag); empty for a real event."""
    drill_spread_s: Annotated[float, Field(gt=0)] = 1800.0


class Fault(BaseModel):
    """A fault at an original event time (or, for outage and kill, on the first page)."""

    model_config = ConfigDict(frozen=True)

    kind: FaultKind
    at: AwareDatetime | None = None
    """When (original event time); None with `on_page` means "when the event first pages"."""
    on_page: str | None = None
    """Planted event whose first page triggers the fault (outage, kill)."""
    deadline: AwareDatetime | None = None
    """For `on_page` faults: act anyway at this time if no page has come."""
    duration_s: Annotated[float, Field(ge=0)] = 0.0
    """Service seconds: outage length, or how late the batch arrives."""
    channel: Literal["webhook", "slack", "alertmanager"] = "webhook"
    span_s: Annotated[float, Field(ge=0)] = 600.0
    """`late_batch`: documents published in [at, at + span) are held back."""


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    start: AwareDatetime
    end: AwareDatetime
    speed: Annotated[float, Field(gt=0)]
    events: tuple[PlantedEvent, ...]
    faults: tuple[Fault, ...]

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


WMT: Final = PlantedEvent(
    name="WMT 2015-10-14 guidance cut",
    ticker="WMT",
    start=_t("2015-10-14T14:30"),
    match_from=_t("2015-10-14T13:00"),
    match_to=_t("2015-10-15T12:00"),
    why="Walmart cut its outlook at ~15:00 UTC; close -10.0%. The $NGCG spam retweets "
    "filed under WMT at 13:28-14:20 are one promotion, content duplicates, not the burst.",
)
JPM: Final = PlantedEvent(
    name="JPM 2015-10-13 earnings miss",
    ticker="JPM",
    start=_t("2015-10-13T20:00"),
    match_from=_t("2015-10-13T19:30"),
    match_to=_t("2015-10-14T12:00"),
    why="JPMorgan missed EPS and revenue after the bell (20:16 UTC); next close -2.5%.",
)

DRILL: Final = PlantedEvent(
    name="HRGE paging drill",
    ticker="HRGE",
    start=_t("2015-10-14T16:30"),
    match_from=_t("2015-10-14T16:00"),
    match_to=_t("2015-10-15T12:00"),
    why="Twelve written headlines about Harrowgate Energy, a fictitious name with no "
    "history, over 30 minutes: a refinery blast, a guidance cut, a downgrade, lawsuits.",
    drill=(
        "$HRGE Harrowgate Energy shares plunge 8% after an explosion halts its main refinery",
        "Harrowgate Energy cuts its full-year production guidance and the stock slides $HRGE",
        "State attorney general subpoenas Harrowgate Energy over its safety records $HRGE",
        "$HRGE heads for its worst day since 2008 as the refinery stays shut",
        "Moody's downgrades Harrowgate Energy, outlook negative $HRGE",
        "Harrowgate Energy suspends its buyback after a cash-flow miss $HRGE",
        "Analysts slash $HRGE price targets after the refinery fire",
        "Harrowgate faces lawsuits from residents over the refinery blast $HRGE",
        "Heavy put buying in $HRGE as traders brace for more losses",
        "The selloff deepens: $HRGE down 19%, its biggest drop in years",
        "Harrowgate Energy warns of a quarterly loss; investors head for the exits $HRGE",
        "S&P puts Harrowgate's rating on CreditWatch negative $HRGE",
    ),
)

ON_THE_BURSTS: Final = (
    # An RSS-like batch inside WMT's burst.
    Fault(kind="late_batch", at=_t("2015-10-14T15:07"), span_s=600, duration_s=600),
    # On the drill's first page, so they always strike an open incident.
    Fault(
        kind="channel_outage",
        on_page=DRILL.name,
        deadline=_t("2015-10-14T19:00"),
        duration_s=300,
        channel="webhook",
    ),
    Fault(kind="kill_alerts", on_page=DRILL.name, deadline=_t("2015-10-14T19:00")),
)
"""The faults both scenarios time on 10-14's bursts."""

SHORT: Final = Scenario(
    name="short",
    start=_t("2015-10-14T11:00"),
    # Until 05:00: WMT's last negatives are ~20:00, and its 6-hour window must clear and stay
    # calm for an hour before the incident can resolve (03:00 in the full soak). 18 h at
    # 360x is 180 s of stream, the CI budget (test_short_scenario_fits_ci).
    end=_t("2015-10-15T05:00"),
    speed=360,
    events=(WMT, DRILL),
    faults=(
        Fault(kind="future_document", at=_t("2015-10-14T11:20")),
        # A restart takes ~30 s real, hours of service time at this speed: after the burst.
        Fault(kind="broker_restart", at=_t("2015-10-14T21:00")),
        Fault(kind="redis_restart", at=_t("2015-10-14T13:40")),
        *ON_THE_BURSTS,
    ),
)

FULL: Final = Scenario(
    name="full",
    start=_t("2015-10-12T00:00"),
    end=_t("2015-10-15T12:00"),
    speed=120,
    events=(JPM, WMT, DRILL),
    faults=(
        Fault(kind="future_document", at=_t("2015-10-12T06:00")),
        Fault(kind="broker_restart", at=_t("2015-10-12T09:00")),
        Fault(kind="redis_restart", at=_t("2015-10-12T15:00")),
        *ON_THE_BURSTS,
    ),
)


class Tweet(BaseModel):
    """The fields of a StockNet tweet the soak pushes; user profiles are never read."""

    model_config = ConfigDict(frozen=True)

    id_str: str
    created_at: AwareDatetime
    text: str
    lang: str | None
    filed_under: tuple[str, ...]
    """StockNet tickers whose folder holds this tweet (a tweet with several cashtags is in each)."""


def load_tweets(data: Path, start: datetime, end: datetime) -> list[Tweet]:
    """Every distinct tweet of `data/tweet/raw/*/*` created in [start, end), oldest first."""
    root = data / "stocknet-dataset" / "tweet" / "raw"
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: pass --data <folder with stocknet-dataset/>")
    found: dict[str, tuple[dict[str, object], set[str]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            with path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        obj = json.loads(line)
                        found.setdefault(str(obj["id_str"]), (obj, set()))[1].add(folder.name)
    tweets = []
    for obj, folders in found.values():
        created = datetime.strptime(str(obj["created_at"]), "%a %b %d %H:%M:%S %z %Y")
        if start <= created < end:
            lang = obj.get("lang")
            tweets.append(
                Tweet(
                    id_str=str(obj["id_str"]),
                    created_at=created.astimezone(UTC),
                    text=str(obj["text"]),
                    lang=str(lang) if lang else None,
                    filed_under=tuple(sorted(folders)),
                )
            )
    tweets.sort(key=lambda t: (t.created_at, t.id_str))
    return tweets


class PlannedDoc(BaseModel):
    """One push: the document as sent, when it is due, and where it came from."""

    model_config = ConfigDict(frozen=True)

    id: str
    published_at: AwareDatetime
    """Re-timed event time (service time)."""
    due: AwareDatetime
    """Service time at which it is pushed (its event time, or later for a late batch)."""
    text: str
    language: str | None
    filed_under: tuple[str, ...]
    planted: Literal["", "future", "late", "drill"] = ""

    def body(self) -> dict[str, object]:
        """The `POST /v1/documents` item."""
        item: dict[str, object] = {
            "id": self.id,
            "source": "drill" if self.planted == "drill" else "stocknet",
            "text": self.text,
            "published_at": self.published_at.isoformat(),
        }
        if self.language and self.language != "und":
            item["language"] = self.language
        return item


def plan(scenario: Scenario, tweets: list[Tweet], offset: timedelta) -> list[PlannedDoc]:
    """Re-time tweets by `offset`, hold back the late batch, add the future-dated document."""
    docs: list[PlannedDoc] = []
    late = [f for f in scenario.faults if f.kind == "late_batch" and f.at is not None]
    for tweet in tweets:
        when = tweet.created_at + offset
        due, planted = when, ""
        for fault in late:
            assert fault.at is not None
            held_from, held_to = fault.at, fault.at + timedelta(seconds=fault.span_s)
            if held_from <= tweet.created_at < held_to:
                # An RSS-like poll: the whole span arrives together, `duration_s` after it.
                due = held_to + offset + timedelta(seconds=fault.duration_s)
                planted = "late"
        docs.append(
            PlannedDoc(
                id=f"tw:{tweet.id_str}",
                published_at=when,
                due=due,
                text=tweet.text,
                language=tweet.lang,
                filed_under=tweet.filed_under,
                planted=planted,
            )
        )
    for event in scenario.events:
        step = timedelta(seconds=event.drill_spread_s / max(1, len(event.drill)))
        for i, text in enumerate(event.drill):
            when = event.start + offset + i * step
            docs.append(
                PlannedDoc(
                    id=f"drill:{event.ticker.lower()}:{i}",
                    published_at=when,
                    due=when,
                    text=text,
                    language="en",
                    filed_under=(event.ticker,),
                    planted="drill",
                )
            )
    for fault in scenario.faults:
        if fault.kind == "future_document" and fault.at is not None:
            now = fault.at + offset
            docs.append(
                PlannedDoc(
                    id="soak:future-dated",
                    published_at=now + timedelta(days=1),
                    due=now,
                    text="$AAPL Apple shares plunge after a recall (dated a day ahead)",
                    language="en",
                    filed_under=("AAPL",),
                    planted="future",
                )
            )
    docs.sort(key=lambda d: (d.due, d.published_at, d.id))
    return docs


def first_document(event: PlantedEvent, docs: list[PlannedDoc], offset: timedelta) -> PlannedDoc:
    """The burst's first document: the first one filed under the ticker at or after start."""
    start = event.start + offset
    for doc in sorted(docs, key=lambda d: d.published_at):
        if (
            doc.planted != "future"
            and event.ticker in doc.filed_under
            and doc.published_at >= start
        ):
            return doc
    raise ValueError(f"no {event.ticker} document at or after {event.start} in the scenario")


START_ALLOWANCE_S: Final = 25.0
"""Real seconds from the soak's start to its stream's first instant: the services start
and report ready in this time (7-10 s on a 2-core machine)."""
ALIGN: Final = timedelta(minutes=15)
"""The offset granularity at real-time speed, where a whole day cannot be waited for."""


class Retiming(BaseModel):
    model_config = ConfigDict(frozen=True)

    epoch: AwareDatetime | None
    """The clock's epoch (None: real time)."""
    offset: timedelta
    """Added to every original event time."""
    step: timedelta
    """The offset is a whole number of these: a day, or `ALIGN` at real-time speed."""


def retime(start: datetime, speed: float, real_now: datetime, allowance_s: float) -> Retiming:
    """The soak's clock epoch and re-timing offset.

    The offset is a whole number of days, so every re-timed document keeps its time of day
    and every rule window (aligned to the Unix epoch) holds exactly what it held in the
    original: the soak decides what the original days would have decided live, whatever
    the minute it is started at. The clock's epoch (the real instant where service and real
    time agree; `finsent.clock`) is chosen so that service time reaches `start + offset`
    `allowance_s` real seconds from now. At `speed` 1 no epoch can do that, and the offset
    is rounded up to `ALIGN` instead.
    """
    at = real_now + timedelta(seconds=allowance_s)
    step = ALIGN if speed == 1 else timedelta(days=1)
    offset = step * -(-(at - start) // step)  # start + offset >= at, less than a step after
    if speed == 1:
        return Retiming(epoch=None, offset=offset, step=step)
    # service(r) = epoch + speed * (r - epoch), solved for service(at) == start + offset.
    epoch_s = (speed * at.timestamp() - (start + offset).timestamp()) / (speed - 1)
    return Retiming(epoch=datetime.fromtimestamp(epoch_s, UTC), offset=offset, step=step)


def start_offset(retiming: Retiming, start: datetime, now: datetime) -> timedelta:
    """The planned offset, or the next whole step after it if service time `now` is past
    the stream's first instant already (the services took longer than the allowance)."""
    offset = retiming.offset
    while now > start + offset:
        offset += retiming.step
    return offset
