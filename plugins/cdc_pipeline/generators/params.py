"""Generator parameters: validated once, before anything is written, with errors that name the parameter.

`ChangeParams.validate` checks what every dataset takes (the count or a duration, the rate, the
update and delete shares, the seed, the spread window, progress); a dataset's own parameters are
declared on its class (`Dataset.extra_params`) and checked by the dataset. Also the UTC time helpers
every generator uses, so that written times have one format.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cdc_pipeline.ranges import interval, number_in_range, whole_number_in_range

MAX_COUNT = 10_000_000
MAX_DURATION_SECONDS = 7 * 24 * 3600
MAX_RATE_PER_SECOND = 100_000
MAX_SPREAD_HOURS = 366 * 24
MAX_SEED = 2**63 - 1


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


def reject_unknown_params(params: Mapping[str, Any], noun: str, extra: tuple[str, ...] = ()) -> None:
    """A parameter this dataset does not take is an error that lists the ones it does (plus `extra`)."""
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
            count = check_integer(count_param, count, 1, MAX_COUNT)
        if duration_seconds is not None:
            duration_seconds = check_number(
                "duration_seconds", duration_seconds, 0, MAX_DURATION_SECONDS, low_open=True
            )
        if rate_per_second is not None:
            rate_per_second = check_number("rate_per_second", rate_per_second, 0, MAX_RATE_PER_SECOND) or None
        update_share = check_number("update_share", update_share, 0, 1, high_open=True)
        delete_share = check_number("delete_share", delete_share, 0, 1, high_open=True)
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
        seed = check_integer("seed", seed, 0, MAX_SEED)
        spread_hours = check_integer("spread_hours", spread_hours, 0, MAX_SPREAD_HOURS)
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
        progress_every = check_integer("progress_every", progress_every, 1, 10**9)
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


def check_integer(param: str, value: Any, low: int, high: int) -> int:
    """`value` if it is a whole number in ``[low, high]``, else `GeneratorParamsError` naming `param`."""
    if not whole_number_in_range(value, low, high):
        raise GeneratorParamsError(param, f"must be a whole number in {low:,}..{high:,} (got {value!r})")
    return value


def check_number(
    param: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """`value` as a float if it is a finite number in the range, else `GeneratorParamsError` naming `param`."""
    if not number_in_range(value, low, high, low_open=low_open, high_open=high_open):
        allowed = interval(low, high, low_open=low_open, high_open=high_open)
        raise GeneratorParamsError(param, f"must be a number in {allowed} (got {value!r})")
    return float(value)
