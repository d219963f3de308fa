"""The user-events dataset (seed 001): clickstream events that a producer puts on a Kinesis stream.

An event (one Kinesis record, JSON; the key is ``event_id``)::

    event_id    a UUID, new for every event
    user_id     a UUID; the record's PartitionKey, so one user's events stay in order on one shard
    session_id  a UUID; a visit: the events between arriving and leaving (or going quiet)
    event_type  page_view | search | add_to_cart | purchase | login | logout
    page        "/", "/category/audio", "/product/usb-c-charger-65w", "/search", "/checkout", ...
    device      mobile | desktop | tablet (a user mostly keeps one device)
    country     ISO 3166-1 alpha-2 code, fixed per user
    event_time  ISO-8601 UTC with milliseconds, fixed width (``2024-05-01T12:34:56.789Z``)
    amount      the basket's total, an exact decimal number with two places: purchases only, else null

Events come from sessions, not from independent draws. A pool of ``users`` (default 500) with
long-tailed activity (a few users visit far more often than most) opens sessions; a session walks a
small state machine (`TRANSITIONS`): it starts with a landing page view, a search or a login,
browses products, adds some to the cart, and sometimes checks out, then logs out or just goes quiet.
A purchase needs a non-empty cart and its amount is the cart's total, so the funnel page_view ->
add_to_cart -> purchase narrows realistically (most sessions never buy). About ``CONCURRENT_SESSIONS``
sessions are open at a time and the next event comes from one of them, so sessions interleave.

Parameters are the driver's (`generators.params`): the count (named ``events``) or
``duration_seconds``, ``rate_per_second``, ``seed``, ``spread_hours``, ``end_time`` and
``progress_every``, validated by `ChangeParams.validate` with the same messages; events are never
updated or deleted (``changes = False``), so ``update_share`` and ``delete_share`` must be 0 (or
absent). With a seed and a fixed ``end_time`` (and ``spread_hours``) a run is reproducible: the same
events, ids and times.

Writes: the driver's Kinesis writer (`generators.writers`): PutRecords batches that never hold two
events of one user, failed records sent again alone before the next batch. The summary
(`EventSummary.to_json`) gives counts and per-hour totals by event time: events by type, users,
sessions, the funnel's sessions, purchases, revenue and revenue by country.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from cdc_pipeline.generators.base import Dataset, jsonable
from cdc_pipeline.generators.driver import RunRecord
from cdc_pipeline.generators.params import check_integer, format_utc, hour_start

EVENT_TYPES = ("page_view", "search", "add_to_cart", "purchase", "login", "logout")
#: The steps of the conversion funnel, in order.
FUNNEL = ("page_view", "add_to_cart", "purchase")
DEFAULT_USERS = 500
MAX_USERS = 1_000_000
CONCURRENT_SESSIONS = 100
_END = "end"  # a session that goes quiet (no logout)

#: The next event of a session after each event type (weights); "start" opens a session.
TRANSITIONS: dict[str, tuple[tuple[str, int], ...]] = {
    "start": (("page_view", 60), ("search", 15), ("login", 25)),
    "login": (("page_view", 75), ("search", 25)),
    "page_view": (
        ("page_view", 45),
        ("search", 14),
        ("add_to_cart", 10),
        ("purchase", 2),
        ("logout", 4),
        (_END, 25),
    ),
    "search": (("page_view", 65), ("search", 12), ("add_to_cart", 6), (_END, 17)),
    "add_to_cart": (("page_view", 40), ("add_to_cart", 10), ("purchase", 22), ("search", 8), (_END, 20)),
    "purchase": (("page_view", 35), ("logout", 15), (_END, 50)),
    "logout": ((_END, 1),),
}

#: (slug, category, price): what the shop sells.
PRODUCTS: tuple[tuple[str, str, Decimal], ...] = tuple(
    (slug, category, Decimal(price))
    for slug, category, price in (
        ("wireless-earbuds-pro", "audio", "149.00"),
        ("noise-cancelling-headphones", "audio", "299.99"),
        ("bluetooth-speaker-mini", "audio", "39.90"),
        ("usb-c-charger-65w", "accessories", "34.99"),
        ("usb-c-cable-2m", "accessories", "12.49"),
        ("phone-case-clear", "accessories", "19.95"),
        ("screen-protector-2pack", "accessories", "9.99"),
        ("power-bank-20000", "accessories", "45.50"),
        ("smartwatch-sport", "wearables", "229.00"),
        ("fitness-band-lite", "wearables", "59.00"),
        ("4k-action-camera", "cameras", "349.00"),
        ("webcam-1080p", "cameras", "64.99"),
        ("mechanical-keyboard", "computing", "119.00"),
        ("wireless-mouse", "computing", "29.99"),
        ("27in-monitor", "computing", "279.00"),
        ("laptop-stand", "computing", "42.00"),
        ("e-reader-6in", "tablets", "129.99"),
        ("tablet-10in", "tablets", "329.00"),
        ("smart-plug-2pack", "smart-home", "24.99"),
        ("video-doorbell", "smart-home", "99.00"),
    )
)
CATEGORIES = tuple(sorted({category for _, category, _ in PRODUCTS}))
# Cheap things sell more often than dear ones.
_PRODUCT_WEIGHTS = tuple(1 / math.sqrt(float(price)) for _, _, price in PRODUCTS)

#: Where the users are (weights roughly like an English/European web shop's audience).
COUNTRIES: tuple[tuple[str, int], ...] = (
    ("US", 34),
    ("GB", 12),
    ("DE", 11),
    ("FR", 7),
    ("CA", 6),
    ("IN", 6),
    ("NL", 4),
    ("ES", 4),
    ("IT", 4),
    ("AU", 3),
    ("BR", 3),
    ("SE", 2),
    ("PL", 2),
    ("JP", 2),
)
DEVICES: tuple[tuple[str, int], ...] = (("mobile", 58), ("desktop", 36), ("tablet", 6))
#: How often a user's session is on another device than the user's usual one.
OTHER_DEVICE_SHARE = 0.15


@dataclass
class _User:
    user_id: str
    country: str
    device: str


@dataclass
class _Session:
    user: _User
    session_id: str
    device: str
    last: str = "start"
    product: tuple[str, str, Decimal] | None = None
    cart: list[Decimal] = field(default_factory=list)


@dataclass(frozen=True)
class EventProgress:
    """How far a run is, given to the progress callback every `progress_every` events and at the end."""

    sent: int
    target: int | None
    elapsed_seconds: float
    done: bool = False

    def __str__(self) -> str:
        of = f" / {self.target:,}" if self.target is not None else ""
        return f"sent {self.sent:,}{of} events in {self.elapsed_seconds:.1f}s"


@dataclass
class EventSummary:
    """What a run put on the stream, and its totals per event hour (what the lake must report)."""

    dataset: str
    stream: str
    key: str
    seed: int
    sent: int
    #: Records sent again after PutRecords reported them failed.
    resent: int
    by_type: dict[str, int]
    hourly: dict[str, dict[str, Any]]
    first_event_time: str | None = None
    last_event_time: str | None = None
    window: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (Decimals as exact strings), e.g. for XCom."""
        return jsonable(
            {
                "dataset": self.dataset,
                "stream": self.stream,
                "key": self.key,
                "seed": self.seed,
                "counts": {"sent": self.sent, "resent": self.resent, **self.by_type},
                "first_event_time": self.first_event_time,
                "last_event_time": self.last_event_time,
                "window": list(self.window) if self.window else None,
                "hourly": self.hourly,
            }
        )


