"""Every metric Closeloop exports, in one place: what ``GET /metrics`` shows Prometheus.

One ``Metrics`` per application (its own registry, so tests and benchmarks can
run several apps in one process). Counters and histograms are fed where things
happen (the outbox sender, the dispatcher, the scheduler runner); the backlog
gauges are read from the database when Prometheus scrapes, because another
replica's work changes them too.

Labels are bounded and carry no secrets: platform names, job names, event kinds,
and error codes (a platform's numeric code, or one of ``throttled``,
``timeout``, ``permanent``, ``retryable``) — never a token, a URL or a message text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from handlers.events import Event

CONTENT_TYPE = CONTENT_TYPE_LATEST
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class OutboxCounts:
    pending: int = 0
    dead: int = 0
    retrying: int = 0
    oldest_pending: datetime | None = None


@dataclass(frozen=True)
class Backlog:
    """What waits in the database, read by ``/readyz`` and by a scrape of ``/metrics``."""

    inbox_waiting: int = 0
    inbox_dead: int = 0
    inbox_oldest: datetime | None = None
    outbox: Mapping[str, OutboxCounts] = field(default_factory=dict)

    @property
    def outbox_pending(self) -> int:
        return sum(counts.pending for counts in self.outbox.values())


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self._shown: set[str] = set()  # platforms whose outbox gauges have been set
        self.inbox_backlog = Gauge(
            "closeloop_inbox_backlog", "Events acknowledged and waiting to be handled", registry=registry
        )
        self.inbox_oldest_age = Gauge(
            "closeloop_inbox_oldest_age_seconds", "Age of the oldest event waiting in the inbox", registry=registry
        )
        self.inbox_dead = Gauge("closeloop_inbox_dead", "Events given up after their last attempt", registry=registry)
        self.inbox_unavailable = Counter(
            "closeloop_inbox_unavailable", "Acknowledgements answered 503 (the inbox could not be written in time)",
            registry=registry,
        )  # fmt: skip
        self.outbox_pending = Gauge(
            "closeloop_outbox_pending", "Messages waiting to be sent", ["platform"], registry=registry
        )
        self.outbox_retrying = Gauge(
            "closeloop_outbox_retrying", "Waiting messages that failed at least once", ["platform"], registry=registry
        )
        self.outbox_dead = Gauge("closeloop_outbox_dead", "Messages given up", ["platform"], registry=registry)
        self.outbox_oldest_age = Gauge(
            "closeloop_outbox_oldest_pending_age_seconds", "Age of the oldest waiting message", ["platform"],
            registry=registry,
        )  # fmt: skip
        self.attempts = Counter("closeloop_outbox_attempts", "Send attempts", ["platform"], registry=registry)
        self.deliveries = Counter(
            "closeloop_outbox_deliveries", "Messages the platform accepted", ["platform"], registry=registry
        )
        self.refusals = Counter(
            "closeloop_outbox_refusals", "Sends the platform refused or that failed, by error code",
            ["platform", "code"], registry=registry,
        )  # fmt: skip
        self.delivery_seconds = Histogram(
            "closeloop_outbox_delivery_seconds", "How long one platform call took", ["platform"], buckets=FAST,
            registry=registry,
        )  # fmt: skip
        self.dispatch_seconds = Histogram(
            "closeloop_dispatch_seconds", "From a neutral event to its answer (commands, card actions)",
            ["platform", "kind"], buckets=FAST, registry=registry,
        )  # fmt: skip
        self.tick_seconds = Histogram(
            "closeloop_scheduler_tick_seconds", "How long one scheduler tick took", buckets=FAST, registry=registry
        )
        self.queued = Counter(
            "closeloop_scheduler_queued", "Messages queued by the scheduler, per job", ["job"], registry=registry
        )

    # ---------------------------------------------------------------- fed as things happen

    def sent(self, platform: str, seconds: float) -> None:
        self.attempts.labels(platform).inc()
        self.deliveries.labels(platform).inc()
        self.delivery_seconds.labels(platform).observe(seconds)

    def refused(self, platform: str, code: str, seconds: float) -> None:
        self.attempts.labels(platform).inc()
        self.refusals.labels(platform, code).inc()
        self.delivery_seconds.labels(platform).observe(seconds)

    def dispatched_event(self, event: Event, seconds: float) -> None:
        self.dispatch_seconds.labels(event.chat.platform, type(event).__name__).observe(seconds)

    def ticked(self, counts: Mapping[str, int], seconds: float) -> None:
        self.tick_seconds.observe(seconds)
        for job, count in counts.items():
            self.queued.labels(job).inc(count)

    # ---------------------------------------------------------------- read when scraped

    def show_backlog(self, backlog: Backlog, now: datetime) -> None:
        self.inbox_backlog.set(backlog.inbox_waiting)
        self.inbox_dead.set(backlog.inbox_dead)
        self.inbox_oldest_age.set(_age(backlog.inbox_oldest, now))
        self._shown |= set(backlog.outbox)
        for platform in self._shown:  # a platform with nothing waiting any more shows zeros, not its last values
            counts = backlog.outbox.get(platform, OutboxCounts())
            self.outbox_pending.labels(platform).set(counts.pending)
            self.outbox_retrying.labels(platform).set(counts.retrying)
            self.outbox_dead.labels(platform).set(counts.dead)
            self.outbox_oldest_age.labels(platform).set(_age(counts.oldest_pending, now))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _age(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


class Stopwatch:
    """``with Stopwatch() as watch: …`` then ``watch.seconds``: a monotonic duration for a histogram."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
