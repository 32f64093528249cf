"""Runs one soak: private stack, services, receivers, the re-timed stream, faults, verdict."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from pydantic import BaseModel, ConfigDict

from devstack.soak.observe import dead_letters, firing_matcher, is_firing_for
from devstack.soak.pusher import Pusher
from devstack.soak.receivers import (
    AM_LONG_HOLD,
    Receiver,
    alertmanager_deliveries,
    new_webhook_secret,
    slack_deliveries,
    webhook_deliveries,
)
from devstack.soak.scenario import (
    CHANNELS,
    DEFAULT_DATA,
    FULL,
    SHORT,
    START_ALLOWANCE_S,
    Fault,
    PlannedDoc,
    Scenario,
    Tweet,
    load_tweets,
    plan,
    retime,
    start_offset,
)
from devstack.soak.services import (
    DROPPED_ENV,
    ServiceName,
    Services,
    alerts_timing_env,
    free_port,
    hold_s,
    private_settings,
    service_env,
)
from devstack.soak.verdict import LoggedAlert, Outcome, Verdict, judge
from devstack.stack import ServiceName as StackService
from devstack.stack import Stack
from finsent import redis_keys
from finsent.clock import Clock
from finsent.schemas import LIVE_NAMESPACE
from finsent.settings import FinsentSettings
from finsent.store import SeriesStore, open_store
from finsent.store.base import ALL_SERIES

Progress = Callable[[str], None]
SERVICES: tuple[ServiceName, ...] = ("ingest", "infer", "alerts")


class SoakOptions(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    short: bool = False
    speed: float | None = None
    data: Path = DEFAULT_DATA
    keep: bool = False
    """Keep the work folder (logs, stack data) even when the soak passes."""
    skip_faults: tuple[str, ...] = ()
    """Fault kinds left out (to isolate which one breaks a criterion)."""
    rules: str | None = None
    """JSON rule set for `alerts run` (FINSENT_ALERTS_RULES); None: the shipped rules."""
    startup_timeout_s: float = 300.0
    drain_timeout_s: float = 120.0


class SoakResult(BaseModel):
    verdict: Verdict
    work_dir: Path | None
    """Logs of every service start, kept when the soak failed or `keep` was asked."""


def run_soak(options: SoakOptions, base: FinsentSettings, progress: Progress) -> SoakResult:
    """Run the whole soak and judge it; never raises for a failed criterion."""
    scenario = SHORT if options.short else FULL
    if options.speed is not None:
        scenario = scenario.model_copy(update={"speed": options.speed})
    if options.skip_faults:
        kept = tuple(f for f in scenario.faults if f.kind not in options.skip_faults)
        scenario = scenario.model_copy(update={"faults": kept})
    tweets = load_tweets(options.data, scenario.start, scenario.end)
    work = Path(tempfile.mkdtemp(prefix="finsent-soak-"))
    (work / "logs").mkdir()
    settings = private_settings(base, work / "stack")
    stack = Stack(settings)
    minutes = scenario.span / timedelta(minutes=1) / scenario.speed
    progress(
        f"soak {scenario.name}: {len(tweets)} tweets, {scenario.start:%Y-%m-%d %H:%M} to "
        f"{scenario.end:%Y-%m-%d %H:%M} UTC at {scenario.speed:g}x (~{minutes:.1f} min of stream)"
    )
    progress(
        f"private Kafka + Redis on {settings.kafka.bootstrap_servers} / :{settings.redis.port}"
    )
    stack.up()
    verdict: Verdict | None = None
    try:
        verdict = _Soak(scenario, tweets, settings, stack, work, options, progress).run()
    finally:
        stack.down()
    if verdict.passed and not options.keep:
        shutil.rmtree(work, ignore_errors=True)
        return SoakResult(verdict=verdict, work_dir=None)
    shutil.rmtree(work / "stack", ignore_errors=True)
    return SoakResult(verdict=verdict, work_dir=work)


class _Soak:
    def __init__(
        self,
        scenario: Scenario,
        tweets: list[Tweet],
        settings: FinsentSettings,
        stack: Stack,
        work: Path,
        options: SoakOptions,
        progress: Progress,
    ) -> None:
        self.scenario, self.tweets, self.settings, self.stack = scenario, tweets, settings, stack
        self.work, self.options, self._progress = work, options, progress
        # Whole-day re-timing: the stream's first instant is START_ALLOWANCE_S real seconds
        # away, and every window holds what it held in the original (scenario.retime).
        self.retiming = retime(scenario.start, scenario.speed, datetime.now(UTC), START_ALLOWANCE_S)
        self.clock = Clock(scenario.speed, self.retiming.epoch)
        self.receivers = {c: Receiver(c, self.clock) for c in CHANNELS}
        self.secret = new_webhook_secret()
        self.token = secrets.token_urlsafe(24)
        self.ports: dict[ServiceName, int] = {
            "ingest": free_port(),
            "infer": free_port(),
            "alerts": free_port(),
        }
        self.faults_done: list[str] = []
        self.faults_missed: list[str] = []
        self.failures: list[str] = []
        self.offset = timedelta(0)
        self._started_real = time.monotonic()
        self._threads: list[threading.Thread] = []

    def progress(self, message: str) -> None:
        original = self.clock.now() - self.offset if self.offset else None
        stamp = f"{original:%m-%d %H:%M}" if original else "--:--"
        self._progress(f"[{stamp} | {time.monotonic() - self._started_real:5.0f}s] {message}")

    def env(self) -> dict[str, str]:
        hook = self.receivers
        extra = {
            "FINSENT_CLOCK_SPEED": f"{self.scenario.speed:g}",
            "FINSENT_CLOCK_EPOCH": cast(datetime, self.clock.epoch).isoformat(),
            "FINSENT_INGEST_PUSH_TOKEN": self.token,
            "FINSENT_INFERENCE_STORE_BACKEND": "auto",
            "FINSENT_ALERTS_METRICS_PORT": str(self.ports["alerts"]),
            **alerts_timing_env(self.scenario.speed),
            "FINSENT_ALERTS_WEBHOOK_URL": hook["webhook"].url + "/finsent",
            "FINSENT_ALERTS_WEBHOOK_SECRET": self.secret,
            "FINSENT_ALERTS_SLACK_WEBHOOK_URL": hook["slack"].url + "/services/T0/B0/soak",
            "FINSENT_ALERTS_ALERTMANAGER_URL": hook["alertmanager"].url,
            # Links in pages (Alertmanager's generatorURL, Slack's button); nothing serves it.
            "FINSENT_ALERTS_WEB_URL": "http://127.0.0.1:8080",
        }
        if self.options.rules is not None:
            extra["FINSENT_ALERTS_RULES"] = self.options.rules
        return service_env(self.settings, extra, DROPPED_ENV)

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Verdict:
        services = Services(self.env(), self.work / "logs", self.ports)
        self.services = services
        try:
            for name in SERVICES:
                services.start(name)
            self.progress("services starting: ingest serve, infer (shipped model), alerts run")
            services.wait_ready(SERVICES, self.options.startup_timeout_s)
            self.offset = start_offset(self.retiming, self.scenario.start, self.clock.now())
            if self.offset != self.retiming.offset:
                late = self.offset - self.retiming.offset
                self.progress(f"services took over {START_ALLOWANCE_S:g}s: stream {late} later")
            planned = plan(self.scenario, self.tweets, self.offset)
            self.progress(f"ready; stream starts, service time = event time + {self.offset}")
            pusher = Pusher(f"http://127.0.0.1:{self.ports['ingest']}", self.token, self.clock)
            self._stream(planned, pusher)
            self.progress("stream done; waiting for the pusher's backlog")
            if not pusher.close(self.options.drain_timeout_s):
                self.failures.append("the push backlog was not answered in time")
            if pusher.error:
                self.failures.append(f"push API: {pusher.error}")
            for thread in self._threads:
                thread.join(timeout=self.options.drain_timeout_s)
            accepted = sum(1 for p in pusher.results if p.status == "accepted")
            self._drain(accepted)
            outcome = self._collect(planned, pusher)
        finally:
            codes = services.stop_all()
            for receiver in self.receivers.values():
                receiver.close()
        for name, code in codes.items():
            if code not in (0, None):
                self.failures.append(f"{name} exited with {code} on SIGTERM")
            elif code is None:
                self.failures.append(f"{name} did not stop within 60s of SIGTERM")
        outcome.service_failures = [*self.failures, *services.unexpected_exits]
        return judge(outcome)

    def _stream(self, planned: list[PlannedDoc], pusher: Pusher) -> None:
        timed = sorted(
            (f for f in self.scenario.faults if f.at is not None and f.kind != "late_batch"
             and f.kind != "future_document"),
            key=lambda f: cast(datetime, f.at),
        )  # fmt: skip
        triggered = [f for f in self.scenario.faults if f.on_page is not None]
        for fault in triggered:
            if fault.kind == "channel_outage":
                matches = firing_matcher(self._ticker(fault))
                self.receivers[fault.channel].arm_outage(matches, fault.duration_s)
        for fault in self.scenario.faults:
            if fault.kind in ("late_batch", "future_document"):
                self.faults_done.append(f"{fault.kind} planned at {fault.at:%m-%d %H:%M}")
        i, last_report = 0, 0.0
        pending_triggers = list(triggered)
        while i < len(planned) or timed or pending_triggers:
            now = self.clock.now()
            while i < len(planned) and planned[i].due <= now:
                pusher.submit(planned[i])
                i += 1
            while timed and cast(datetime, timed[0].at) + self.offset <= now:
                self._background(timed.pop(0))
            for fault in list(pending_triggers):
                if self._fire_triggered(fault, now):
                    pending_triggers.remove(fault)
            self.services.check_alive()
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                pages = ", ".join(f"{c} {len(r.requests)}" for c, r in self.receivers.items())
                self.progress(
                    f"pushed {i}/{len(planned)} (answered {len(pusher.results)}, backlog "
                    f"{pusher.backlog}, retries {pusher.retries}); requests: {pages}"
                )
            if i >= len(planned) and now >= self.scenario.end + self.offset and not timed:
                for fault in pending_triggers:
                    self.faults_missed.append(f"{fault.kind} on {fault.on_page}: never triggered")
                break
            time.sleep(0.05)

    def _ticker(self, fault: Fault) -> str:
        return next(e.ticker for e in self.scenario.events if e.name == fault.on_page)

    def _fire_triggered(self, fault: Fault, now: datetime) -> bool:
        if fault.kind == "channel_outage":
            started = self.receivers[fault.channel].outage_started
            if started is not None:
                self.faults_done.append(
                    f"{fault.channel} outage ({fault.duration_s:g}s) began with the "
                    f"{fault.on_page} page at {started - self.offset:%m-%d %H:%M} (event time)"
                )
                return True
            if fault.deadline is not None and now >= fault.deadline + self.offset:
                self.receivers[fault.channel].start_outage(fault.duration_s)
                self.faults_missed.append(
                    f"{fault.channel} outage: no {fault.on_page} page by the deadline; "
                    "the outage ran then instead"
                )
                return True
            return False
        # kill_alerts: mid-incident, i.e. once a firing page for the event reached us.
        ticker = self._ticker(fault)
        paged = any(
            is_firing_for(r.body, ticker) for rec in self.receivers.values() for r in rec.requests
        )
        late = fault.deadline is not None and now >= fault.deadline + self.offset
        if not (paged or late):
            return False

        def kill_and_restart() -> None:  # off the scheduler thread: pushes stay on time
            time.sleep(0.3)  # let the first channel's delivery pass get under way
            self.services.kill("alerts")
            self.progress(f"kill -9 alerts run ({'incident open' if paged else 'no page yet'})")
            when = self.clock.now() - self.offset
            time.sleep(1.0)
            self.services.start("alerts")
            record = f"kill -9 of alerts run at {when:%m-%d %H:%M}, restarted"
            if paged:
                self.faults_done.append(record + " (mid-incident)")
            else:
                self.faults_missed.append(record + f" without an open {fault.on_page} incident")

        thread = threading.Thread(target=kill_and_restart, name="kill-alerts", daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def _background(self, fault: Fault) -> None:
        def restart() -> None:
            service: StackService = "kafka" if fault.kind == "broker_restart" else "redis"
            began = time.monotonic()
            self.progress(f"{fault.kind}: stopping {service}")
            try:
                self.stack.down((service,))
                self.stack.up((service,))
            except Exception as exc:  # noqa: BLE001 - reported as a failed fault
                self.faults_missed.append(f"{fault.kind} failed: {exc}")
                return
            real = time.monotonic() - began
            self.faults_done.append(
                f"{fault.kind} at {fault.at:%m-%d %H:%M}: down and up in {real:.0f}s real "
                f"({real * self.scenario.speed / 60:.0f} min of service time)"
            )
            self.progress(f"{fault.kind}: {service} back after {real:.0f}s")

        thread = threading.Thread(target=restart, name=fault.kind, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _drain(self, accepted: int) -> None:
        """Wait until the store counts every accepted document and the outbox is empty."""
        deadline = time.monotonic() + self.options.drain_timeout_s
        store = open_store(self.settings)
        client = self.settings.redis.client()
        try:
            while time.monotonic() < deadline:
                if self._store_count(store) >= accepted:
                    break
                time.sleep(1.0)
            quiet_s = max(3.0, 4 * max(10.0, 0.5 * self.scenario.speed) / self.scenario.speed)
            last = -1
            while time.monotonic() < deadline:
                seen = sum(
                    len(r.requests) for c, r in self.receivers.items() if c != "alertmanager"
                )
                if seen == last and not client.hlen(redis_keys.alert_outbox(LIVE_NAMESPACE)):
                    break
                last = seen
                time.sleep(quiet_s)
        finally:
            store.close()
            client.close()

    def _store_count(self, store: SeriesStore) -> int:
        lo = self.scenario.start + self.offset - timedelta(days=2)
        hi = self.scenario.end + self.offset + timedelta(days=3)
        return store.total(ALL_SERIES, LIVE_NAMESPACE, lo, hi).count

    def _collect(self, planned: list[PlannedDoc], pusher: Pusher) -> Outcome:
        store = open_store(self.settings)
        client = self.settings.redis.client()
        try:
            count = self._store_count(store)
            rows = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                client.xrange(redis_keys.alert_log(LIVE_NAMESPACE), "-", "+"),
            )
        finally:
            store.close()
            client.close()
        log = []
        for stream_id, fields in rows:
            real_ms = int(stream_id.split(b"-")[0])
            body = json.loads(fields[b"alert"])
            body["logged_at"] = self.clock.at_real(real_ms / 1000).isoformat()
            log.append(LoggedAlert.model_validate(body))
        hooks = self.receivers
        web, web_problems = webhook_deliveries(hooks["webhook"].requests, self.secret, self.clock)
        slack, slack_problems = slack_deliveries(hooks["slack"].requests)
        held = timedelta(seconds=hold_s(self.scenario.speed))  # what `alerts run` was told
        am, am_problems = alertmanager_deliveries(
            hooks["alertmanager"].requests, max(AM_LONG_HOLD, held)
        )
        return Outcome(
            scenario=self.scenario,
            offset=self.offset,
            planned=planned,
            pushed=list(pusher.results),
            store_count=count,
            log=log,
            deliveries=[*web, *slack, *am],
            channel_problems=sorted(set(web_problems)) + slack_problems + am_problems,
            dead_letter_reasons=dead_letters(self.settings),
            faults_done=self.faults_done,
            faults_missed=self.faults_missed,
            service_failures=[],
        )
