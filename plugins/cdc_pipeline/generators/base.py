"""The change driver: inserts, updates and deletes of any dataset's items, written to DynamoDB.

The split of work:

- a `Dataset` (e.g. `orders.OrderDataset`) knows its items: it makes a new one, changes an existing
  one realistically, says which items can still change, and totals the current state per hour;
- the `ChangeDriver` decides everything else: which write comes next (insert, update or delete, in
  the requested shares), the event time of each write (now, or spread over past hours for a
  backfill), the pace, the seeding, progress reports, and the DynamoDB writes themselves.

Reproducibility: one `random.Random(seed)` and one seeded Faker drive every choice, and the driver
draws from them in a fixed order, so a seed gives the same sequence of writes (same keys, same
values, same operations). Event times are part of that sequence only when they are spread over a
fixed `end_time`; with `spread_hours=0` they are the wall clock.

Shares: with `<count>` new items (e.g. `orders=2000`), `update_share=u` and `delete_share=d`, the
run makes exactly `count` inserts, `round(T*u)` updates and `round(T*d)` deletes, T = count/(1-u-d),
interleaved at random. Updates only touch items that exist and can still change, deletes only items
that exist; if at the very end the only writes left are impossible ones (every item deleted or
finished), they are skipped and the summary's counts say what was really written. With
`duration_seconds` instead, each write is an update with probability u, a delete with probability d
(when an item is available) and otherwise an insert, until the time is up.

Writes: BatchWriteItem with up to 25 requests; a batch never holds two writes of the same key
(DynamoDB refuses that, and the order inside a batch is not defined), so one key's writes reach the
table, and its stream, in the order they were made. Updates are whole-item puts (a MODIFY record
with both images). With `rate_per_second`, each write is sent on its own at its paced time.
Numbers are Decimals or ints (boto3's TypeSerializer refuses floats), so prices stay exact.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

LOG = logging.getLogger(__name__)

BATCH_LIMIT = 25  # BatchWriteItem's maximum number of requests
MAX_COUNT = 10_000_000
MAX_DURATION_SECONDS = 7 * 24 * 3600
MAX_RATE_PER_SECOND = 100_000
MAX_SPREAD_HOURS = 366 * 24
MAX_SEED = 2**63 - 1
_UNPROCESSED_RETRIES = 8


class GeneratorParamsError(ValueError):
    """A generator parameter is missing, of the wrong type or out of its allowed range."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(f"{param}: {message}")


