"""The dataset base class: what a generated dataset declares and knows, and what a run reports.

A dataset class declares where it writes (``target``: ``dynamodb``, its table, or ``kinesis``, its
stream), whether its items ever change (``changes``: an event stream's never do), its key, what one
item is called (``noun``: the count parameter, ``orders=2000``) and the parameters only it takes
(``extra_params``, Airflow `Param` arguments by name). Its instances make items and, for a dataset
whose items change, change them and total the current state per hour. The driver (`driver`)
decides everything else; `Dataset.generate` checks the parameters and runs it.

Importing this module is cheap (no Faker, no AWS call); Faker is imported when a run starts.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from cdc_pipeline.generators.driver import ChangeDriver, RunRecord
from cdc_pipeline.generators.params import (
    ChangeParams,
    GeneratorParamsError,
    format_utc,
    reject_unknown_params,
)


class Dataset(ABC):
    """What a generated dataset knows: how to make, change and total its items.

    Subclasses set `name` (the lake dataset), `key` (the item key, a string) and `noun`; a dataset
    whose items change (``changes = True``, the default) implements `updated_item` and
    `hourly_totals` too. The driver calls `reset` before a run with the run's seeded random sources;
    every random choice a dataset makes must come from them.
    """

    name: ClassVar[str] = ""
    key: ClassVar[str] = ""
    noun: ClassVar[str] = "items"
    #: Where the generator writes: ``dynamodb`` (the pipeline's table) or ``kinesis`` (its stream).
    target: ClassVar[str] = "dynamodb"
    #: Whether items are updated and deleted after they are made (False: only new items, no shares).
    changes: ClassVar[bool] = True
    #: For a Kinesis target: the attribute that is each record's partition key (ordering group).
    partition_key: ClassVar[str | None] = None
    #: Parameters only this dataset has (Airflow `Param` arguments by name), applied by `configure`.
    extra_params: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A dataset whose items change must say how: caught when the class is defined, not mid-run.
        missing = [
            name
            for name in ("updated_item", "hourly_totals")
            if cls.changes and getattr(cls, name) is getattr(Dataset, name)
        ]
        if missing:
            raise TypeError(f"{cls.__name__} has changes = True but no {' or '.join(missing)}")

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.fake: Any = None

    def configure(self, **extra: Any) -> None:
        """Apply the dataset's own parameters (`extra_params`), checking each; None keeps the current one."""
        for name in extra:
            raise GeneratorParamsError(name, f"{type(self).__name__} takes no {name}")

    def reset(self, rng: random.Random, fake: Any) -> None:
        """Start a run: keep the run's random sources and forget per-run state."""
        self.rng = rng
        self.fake = fake

    @abstractmethod
    def new_item(self, at: datetime) -> dict[str, Any]:
        """A new item created at `at` (its key must be new)."""

    def updated_item(self, item: dict[str, Any], at: datetime) -> dict[str, Any]:
        """The whole item after a realistic change made at `at` (same key; `item` is not modified)."""
        raise TypeError(f"{type(self).__name__} items never change")

    def can_update(self, item: dict[str, Any]) -> bool:
        """Whether `item` can still change (a delivered order cannot)."""
        return True

    def hourly_totals(self, items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Totals of the current state per hour (ISO hour start -> numbers), for checks against the lake."""
        raise TypeError(f"{type(self).__name__} keeps no current state")

    def progress_report(
        self, written: dict[str, int], target: int | None, elapsed: float, done: bool
    ) -> GenerationProgress:
        """How far a run is, from the writes sent so far by operation."""
        return GenerationProgress(
            inserted=written["insert"],
            updated=written["update"],
            deleted=written["delete"],
            target=target,
            noun=self.noun,
            elapsed_seconds=elapsed,
            done=done,
        )

    def summary(self, run: RunRecord) -> GenerationSummary:
        """What the run wrote and the state the table (and the lake's current-state view) must now hold."""
        assert run.state is not None
        return GenerationSummary(
            **run.summary_fields(self),
            table=run.destination,
            inserted=run.made["insert"],
            updated=run.made["update"],
            deleted=run.made["delete"],
            current=run.state,
            hourly=self.hourly_totals(run.state.values()),
            planned=run.params.planned() if run.params.count is not None else None,
        )

    def generate(
        self,
        client: Any,
        destination: str,
        *,
        progress: Callable[[Any], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **params: Any,
    ) -> Any:
        """Check `params` and run the driver into `destination` (a table or stream, as `target` says).

        `params` are `ChangeParams.validate`'s with the count named `noun`, plus `extra_params`.
        """
        self.configure(**{name: params.pop(name) for name in self.extra_params if name in params})
        if not self.changes:
            for share in ("update_share", "delete_share"):
                value = params.pop(share, None)
                if value not in (None, 0, 0.0):
                    raise GeneratorParamsError(
                        share, f"{self.noun} are never updated or deleted: use 0 (got {value!r})"
                    )
        count = params.pop(self.noun, None)
        reject_unknown_params(params, self.noun, extra=tuple(self.extra_params))
        checked = ChangeParams.validate(count=count, count_param=self.noun, **params)
        driver = ChangeDriver(
            self,
            client,
            destination,
            checked,
            progress=progress,
            clock=clock,
            monotonic=monotonic,
            sleep=sleep,
        )
        return driver.run()


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
        return jsonable(
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


def jsonable(value: Any) -> Any:
    """Plain JSON-ready data: Decimals as exact strings, datetimes as fixed-width UTC text, sets sorted."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    return value
