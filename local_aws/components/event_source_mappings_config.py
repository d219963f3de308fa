"""An event source mapping's settings as the poller applies them, FilterCriteria included.

`config_of` copies a mapping's settings out of moto's model under the world lock for one round
of polling: BatchSize (default 100), MaximumBatchingWindowInSeconds, MaximumRetryAttempts
(default -1: until the record expires), MaximumRecordAgeInSeconds (default: the stream's
retention), BisectBatchOnFunctionError, FunctionResponseTypes ReportBatchItemFailures and the
compiled FilterCriteria.

LIMITATIONS: FilterCriteria (EventBridge pattern syntax, `local_aws.event_patterns`) is applied as
Lambda does: a Kinesis record is matched on its metadata (partitionKey, sequenceNumber, ...) with
``data`` decoded as JSON when it is JSON, a DynamoDB record on the record itself; a record no
filter matches is consumed without invoking the function. A pattern that does not parse is
refused at CreateEventSourceMapping / UpdateEventSourceMapping (`event_source_mappings_backend`).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_aws.components.event_source_mappings_lookups import find_mapping
from local_aws.components.event_source_mappings_states import polled
from local_aws.components.event_source_mappings_streams import retention_seconds
from local_aws.event_patterns import compile_pattern


@dataclass
class MappingConfig:
    """A mapping's settings, copied under the lock for one round of polling."""

    uuid: str
    function_arn: str
    source_arn: str
    region: str
    batch_size: int
    window: float
    max_retries: int
    max_age: float
    bisect: bool
    report_failures: bool
    filters: tuple[Callable[[Any], bool], ...] = ()

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether a record passes FilterCriteria (no filters: every record does)."""
        return not self.filters or any(accepts(_filter_view(event)) for accepts in self.filters)


@dataclass
class BatchRecord:
    """One record of the batch being delivered: its sequence number, event record and size."""

    sequence: int
    event: dict[str, Any]
    size: int


def config_of(uuid: str) -> MappingConfig | None:
    """The settings of a polled mapping (lock held), or None when it is gone, disabled or not yet Enabled."""
    esm = find_mapping(uuid)
    if esm is None or not polled(esm):
        return None
    retries = esm.max_retry_attempts
    max_age = esm.max_record_age
    if max_age is None or int(max_age) < 0:
        max_age = retention_seconds(esm.event_source_arn)
    return MappingConfig(
        uuid=esm.uuid,
        function_arn=esm.function_arn,
        source_arn=esm.event_source_arn,
        region=esm.region,
        batch_size=int(esm.batch_size or 100),
        window=float(esm.max_batch_window or 0),
        max_retries=-1 if retries is None else int(retries),
        max_age=float(max_age),
        bisect=bool(esm.bisect_on_error),
        report_failures="ReportBatchItemFailures" in (esm.function_response_types or []),
        filters=tuple(compile_pattern(f["Pattern"]) for f in filters_of(esm.filter_criteria)),
    )


def filters_of(criteria: Any) -> list[dict[str, Any]]:
    return [f for f in ((criteria or {}).get("Filters") or []) if f.get("Pattern")]


def _filter_view(event: dict[str, Any]) -> dict[str, Any]:
    """What a filter pattern sees: Kinesis metadata with ``data`` decoded; DynamoDB records as they are."""
    kinesis = event.get("kinesis")
    if not isinstance(kinesis, dict):
        return event
    view = dict(kinesis)
    # Not JSON: the raw base64 text stays, and patterns on data fields simply do not match.
    with contextlib.suppress(ValueError):
        view["data"] = json.loads(base64.b64decode(kinesis.get("data") or ""))
    return view