def format_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``: fixed width, so string order is time order (as the transform writes)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hour_start(moment: datetime) -> datetime:
    """The start of the UTC hour that holds `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_utc(value: str | datetime) -> datetime:
    """A datetime or ISO-8601 string as an aware UTC datetime (no offset means UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Dataset(ABC):
    """What a generated dataset knows: how to make, change and total its items.

    Subclasses set `name` (the lake dataset), `key` (the table's partition key, a string) and
    `noun` (what one item is called in parameters and progress: ``orders=2000``, "2,000 orders").
    The driver calls `reset` before a run with the run's seeded random sources; every random choice
    a dataset makes must come from them.
    """

    name: str = ""
    key: str = ""
    noun: str = "items"

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.fake: Any = None

    def reset(self, rng: random.Random, fake: Any) -> None:
        """Start a run: keep the run's random sources and forget per-run state."""
        self.rng = rng
        self.fake = fake

    @abstractmethod
    def new_item(self, at: datetime) -> dict[str, Any]:
        """A new item created at `at` (its key must be new)."""

    @abstractmethod
    def updated_item(self, item: dict[str, Any], at: datetime) -> dict[str, Any]:
        """The whole item after a realistic change made at `at` (same key; `item` is not modified)."""

    def can_update(self, item: dict[str, Any]) -> bool:
        """Whether `item` can still change (a delivered order cannot)."""
        return True

    @abstractmethod
    def hourly_totals(self, items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Totals of the current state per hour (ISO hour start -> numbers), for checks against the lake."""

    def generate(
        self,
        client: Any,
        table_name: str,
        *,
        progress: Callable[[GenerationProgress], None] | None = None,
        **params: Any,
    ) -> GenerationSummary:
        """Run the change driver on this dataset; `params` as `ChangeParams.validate`, the count named `noun`."""
        count = params.pop(self.noun, None)
        reject_unknown_params(params, self.noun)
        checked = ChangeParams.validate(count=count, count_param=self.noun, **params)
        return ChangeDriver(self, client, table_name, checked, progress=progress).run()


def reject_unknown_params(params: Mapping[str, Any], noun: str, extra: tuple[str, ...] = ()) -> None:
    """A parameter this dataset does not take is an error that lists the ones it does."""
    known = set(inspect.signature(ChangeParams.validate).parameters) - {"cls", "count", "count_param"}
    known |= set(extra)
    unknown = sorted(set(params) - known)
    if unknown:
        allowed = ", ".join(sorted(known | {noun}))
        raise GeneratorParamsError(unknown[0], f"not a parameter of this dataset; it takes {allowed}")


@dataclass(frozen=True)
class ChangeParams:
    """Validated driver parameters; build with `validate`."""

    count: int | None
    duration_seconds: float | None
    rate_per_second: float | None
    update_share: float
    delete_share: float
    seed: int
    spread_hours: int
    end_time: datetime
    progress_every: int
    count_param: str = "count"

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        """``[start, end)`` of spread event times: the `spread_hours` whole hours before `end_time`."""
        if not self.spread_hours:
            return None
        end = hour_start(self.end_time)
        return end - timedelta(hours=self.spread_hours), end

    def planned(self) -> dict[str, int]:
        """Exact numbers of inserts, updates and deletes of a count run."""
        assert self.count is not None
        total = self.count / (1 - self.update_share - self.delete_share)
        return {
            "insert": self.count,
            "update": round(total * self.update_share),
            "delete": round(total * self.delete_share),
        }

    @classmethod
    def validate(
        cls,
        *,
        count: Any = None,
        duration_seconds: Any = None,
        rate_per_second: Any = None,
        update_share: Any = 0.0,
        delete_share: Any = 0.0,
        seed: Any = None,
        spread_hours: Any = 0,
        end_time: Any = None,
        progress_every: Any = 1000,
        count_param: str = "count",
    ) -> ChangeParams:
        """Check every parameter; raise `GeneratorParamsError` naming the parameter and its allowed range."""
        if (count is None) == (duration_seconds is None):
            raise GeneratorParamsError(
                f"{count_param}/duration_seconds",
                f"give exactly one of {count_param} (how many new {count_param}) or duration_seconds",
            )
        if count is not None:
            count = _integer(count_param, count, 1, MAX_COUNT)
        if duration_seconds is not None:
            duration_seconds = _number(
                "duration_seconds", duration_seconds, 0, MAX_DURATION_SECONDS, low_open=True
            )
        if rate_per_second is not None:
            rate_per_second = _number("rate_per_second", rate_per_second, 0, MAX_RATE_PER_SECOND) or None
        update_share = _number("update_share", update_share, 0, 1, high_open=True)
        delete_share = _number("delete_share", delete_share, 0, 1, high_open=True)
        if update_share + delete_share >= 1:
            raise GeneratorParamsError(
                "update_share+delete_share",
                f"must be below 1 so that some writes are inserts (got {update_share} + {delete_share})",
            )
        insert_share = 1 - update_share - delete_share
        if delete_share > insert_share + 1e-12:
            raise GeneratorParamsError(
                "delete_share",
                f"must not exceed the share of inserts, 1-update_share-delete_share = {insert_share:g}, "
                f"since only existing items can be deleted (got {delete_share})",
            )
        if seed is None:
            seed = random.SystemRandom().randrange(2**32)  # reported in the summary to replay the run
        seed = _integer("seed", seed, 0, MAX_SEED)
        spread_hours = _integer("spread_hours", spread_hours, 0, MAX_SPREAD_HOURS)
        if end_time is None:
            end_time = datetime.now(UTC)
        elif isinstance(end_time, (str, datetime)):
            try:
                end_time = parse_utc(end_time)
            except ValueError as exc:
                raise GeneratorParamsError(
                    "end_time", f"must be an ISO-8601 date-time (got {end_time!r})"
                ) from exc
        else:
            raise GeneratorParamsError(
                "end_time", f"must be a datetime or ISO-8601 string (got {end_time!r})"
            )
        progress_every = _integer("progress_every", progress_every, 1, 10**9)
        return cls(
            count=count,
            duration_seconds=duration_seconds,
            rate_per_second=rate_per_second,
            update_share=update_share,
            delete_share=delete_share,
            seed=seed,
            spread_hours=spread_hours,
            end_time=end_time,
            progress_every=progress_every,
            count_param=count_param,
        )


def _integer(param: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GeneratorParamsError(param, f"must be a whole number in {low:,}..{high:,} (got {value!r})")
    return value


def _number(
    param: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    allowed = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    ok = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        number = float(value)
        ok = (number > low if low_open else number >= low) and (
            number < high if high_open else number <= high
        )
    if not ok:
        raise GeneratorParamsError(param, f"must be a number in {allowed} (got {value!r})")
    return float(value)


@dataclass(frozen=True)
class GenerationProgress:
    """How far a run is, given to the progress callback every `progress_every` writes and at the end."""

    inserted: int
    updated: int
    deleted: int
    target: int | None
    noun: str
    elapsed_seconds: float
    done: bool = False

    @property
    def writes(self) -> int:
        return self.inserted + self.updated + self.deleted

    def __str__(self) -> str:
        of = f" / {self.target:,}" if self.target is not None else ""
        return (
            f"written {self.inserted:,}{of} {self.noun}, {self.updated:,} updates, {self.deleted:,} deletes"
            f" in {self.elapsed_seconds:.1f}s"
        )


@dataclass
class GenerationSummary:
    """What a run wrote, and the state the table (and the lake's current-state view) must now hold."""

    dataset: str
    table: str
    key: str
    seed: int
    inserted: int
    updated: int
    deleted: int
    #: Every existing item after the run: key -> item (plain Python, Decimals for exact numbers).
    current: dict[str, dict[str, Any]]
    #: The dataset's totals of `current` per hour, e.g. orders/units/revenue per order_time hour.
    hourly: dict[str, dict[str, Any]]
    first_event_time: str | None = None
    last_event_time: str | None = None
    window: tuple[str, str] | None = None
    planned: dict[str, int] | None = field(default=None)

    @property
    def writes(self) -> int:
        return self.inserted + self.updated + self.deleted

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (Decimals as strings, so nothing is rounded), e.g. for XCom."""
        return _jsonable(
            {
                "dataset": self.dataset,
                "table": self.table,
                "key": self.key,
                "seed": self.seed,
                "counts": {
                    "inserted": self.inserted,
                    "updated": self.updated,
                    "deleted": self.deleted,
                    "writes": self.writes,
                    "current": len(self.current),
                },
                "planned": self.planned,
                "first_event_time": self.first_event_time,
                "last_event_time": self.last_event_time,
                "window": list(self.window) if self.window else None,
                "hourly": self.hourly,
                "current": self.current,
            }
        )


def spread_event_time(
    rng: random.Random,
    index: int,
    planned_total: int,
    elapsed: float,
    window: tuple[datetime, datetime] | None,
    duration_seconds: float | None,
    clock: Callable[[], datetime],
) -> datetime:
    """The event time of write `index`: the clock without a window; else a moment inside the window.

    With a planned total T, write i gets a random moment inside its own 1/T slice of the window, so
    times rise with i; a timed run places a write at its elapsed share of `duration_seconds`.
    Millisecond precision (as written) and strictly inside ``[start, end)``.
    """
    if window is None:
        return clock().astimezone(UTC)
    start, end = window
    span = end - start
    # Write i gets a random moment inside its own 1/T slice of the window: times rise with i.
    fraction = (index + rng.random()) / planned_total if planned_total else elapsed / (duration_seconds or 1)
    at = start + span * min(fraction, 1.0)
    # Millisecond precision (as written) and strictly inside [start, end).
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    return min(at, end - timedelta(milliseconds=1))


def jsonable(value: Any) -> Any:
    """Plain JSON-ready data: Decimals as exact strings, datetimes as fixed-width UTC text, sets sorted."""
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    return value


class _KeyPool:
    """Keys with O(1) add, remove and a seeded uniform pick (deterministic order, unlike a set)."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def add(self, key: str) -> None:
        if key not in self._index:
            self._index[key] = len(self._keys)
            self._keys.append(key)

    def discard(self, key: str) -> None:
        i = self._index.pop(key, None)
        if i is None:
            return
        last = self._keys.pop()
        if i < len(self._keys):
            self._keys[i] = last
            self._index[last] = i

    def pick(self, rng: random.Random) -> str:
        return self._keys[rng.randrange(len(self._keys))]


class ChangeDriver:
    """Runs one generation: decides each write, writes it, and returns a `GenerationSummary`."""

    def __init__(
        self,
        dataset: Dataset,
        client: Any,
        table_name: str,
        params: ChangeParams,
        *,
        progress: Callable[[GenerationProgress], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dataset = dataset
        self.client = client
        self.table_name = table_name
        self.params = params
        self.progress = progress
        self.clock = clock or (lambda: datetime.now(UTC))
        self.monotonic = monotonic
        self.sleep = sleep
        self._serializer = TypeSerializer()

    def run(self) -> GenerationSummary:
        """Make every write, then return what was written and the expected current state."""
        from faker import Faker  # imported here: DAG files import this package without paying for Faker

        p = self.params
        rng = random.Random(p.seed)
        fake = Faker()
        fake.seed_instance(p.seed)
        self.dataset.reset(rng, fake)

        key = self.dataset.key
        state: dict[str, dict[str, Any]] = {}
        live, updatable = _KeyPool(), _KeyPool()
        counts = {"insert": 0, "update": 0, "delete": 0}
        written = {"insert": 0, "update": 0, "delete": 0}
        remaining = p.planned() if p.count is not None else None
        planned_total = sum(remaining.values()) if remaining else 0
        window = p.window
        batch: list[tuple[str, dict[str, Any]]] = []
        batch_keys: set[str] = set()
        first_at: datetime | None = None
        last_at: datetime | None = None
        started = self.monotonic()
        next_report = p.progress_every

        def flush() -> None:
            nonlocal next_report
            if not batch:
                return
            self._write_batch([request for _, request in batch])
            for op, _ in batch:
                written[op] += 1
            batch.clear()
            batch_keys.clear()
            total = sum(written.values())
            if total >= next_report:
                next_report = (total // p.progress_every + 1) * p.progress_every
                self._report(written, started, done=False)

        index = 0
        while True:
            elapsed = self.monotonic() - started
            if remaining is not None:
                op = self._pick_planned(rng, remaining, live, updatable)
            else:
                op = None if elapsed >= (p.duration_seconds or 0) else self._pick_random(rng, live, updatable)
            if op is None:
                break

            if p.rate_per_second:
                delay = started + index / p.rate_per_second - self.monotonic()
                if delay > 0:
                    self.sleep(delay)
                elapsed = self.monotonic() - started
                if remaining is None and elapsed >= (p.duration_seconds or 0):
                    break

            at = self._event_time(rng, index, planned_total, elapsed, window)
            if last_at is not None and at < last_at:
                at = last_at  # the wall clock may step back; a later write is never earlier
            first_at = first_at or at
            last_at = at

            if op == "insert":
                item = self.dataset.new_item(at)
                item_key = item[key]
                if item_key in state:
                    raise RuntimeError(
                        f"{type(self.dataset).__name__}.new_item repeated the key {item_key!r}"
                    )
                request = {"PutRequest": {"Item": self._serialize(item)}}
            elif op == "update":
                item_key = updatable.pick(rng)
                item = self.dataset.updated_item(state[item_key], at)
                request = {"PutRequest": {"Item": self._serialize(item)}}
            else:
                item_key = live.pick(rng)
                item = None
                request = {"DeleteRequest": {"Key": {key: self._serializer.serialize(item_key)}}}

            if item is None:
                del state[item_key]
                live.discard(item_key)
                updatable.discard(item_key)
            else:
                state[item_key] = item
                live.add(item_key)
                if self.dataset.can_update(item):
                    updatable.add(item_key)
                else:
                    updatable.discard(item_key)
            counts[op] += 1
            index += 1

            if item_key in batch_keys:
                flush()
            batch.append((op, request))
            batch_keys.add(item_key)
            if len(batch) >= BATCH_LIMIT or p.rate_per_second:
                flush()
        flush()
        self._report(written, started, done=True)

        return GenerationSummary(
            dataset=self.dataset.name,
            table=self.table_name,
            key=key,
            seed=p.seed,
            inserted=counts["insert"],
            updated=counts["update"],
            deleted=counts["delete"],
            current=state,
            hourly=self.dataset.hourly_totals(state.values()),
            first_event_time=format_utc(first_at) if first_at else None,
            last_event_time=format_utc(last_at) if last_at else None,
            window=(format_utc(window[0]), format_utc(window[1])) if window else None,
            planned=p.planned() if p.count is not None else None,
        )

    @staticmethod
    def _pick_planned(
        rng: random.Random, remaining: dict[str, int], live: _KeyPool, updatable: _KeyPool
    ) -> str | None:
        """Draw the next write from what is left of the plan, among the writes possible right now."""
        weights = {
            "insert": remaining["insert"],
            "update": remaining["update"] if len(updatable) else 0,
            "delete": remaining["delete"] if len(live) else 0,
        }
        total = sum(weights.values())
        if total == 0:
            return None  # done, or only impossible writes are left: they are skipped
        draw = rng.randrange(total)
        for op, weight in weights.items():
            if draw < weight:
                remaining[op] -= 1
                return op
            draw -= weight
        raise AssertionError("unreachable")

    def _pick_random(self, rng: random.Random, live: _KeyPool, updatable: _KeyPool) -> str:
        draw = rng.random()
        if draw < self.params.delete_share and len(live):
            return "delete"
        if draw < self.params.delete_share + self.params.update_share and len(updatable):
            return "update"
        return "insert"

    def _event_time(
        self,
        rng: random.Random,
        index: int,
        planned_total: int,
        elapsed: float,
        window: tuple[datetime, datetime] | None,
    ) -> datetime:
        return spread_event_time(
            rng, index, planned_total, elapsed, window, self.params.duration_seconds, self.clock
        )

    def _serialize(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: self._serializer.serialize(value) for name, value in item.items()}

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table_name: requests}
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            response = self.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            if attempt < _UNPROCESSED_RETRIES:
                self.sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off as the SDK guides advise
        left = sum(len(v) for v in pending.values())
        raise RuntimeError(f"{left} writes to {self.table_name} stayed unprocessed after retries")

    def _report(self, written: dict[str, int], started: float, *, done: bool) -> None:
        report = GenerationProgress(
            inserted=written["insert"],
            updated=written["update"],
            deleted=written["delete"],
            target=self.params.count,
            noun=self.dataset.noun,
            elapsed_seconds=self.monotonic() - started,
            done=done,
        )
        LOG.info("%s%s", report, " (done)" if done else "")
        if self.progress is not None:
            self.progress(report)
