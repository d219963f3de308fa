"""The generator driver: which write comes next, when it happens, and sending it through a writer.

The split of work:

- a `Dataset` (`base`) knows its items: it makes a new one, changes an existing one realistically,
  says which items can still change, and summarises the run; its class declares where it writes
  (``target``: a DynamoDB table or a Kinesis stream) and whether its items change at all;
- a writer (`writers`) knows its service: the request of one write, batch limits, retries;
- the `ChangeDriver` decides everything else: which write comes next (insert, update or delete, in
  the requested shares; only inserts for a dataset whose items never change), the event time of
  each write (now, or spread over past hours for a backfill), the pace, the seeding and progress.

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
(when an item is available) and otherwise an insert, until the time is up. With `rate_per_second`,
each write is sent on its own at its paced time.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cdc_pipeline.generators.params import ChangeParams, format_utc
from cdc_pipeline.generators.writers import Batch, Writer, writer_for

if TYPE_CHECKING:
    from cdc_pipeline.generators.base import Dataset

LOG = logging.getLogger(__name__)
OPERATIONS = ("insert", "update", "delete")


@dataclass(frozen=True)
class RunRecord:
    """What the driver did in one run, for the dataset to summarise."""

    destination: str
    params: ChangeParams
    #: Writes made, by operation (insert, update, delete); every one was sent.
    made: dict[str, int]
    #: The current state (key -> item) for a dataset whose items change; None for an event stream.
    state: dict[str, dict[str, Any]] | None
    #: Requests the service refused for now and that were sent again.
    resent: int
    first_at: datetime | None
    last_at: datetime | None

    @property
    def window(self) -> tuple[str, str] | None:
        window = self.params.window
        return (format_utc(window[0]), format_utc(window[1])) if window else None

    def summary_fields(self, dataset: Dataset) -> dict[str, Any]:
        """What every summary says: the dataset, key, seed, first and last event times, the window."""
        return {
            "dataset": dataset.name,
            "key": dataset.key,
            "seed": self.params.seed,
            "first_event_time": format_utc(self.first_at) if self.first_at else None,
            "last_event_time": format_utc(self.last_at) if self.last_at else None,
            "window": self.window,
        }


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
    fraction = (index + rng.random()) / planned_total if planned_total else elapsed / (duration_seconds or 1)
    at = start + (end - start) * min(fraction, 1.0)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    return min(at, end - timedelta(milliseconds=1))


class _KeyPool:
    """Keys with O(1) add, remove and a seeded uniform pick (deterministic order, unlike a set)."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

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