def _check_users(value: Any) -> int:
    return check_integer("users", value, 1, MAX_USERS)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in choices], weights=[w for _, w in choices])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _HourlyTotals:
    """Per event hour: events by type, distinct users and sessions, funnel sessions, revenue."""

    def __init__(self) -> None:
        self._hours: dict[str, dict[str, Any]] = {}

    def add(self, event: dict[str, Any]) -> None:
        hour = format_utc(hour_start(datetime.fromisoformat(event["event_time"])))
        totals = self._hours.setdefault(
            hour,
            {
                "events": 0,
                "by_type": dict.fromkeys(EVENT_TYPES, 0),
                "users": set(),
                "sessions": set(),
                "funnel": {step: set() for step in FUNNEL},
                "purchases": 0,
                "revenue": Decimal("0.00"),
                "by_country": {},
            },
        )
        kind = event["event_type"]
        totals["events"] += 1
        totals["by_type"][kind] += 1
        totals["users"].add(event["user_id"])
        totals["sessions"].add(event["session_id"])
        if kind in totals["funnel"]:
            totals["funnel"][kind].add(event["session_id"])
        if kind == "purchase":
            totals["purchases"] += 1
            totals["revenue"] += event["amount"]
            country = totals["by_country"].setdefault(
                event["country"], {"purchases": 0, "revenue": Decimal("0.00")}
            )
            country["purchases"] += 1
            country["revenue"] += event["amount"]

    def result(self) -> dict[str, dict[str, Any]]:
        out = {}
        for hour, totals in sorted(self._hours.items()):
            out[hour] = {
                **totals,
                "users": len(totals["users"]),
                "sessions": len(totals["sessions"]),
                "funnel": {step: len(sessions) for step, sessions in totals["funnel"].items()},
                "by_country": dict(sorted(totals["by_country"].items())),
            }
        return out


