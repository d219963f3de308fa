"""A pipe's configuration as CreatePipe / UpdatePipe validate it, and the pipe states."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_aws import event_patterns
from local_aws.components.pipes_templates import InputTemplate, JsonPath, json_path

NAME = "pipes"
DEFAULT_BATCH_SIZE = 100
MAX_FILTERS = 5

RUNNING, STOPPED = "RUNNING", "STOPPED"
CREATING, UPDATING, STARTING, STOPPING, DELETING = "CREATING", "UPDATING", "STARTING", "STOPPING", "DELETING"
CREATE_FAILED, UPDATE_FAILED, START_FAILED = "CREATE_FAILED", "UPDATE_FAILED", "START_FAILED"
FAILED_STATE = {CREATING: CREATE_FAILED, UPDATING: UPDATE_FAILED, STARTING: START_FAILED}
TRANSITIONAL = {CREATING, UPDATING, STARTING, STOPPING, DELETING}

DDB_STREAM_ARN = re.compile(r"^arn:[^:]+:dynamodb:([^:]+):(\d{12}):table/([^/]+)/stream/(.+)$")
KINESIS_ARN = re.compile(r"^arn:[^:]+:kinesis:([^:]+):(\d{12}):stream/(.+)$")
PIPE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_ARN = re.compile(r"^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-]+):([a-z0-9\-]*):(\d{12})?:(.+)$")


class PipeConfigError(ValueError):
    """A pipe parameter AWS would reject with ValidationException."""


# The largest batch each batchable target takes ("Amazon EventBridge Pipes batching and concurrency"):
# a pipe cannot be configured with a larger source BatchSize than its target supports.
TARGET_MAX_BATCH_SIZE = {
    "kinesis": ("Kinesis stream", 500),
    "firehose": ("Firehose stream", 500),
    "logs": ("CloudWatch Logs", 10000),
    "events": ("EventBridge event bus", 10),
    "sns": ("Amazon SNS topic", 10),
    "sqs": ("Amazon SQS queue", 10),
}


def _check_target_batch_size(batch_size: int, target: str) -> None:
    service = target.split(":")[2] if target.count(":") >= 2 else ""
    if service not in TARGET_MAX_BATCH_SIZE:
        return
    label, limit = TARGET_MAX_BATCH_SIZE[service]
    if batch_size > limit:
        raise PipeConfigError(
            f"BatchSize {batch_size} exceeds the maximum batch size the target supports: a {label} "
            f"target takes at most {limit} records per batch."
        )


@dataclass
class PipeConfig:
    """What the worker needs of a pipe, parsed once per configuration."""

    source: str
    target: str
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = DEFAULT_BATCH_SIZE
    window: float = 0.0
    filters: list[Callable[[Any], bool]] = field(default_factory=list)
    template: InputTemplate | None = None
    partition_key: JsonPath | str | None = None


def parse_config(
    source: str,
    source_parameters: dict[str, Any] | None,
    target: str,
    target_parameters: dict[str, Any] | None,
) -> PipeConfig:
    """Validate a pipe's parameters the way CreatePipe/UpdatePipe do; raise `PipeConfigError`."""
    for label, arn in (("Source", source), ("Target", target)):
        if not isinstance(arn, str) or not _ARN.match(arn):
            raise PipeConfigError(f"{label} {arn!r} is not a valid ARN.")
    config = PipeConfig(source=source, target=target)
    source_parameters = source_parameters or {}
    target_parameters = target_parameters or {}
    ddb = source_parameters.get("DynamoDBStreamParameters")
    if DDB_STREAM_ARN.match(source):
        ddb = ddb or {}
        position = ddb.get("StartingPosition")
        if position not in ("TRIM_HORIZON", "LATEST"):
            raise PipeConfigError(
                "SourceParameters.DynamoDBStreamParameters.StartingPosition must be TRIM_HORIZON or LATEST "
                "for a DynamoDB stream source."
            )
        config.starting_position = position
    if ddb:
        batch_size = ddb.get("BatchSize", DEFAULT_BATCH_SIZE)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= 10000:
            raise PipeConfigError("BatchSize must be an integer between 1 and 10000.")
        _check_target_batch_size(batch_size, target)
        window = ddb.get("MaximumBatchingWindowInSeconds", 0)
        if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 300:
            raise PipeConfigError("MaximumBatchingWindowInSeconds must be an integer between 0 and 300.")
        config.batch_size, config.window = batch_size, float(window)
    filters = (source_parameters.get("FilterCriteria") or {}).get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise PipeConfigError(f"FilterCriteria may hold at most {MAX_FILTERS} filters.")
    for index, entry in enumerate(filters):
        pattern = (entry or {}).get("Pattern")
        if not isinstance(pattern, str) or len(pattern) > 4096:
            raise PipeConfigError(
                f"FilterCriteria.Filters[{index}].Pattern must be a string of at most 4096 characters."
            )
        try:
            config.filters.append(event_patterns.compile_pattern(pattern))
        except event_patterns.InvalidPatternError as err:
            raise PipeConfigError(f"Invalid FilterCriteria.Filters[{index}].Pattern: {err}") from None
    template = target_parameters.get("InputTemplate")
    if template:
        if len(template) > 8192:
            raise PipeConfigError("InputTemplate must be at most 8192 characters.")
        try:
            config.template = InputTemplate.parse(template)
        except ValueError as err:
            raise PipeConfigError(f"Invalid InputTemplate: {err}") from None
    kinesis = target_parameters.get("KinesisStreamParameters")
    if KINESIS_ARN.match(target):
        key = (kinesis or {}).get("PartitionKey")
        if not isinstance(key, str) or not key:
            raise PipeConfigError(
                "TargetParameters.KinesisStreamParameters.PartitionKey is required for a Kinesis target."
            )
        if len(key) > 256:
            raise PipeConfigError("PartitionKey must be at most 256 characters.")
        if key.startswith("$"):
            try:
                config.partition_key = json_path(key)
            except ValueError as err:
                raise PipeConfigError(f"Invalid PartitionKey: {err}") from None
        else:
            config.partition_key = key
    return config