class ChangePlan:
    """Inserts, updates and deletes of a dataset whose items change; keeps the current state."""

    def __init__(self, dataset: Dataset, params: ChangeParams) -> None:
        self.dataset = dataset
        self.params = params
        self.remaining = params.planned() if params.count is not None else None
        self.state: dict[str, dict[str, Any]] | None = {}
        self.live, self.updatable = _KeyPool(), _KeyPool()

    def next_op(self, rng: random.Random, index: int, time_up: bool) -> str | None:
        """The next write, or None when the run is over."""
        if self.remaining is not None:
            return self._pick_planned(rng)
        return None if time_up else self._pick_random(rng)

    def _pick_planned(self, rng: random.Random) -> str | None:
        """Draw the next write from what is left of the plan, among the writes possible right now."""
        assert self.remaining is not None
        weights = {
            "insert": self.remaining["insert"],
            "update": self.remaining["update"] if len(self.updatable) else 0,
            "delete": self.remaining["delete"] if len(self.live) else 0,
        }
        total = sum(weights.values())
        if total == 0:
            return None  # done, or only impossible writes are left: they are skipped
        draw = rng.randrange(total)
        for op, weight in weights.items():
            if draw < weight:
                self.remaining[op] -= 1
                return op
            draw -= weight
        raise AssertionError("unreachable")

    def _pick_random(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < self.params.delete_share and len(self.live):
            return "delete"
        if draw < self.params.delete_share + self.params.update_share and len(self.updatable):
            return "update"
        return "insert"

    def apply(self, op: str, rng: random.Random, at: datetime) -> tuple[str, dict[str, Any] | None]:
        """Make the write `op` at `at`: ``(key, item after it)``, None for a delete."""
        assert self.state is not None
        if op == "insert":
            item = self.dataset.new_item(at)
            key = item[self.dataset.key]
            if key in self.state:
                raise RuntimeError(f"{type(self.dataset).__name__}.new_item repeated the key {key!r}")
        elif op == "update":
            key = self.updatable.pick(rng)
            item = self.dataset.updated_item(self.state[key], at)
        else:
            key, item = self.live.pick(rng), None
        self._remember(key, item)
        return key, item

    def _remember(self, key: str, item: dict[str, Any] | None) -> None:
        assert self.state is not None
        if item is None:
            del self.state[key]
            self.live.discard(key)
            self.updatable.discard(key)
            return
        self.state[key] = item
        self.live.add(key)
        if self.dataset.can_update(item):
            self.updatable.add(key)
        else:
            self.updatable.discard(key)


class AppendPlan:
    """Only new items (an event stream): no state kept, no draw spent on choosing the operation."""

    def __init__(self, dataset: Dataset, params: ChangeParams) -> None:
        self.dataset = dataset
        self.count = params.count
        self.state: dict[str, dict[str, Any]] | None = None

    def next_op(self, rng: random.Random, index: int, time_up: bool) -> str | None:
        if self.count is not None:
            return "insert" if index < self.count else None
        return None if time_up else "insert"

    def apply(self, op: str, rng: random.Random, at: datetime) -> tuple[str, dict[str, Any] | None]:
        item = self.dataset.new_item(at)
        return item[self.dataset.key], item


class ChangeDriver:
    """Runs one generation of `dataset` into `destination`, and returns the dataset's summary of it."""

    def __init__(
        self,
        dataset: Dataset,
        client: Any,
        destination: str,
        params: ChangeParams,
        *,
        progress: Callable[[Any], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        writer: Writer | None = None,
    ) -> None:
        self.dataset = dataset
        self.destination = destination
        self.params = params
        self.progress = progress
        self.clock = clock or (lambda: datetime.now(UTC))
        self.monotonic = monotonic
        self.sleep = sleep
        key = dataset.partition_key or dataset.key
        self.writer = writer or writer_for(dataset.target, client, destination, key, sleep)
        self.made = dict.fromkeys(OPERATIONS, 0)
        self.written = dict.fromkeys(OPERATIONS, 0)
        self._next_report = params.progress_every
        self._started = 0.0

    def run(self) -> Any:
        """Make every write, then return the dataset's summary of the run."""
        from faker import Faker  # imported here: DAG files import this package without paying for Faker

        p = self.params
        self.made = dict.fromkeys(OPERATIONS, 0)
        self.written = dict.fromkeys(OPERATIONS, 0)
        self._next_report = p.progress_every
        rng = random.Random(p.seed)
        fake = Faker()
        fake.seed_instance(p.seed)
        self.dataset.reset(rng, fake)
        plan = ChangePlan(self.dataset, p) if self.dataset.changes else AppendPlan(self.dataset, p)
        batch = Batch(self.writer, self._sent)
        planned_total = sum(p.planned().values()) if p.count is not None else 0
        first_at = last_at = None
        self._started = self.monotonic()
        index = 0
        while (paced := self._next_write(plan, rng, index)) is not None:
            op, elapsed = paced
            at = spread_event_time(
                rng, index, planned_total, elapsed, p.window, p.duration_seconds, self.clock
            )
            if last_at is not None and at < last_at:
                at = last_at  # the wall clock may step back; a later write is never earlier
            first_at = first_at or at
            last_at = at
            key, item = plan.apply(op, rng, at)
            self.made[op] += 1
            index += 1
            batch.add(op, key, item, send_now=bool(p.rate_per_second))
        batch.flush()
        self._report(done=True)
        return self.dataset.summary(self._record(plan.state, first_at, last_at))

    def _next_write(
        self, plan: ChangePlan | AppendPlan, rng: random.Random, index: int
    ) -> tuple[str, float] | None:
        """``(op, elapsed seconds)`` of write `index`, waiting for its paced time; None when done."""
        p = self.params
        elapsed = self.monotonic() - self._started
        op = plan.next_op(rng, index, time_up=p.count is None and elapsed >= (p.duration_seconds or 0))
        if op is None:
            return None
        if p.rate_per_second:
            delay = self._started + index / p.rate_per_second - self.monotonic()
            if delay > 0:
                self.sleep(delay)
            elapsed = self.monotonic() - self._started
            if p.count is None and elapsed >= (p.duration_seconds or 0):
                return None
        return op, elapsed

    def _sent(self, ops: list[str]) -> None:
        for op in ops:
            self.written[op] += 1
        total = sum(self.written.values())
        if total >= self._next_report:
            every = self.params.progress_every
            self._next_report = (total // every + 1) * every
            self._report(done=False)

    def _report(self, *, done: bool) -> None:
        elapsed = self.monotonic() - self._started
        report = self.dataset.progress_report(dict(self.written), self.params.count, elapsed, done)
        LOG.info("%s%s", report, " (done)" if done else "")
        if self.progress is not None:
            self.progress(report)

    def _record(self, state: Any, first_at: datetime | None, last_at: datetime | None) -> RunRecord:
        return RunRecord(
            destination=self.destination,
            params=self.params,
            made=dict(self.made),
            state=state,
            resent=self.writer.resent,
            first_at=first_at,
            last_at=last_at,
        )