class EventDataset(Dataset):
    """User clickstream events: the `user_events` dataset, keyed by ``event_id``, put on a Kinesis stream."""

    name = "user_events"
    key = "event_id"
    noun = "events"
    target = "kinesis"
    changes = False
    #: One user's events stay in order on one shard.
    partition_key = "user_id"
    extra_params: ClassVar[dict[str, dict[str, Any]]] = {
        "users": {
            "default": DEFAULT_USERS,
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_USERS,
            "description": "How many distinct users the events come from.",
        }
    }

    def __init__(self, users: int = DEFAULT_USERS) -> None:
        super().__init__()
        self.users = _check_users(users)
        self._pool: list[_User] = []
        self._activity: list[float] = []
        self._active: dict[str, _Session] = {}
        self._totals = _HourlyTotals()
        self._by_type = dict.fromkeys(EVENT_TYPES, 0)

    def configure(self, users: Any = None) -> None:
        """``users`` for this run (None keeps the dataset's own)."""
        if users is not None:
            self.users = _check_users(users)

    def reset(self, rng: random.Random, fake: Any) -> None:
        """Draw the run's users; no session is open yet."""
        super().reset(rng, fake)
        self._pool = [
            _User(_uuid(rng), _weighted(rng, COUNTRIES), _weighted(rng, DEVICES)) for _ in range(self.users)
        ]
        # Long-tailed activity: a few users come back far more often than most.
        self._activity = [rng.paretovariate(1.2) for _ in self._pool]
        self._active = {}  # user_id -> open session (one per user at a time)
        self._totals = _HourlyTotals()
        self._by_type = dict.fromkeys(EVENT_TYPES, 0)

    def new_item(self, at: datetime) -> dict[str, Any]:
        """The next event of an open session (or of one that opens now) at `at`."""
        event = self._next_event(self.rng, self._pool, self._activity, self._active, at)
        self._by_type[event["event_type"]] += 1
        self._totals.add(event)
        return event

    def progress_report(
        self, written: dict[str, int], target: int | None, elapsed: float, done: bool
    ) -> EventProgress:
        return EventProgress(sent=written["insert"], target=target, elapsed_seconds=elapsed, done=done)

    def summary(self, run: RunRecord) -> EventSummary:
        return EventSummary(
            **run.summary_fields(self),
            stream=run.destination,
            sent=run.made["insert"],
            resent=run.resent,
            by_type=dict(self._by_type),
            hourly=self._totals.result(),
        )

    def _next_event(
        self,
        rng: random.Random,
        users: list[_User],
        activity: list[float],
        active: dict[str, _Session],
        at: datetime,
    ) -> dict[str, Any]:
        """Open a session or continue one, and return its next event (the session walks TRANSITIONS)."""
        while True:
            # Fewer open sessions than usual: more likely that someone arrives.
            opens = not active or rng.random() < 1 - len(active) / CONCURRENT_SESSIONS
            if opens and len(active) < len(users):
                session = self._open(rng, users, activity, active)
            else:
                session = active[rng.choice(sorted(active))]
            kind = _weighted(rng, TRANSITIONS[session.last])
            if kind == "purchase" and not session.cart:
                kind = "page_view"  # nothing to pay for: keep browsing
            if kind == _END:
                del active[session.user.user_id]
                continue
            return self._event(rng, session, kind, active, at)

    @staticmethod
    def _open(
        rng: random.Random, users: list[_User], activity: list[float], active: dict[str, _Session]
    ) -> _Session:
        for _ in range(20):
            user = rng.choices(users, weights=activity)[0]
            if user.user_id not in active:
                break
        else:  # the busiest users are all online: anyone who is not
            user = rng.choice([u for u in users if u.user_id not in active])
        device = user.device
        if rng.random() < OTHER_DEVICE_SHARE:
            device = _weighted(rng, DEVICES)
        session = _Session(user=user, session_id=_uuid(rng), device=device)
        active[user.user_id] = session
        return session

    @staticmethod
    def _event(
        rng: random.Random, session: _Session, kind: str, active: dict[str, _Session], at: datetime
    ) -> dict[str, Any]:
        amount: Decimal | None = None
        if kind == "page_view":
            if session.last == "start":
                page = "/"
            elif rng.random() < 0.25:
                page = f"/category/{rng.choice(CATEGORIES)}"
            else:
                session.product = rng.choices(PRODUCTS, weights=_PRODUCT_WEIGHTS)[0]
                page = f"/product/{session.product[0]}"
        elif kind == "search":
            page = "/search"
        elif kind == "add_to_cart":
            # Usually the product on screen; now and then a quick add from a list.
            if session.product is None or rng.random() < 0.2:
                session.product = rng.choices(PRODUCTS, weights=_PRODUCT_WEIGHTS)[0]
            quantity = 2 if rng.random() < 0.12 else 1
            session.cart.append(session.product[2] * quantity)
            page = f"/product/{session.product[0]}"
        elif kind == "purchase":
            amount = sum(session.cart, Decimal("0.00")).quantize(Decimal("0.01"))
            session.cart.clear()
            page = "/checkout"
        elif kind == "login":
            page = "/login"
        else:
            page = "/logout"
        session.last = kind
        if kind == "logout":
            del active[session.user.user_id]
        return {
            "event_id": _uuid(rng),
            "user_id": session.user.user_id,
            "session_id": session.session_id,
            "event_type": kind,
            "page": page,
            "device": session.device,
            "country": session.user.country,
            "event_time": format_utc(at),
            "amount": amount,
        }
