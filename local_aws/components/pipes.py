"""EventBridge Pipes data plane: a RUNNING pipe moves DynamoDB stream records into a Kinesis stream.

moto stores pipes and answers the control-plane calls but moves no data, and its pipe states jump
straight to their end (a pipe created STOPPED reads RUNNING). This component:

- validates CreatePipe / UpdatePipe like AWS (ConflictException for a name in use or a pipe in a
  transitional state, ValidationException for bad parameters and invalid filter patterns or
  templates), and drives CurrentState itself: CREATING / UPDATING / STARTING -> RUNNING or
  STOPPED, STOPPING -> STOPPED, ``CREATE_FAILED`` / ``START_FAILED`` with a StateReason when the
  source or target does not exist, or the pipe's role does not trust pipes.amazonaws.com or may not
  read the source or write the target (`local_aws.iam.service_steps.pipe`; a RUNNING pipe whose
  role loses a permission holds its records, with a StateReason, until it is back);
- runs one worker that, for each RUNNING pipe whose source is a DynamoDB stream, reads the table's
  stream records straight from moto's dynamodb backend (``Table.stream_shard.items``, the list
  DynamoDB Streams GetRecords serves), honouring StartingPosition, BatchSize and
  MaximumBatchingWindowInSeconds (a batch goes when full or when the window since its first
  record ran out); shapes each record as Pipes hands it on, applies FilterCriteria
  (`local_aws.event_patterns`), the InputTemplate, and writes the batch, in order, to the Kinesis
  target with the PartitionKey (a JSONPath such as ``$.dynamodb.Keys.orderid.S`` or a literal);
- keeps one checkpoint per pipe and stream shard in the component store. The write to Kinesis and
  the checkpoint move happen under one hold of the world lock, so a snapshot has both or neither:
  a restart neither loses nor replays records. The lock is held only to copy record references
  and to write; shaping, filtering and templating happen outside it.

LIMITATIONS: only DynamoDB stream sources and Kinesis stream targets move data (other pipes are
stored and report a StateReason saying so); no enrichment; no retries policy, dead-letter queue,
MaximumRecordAgeInSeconds, OnPartialBatchItemFailure or ParallelizationFactor (records are
delivered by one worker, strictly in order); a record whose partition key is missing, empty or
longer than 256 characters, or whose data exceeds 1 MiB, is dropped with a log line instead of
failing the batch; a missing target holds the pipe (RUNNING, with a StateReason) until the target
exists again; a source that disappears or is disabled turns the pipe STOPPED with a StateReason;
state transitions take one worker tick (about 50 ms) instead of a minute or two; DeletePipe
forgets the pipe at once (DescribePipe answers NotFoundException, never DELETING);
StartingPosition LATEST means "from CreatePipe" (AWS: roughly from when the pipe first polls).
A source BatchSize above its target's documented maximum (Kinesis and Firehose 500, SQS, SNS and
event buses 10, CloudWatch Logs 10,000) is refused with ValidationException, in our own words:
AWS documents the limit, not its message.
"""

from __future__ import annotations

import base64
import datetime
import inspect
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_aws import event_patterns
from local_aws.components.base import Component
from local_aws.world import World, current

POLL_INTERVAL = 0.05  # seconds the worker sleeps when no pipe had anything to do
DEFAULT_BATCH_SIZE = 100
MAX_KINESIS_RECORD_BYTES = 1024 * 1024
MAX_FILTERS = 5

RUNNING, STOPPED = "RUNNING", "STOPPED"
CREATING, UPDATING, STARTING, STOPPING, DELETING = "CREATING", "UPDATING", "STARTING", "STOPPING", "DELETING"
CREATE_FAILED, UPDATE_FAILED, START_FAILED = "CREATE_FAILED", "UPDATE_FAILED", "START_FAILED"
_FAILED_STATE = {CREATING: CREATE_FAILED, UPDATING: UPDATE_FAILED, STARTING: START_FAILED}
TRANSITIONAL = {CREATING, UPDATING, STARTING, STOPPING, DELETING}

_DDB_STREAM_ARN = re.compile(r"^arn:[^:]+:dynamodb:([^:]+):(\d{12}):table/([^/]+)/stream/(.+)$")
_KINESIS_ARN = re.compile(r"^arn:[^:]+:kinesis:([^:]+):(\d{12}):stream/(.+)$")
_PIPE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_ARN = re.compile(r"^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-]+):([a-z0-9\-]*):(\d{12})?:(.+)$")


# -- JSONPath ----------------------------------------------------------------------------------

_SIMPLE_PATH = re.compile(r"^\$((\.[A-Za-z0-9_\-]+)|(\[\d+\]))*$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")
_MISSING = object()


class JsonPath:
    """A compiled JSONPath. Plain dotted paths (the common case) skip jsonpath-ng: it is slow."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._steps: list[str | int] | None = None
        self._expr: Any = None
        if _SIMPLE_PATH.match(text):
            self._steps = [name if name else int(index) for name, index in _STEP.findall(text)]
        else:
            from jsonpath_ng.ext import parse

            try:
                self._expr = parse(text)
            except Exception as err:  # jsonpath-ng raises several types for bad syntax
                raise ValueError(f"invalid JSONPath {text!r}: {err}") from None

    def find(self, document: Any) -> Any:
        """The value at the path, a list when a wildcard matched several, or `_MISSING`."""
        if self._steps is not None:
            value = document
            for step in self._steps:
                if isinstance(step, int):
                    if not isinstance(value, list) or step >= len(value):
                        return _MISSING
                    value = value[step]
                else:
                    if not isinstance(value, dict) or step not in value:
                        return _MISSING
                    value = value[step]
            return value
        found = [match.value for match in self._expr.find(document)]
        if not found:
            return _MISSING
        return found[0] if len(found) == 1 else found


_PATH_CACHE: dict[str, JsonPath] = {}


def json_path(text: str) -> JsonPath:
    path = _PATH_CACHE.get(text)
    if path is None:
        path = _PATH_CACHE[text] = JsonPath(text)
    return path


# -- input templates ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<(\$[^<>]*|aws\.pipes\.[A-Za-z.\-]+)>")
_RESERVED = {
    "aws.pipes.pipe-arn",
    "aws.pipes.pipe-name",
    "aws.pipes.source-arn",
    "aws.pipes.enrichment-arn",
    "aws.pipes.target-arn",
    "aws.pipes.event.ingestion-time",
    "aws.pipes.event",
    "aws.pipes.event.json",
}


@dataclass
class InputTemplate:
    """A parsed InputTemplate: literal text and placeholders, each knowing if it sits in quotes.

    As Pipes does, a placeholder inside a JSON string gets the value's text (escaped for JSON);
    outside quotes in a JSON template it gets the value as JSON (strings quoted, objects as
    objects); in a free-text template it gets a string's raw text and anything else as JSON.
    """

    text: str
    parts: list[str | tuple[str, bool]] = field(default_factory=list)  # literal, or (name, quoted)
    json_mode: bool = False

    @classmethod
    def parse(cls, text: str) -> InputTemplate:
        template = cls(text)
        stripped = text.strip()
        template.json_mode = stripped.startswith(("{", "["))
        in_string = False
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            literal = text[position : match.start()]
            in_string = _scan_quotes(literal, in_string) if template.json_mode else False
            template.parts.append(literal)
            name = match.group(1)
            if name.startswith("$"):
                json_path(name)  # raises ValueError for a bad path
            elif name not in _RESERVED:
                raise ValueError(f"unknown reserved variable <{name}>")
            template.parts.append((name, in_string))
            position = match.end()
        template.parts.append(text[position:])
        if template.json_mode:
            try:
                json.loads(template.render({}, {}, missing_as_null=True))
            except ValueError as err:
                raise ValueError(
                    f"InputTemplate is not valid JSON once its placeholders are filled: {err}"
                ) from None
        return template

    def render(self, event: Any, context: dict[str, Any], missing_as_null: bool = False) -> str:
        """The template filled from ``event``; ``context`` holds the reserved variables."""
        pieces: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            name, quoted = part
            if name.startswith("$"):
                value = json_path(name).find(event)
            elif name in ("aws.pipes.event", "aws.pipes.event.json"):
                value = event
            else:
                value = context.get(name, _MISSING)
            if quoted:
                if value is _MISSING:
                    pieces.append("")
                else:
                    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                    pieces.append(json.dumps(raw)[1:-1])
            elif self.json_mode or (len(self.parts) == 3 and not self.parts[0] and not self.parts[2]):
                if value is _MISSING:
                    pieces.append("null")
                elif isinstance(value, str) and not self.json_mode:
                    pieces.append(value)  # a template that is one placeholder yields a string as is
                else:
                    pieces.append(json.dumps(value, separators=(",", ":")))
            elif value is _MISSING:
                pieces.append("null" if missing_as_null else "")
            else:
                pieces.append(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        return "".join(pieces)


def _scan_quotes(literal: str, in_string: bool) -> bool:
    """Whether a JSON text is inside a string literal after ``literal``."""
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


# -- configuration -----------------------------------------------------------------------------


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
    if _DDB_STREAM_ARN.match(source):
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
    if _KINESIS_ARN.match(target):
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


# -- records -----------------------------------------------------------------------------------


def _epoch_seconds(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp())
    return value


def pipe_event(record: dict[str, Any], region: str, source_arn: str) -> dict[str, Any]:
    """A moto stream record shaped as Pipes and Lambda receive it."""
    dynamodb = dict(record["dynamodb"])
    dynamodb["ApproximateCreationDateTime"] = _epoch_seconds(dynamodb.get("ApproximateCreationDateTime"))
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": source_arn,
    }


@dataclass
class _Job:
    """One batch taken from a shard, to be shaped outside the lock and written under it."""

    arn: str
    incarnation: str
    shard_id: str
    start: int  # sequence number of the first record
    records: list[Any]  # moto StreamRecord objects (immutable once written)
    config: PipeConfig
    region: str
    name: str


# -- the component -----------------------------------------------------------------------------


class PipesComponent(Component):
    """Moves DynamoDB stream records through RUNNING pipes into Kinesis streams."""

    name = "pipes"
    order = 30

    def __init__(self) -> None:
        super().__init__()
        self._configs: dict[tuple[str, str], tuple[str, PipeConfig]] = {}
        self._window_started: dict[tuple[str, str], float] = {}

    def install(self, world: World) -> None:
        super().install(world)
        _patch_moto()

    def start(self) -> None:
        self.spawn(self._run, "pipes")

    # -- worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        assert self.world is not None
        while not self.world.stopping.is_set():
            try:
                busy = self.poll_once()
            except Exception:
                self.log.exception("pipes worker step failed")
                busy = False
            if not busy:
                self.world.stopping.wait(POLL_INTERVAL)

    def poll_once(self) -> bool:
        """Advance pipe states and move at most one batch per pipe. True if any data moved."""
        assert self.world is not None
        with self.world.lock:
            jobs = [
                job
                for job in (self._step(pipe, account, region) for account, region, pipe in _all_pipes())
                if job
            ]
        moved = False
        for job in jobs:
            entries = self._shape(job)
            with self.world.lock:
                moved = self._commit(job, entries) or moved
        return moved

    def _config(self, pipe: Any) -> PipeConfig | None:
        """The parsed configuration, reparsed only when UpdatePipe changed a parameter."""
        key = (pipe.arn, _incarnation(pipe))
        identity = json.dumps([pipe.source_parameters, pipe.target_parameters, pipe.target], sort_keys=True)
        cached = self._configs.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        try:
            config = parse_config(pipe.source, pipe.source_parameters, pipe.target, pipe.target_parameters)
        except PipeConfigError as err:
            pipe.state_reason = str(err)
            return None
        self._configs[key] = (identity, config)
        return config

    def _step(self, pipe: Any, account: str, region: str) -> _Job | None:
        """Under the lock: move the pipe's state along; claim a batch if it is RUNNING."""
        assert self.world is not None
        status = pipe._status
        config = self._config(pipe)
        if config is None:
            return None
        if status in (CREATING, UPDATING, STARTING):
            problem = _resource_problem(config) or _role_problem(self.world, pipe, config)
            if problem and (pipe.desired_state == RUNNING or status == CREATING):
                self._set_state(pipe, _FAILED_STATE[status], problem)
                return None
            if pipe.desired_state == RUNNING:
                self._set_state(pipe, RUNNING, None)
                # LATEST counts from here if the source was missing at CreatePipe.
                _entry(self.world, pipe, config)
            else:
                self._set_state(pipe, STOPPED, None)
            return None
        if status == STOPPING:
            self._set_state(pipe, STOPPED, None)
            return None
        if status != RUNNING:
            return None
        return self._claim(pipe, config, account, region)

    def _set_state(self, pipe: Any, state: str, reason: str | None) -> None:
        assert self.world is not None
        if pipe._status != state or pipe.state_reason != reason:
            pipe._status, pipe.state_reason = state, reason
            self.world.mark_dirty()

    def _claim(self, pipe: Any, config: PipeConfig, account: str, region: str) -> _Job | None:
        assert self.world is not None
        source = _DDB_STREAM_ARN.match(config.source)
        if not source or not _KINESIS_ARN.match(config.target):
            reason = "local_aws moves data only from DynamoDB streams to Kinesis streams."
            if pipe.state_reason != reason:
                self.log.warning("pipe %s: %s", pipe.name, reason)
                pipe.state_reason = reason
            return None
        table, problem = _find_stream(config.source)
        if table is None:
            self._set_state(pipe, STOPPED, problem)
            return None
        shard = table.stream_shard
        entry = _entry(self.world, pipe, config)
        positions = entry["positions"]
        if shard.id not in positions:
            positions[shard.id] = _initial_position(shard, config.starting_position)
        start = positions[shard.id]
        index = start - shard.starting_sequence_number
        items = shard.items
        if index > len(items) or index < 0:
            # moto's own Lambda mapping empties the list after delivering it: start again from it.
            self.log.warning("pipe %s: stream shard was truncated; reading from its start", pipe.name)
            start, index = shard.starting_sequence_number, 0
            positions[shard.id] = start
        key = (pipe.arn, entry["id"])
        available = len(items) - index
        if available <= 0:
            self._window_started.pop(key, None)
            return None
        if available < config.batch_size and config.window > 0:
            started = self._window_started.setdefault(key, time.monotonic())
            if time.monotonic() - started < config.window:
                return None
        problem = _role_problem(self.world, pipe, config)
        if problem:  # the role lost a permission: hold the records until it is back, as Pipes retries
            if pipe.state_reason != problem:
                self.log.warning("pipe %s: %s", pipe.name, problem)
                pipe.state_reason = problem
                self.world.mark_dirty()
            return None
        if pipe.state_reason and pipe.state_reason.startswith(_ROLE_REASON):
            pipe.state_reason = None
            self.world.mark_dirty()
        return _Job(
            arn=pipe.arn,
            incarnation=entry["id"],
            shard_id=shard.id,
            start=start,
            records=items[index : index + config.batch_size],
            config=config,
            region=table.region_name,
            name=pipe.name,
        )

    def _shape(self, job: _Job) -> list[tuple[str, str]]:
        """Outside the lock: event shape, filters, template, partition key -> (key, base64 data)."""
        config = job.config
        context = {
            "aws.pipes.pipe-arn": job.arn,
            "aws.pipes.pipe-name": job.name,
            "aws.pipes.source-arn": config.source,
            "aws.pipes.target-arn": config.target,
            "aws.pipes.event.ingestion-time": datetime.datetime.now(datetime.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        out: list[tuple[str, str]] = []
        for record in job.records:
            event = pipe_event(record.record, job.region, config.source)
            if config.filters and not any(check(event) for check in config.filters):
                continue
            if config.template is not None:
                payload = config.template.render(event, context).encode("utf-8")
            else:
                payload = json.dumps(event, separators=(",", ":")).encode("utf-8")
            key = config.partition_key
            if isinstance(key, JsonPath):
                value = key.find(event)
                key_text = "" if value is _MISSING else value if isinstance(value, str) else json.dumps(value)
            else:
                key_text = key or ""
            if not key_text or len(key_text) > 256 or len(payload) > MAX_KINESIS_RECORD_BYTES:
                self.log.warning(
                    "pipe %s: dropped record %s: partition key %r or data size %d is not accepted by Kinesis",
                    job.name,
                    event["eventID"],
                    key_text[:300],
                    len(payload),
                )
                continue
            out.append((key_text, base64.b64encode(payload).decode("ascii")))
        return out

    def _commit(self, job: _Job, entries: list[tuple[str, str]]) -> bool:
        """Under the lock: write the batch to Kinesis and move the checkpoint past it, together."""
        assert self.world is not None
        pipe = _find_pipe(job.arn)
        if pipe is None or _incarnation(pipe) != job.incarnation or pipe._status != RUNNING:
            return False  # stopped, updated or deleted meanwhile: the checkpoint stays, nothing written
        if pipe.target != job.config.target:
            return False
        entry = self.world.store(self.name).get("pipes", {}).get(job.arn)
        if (
            entry is None
            or entry["id"] != job.incarnation
            or entry["positions"].get(job.shard_id) != job.start
        ):
            return False
        if entries:
            stream, problem = _find_kinesis(job.config.target)
            if stream is None:
                if pipe.state_reason != problem:
                    self.log.warning("pipe %s: %s", job.name, problem)
                    pipe.state_reason = problem
                    self.world.mark_dirty()
                return False
            for key_text, data in entries:
                stream.put_record(key_text, None, data)
        entry["positions"][job.shard_id] = job.start + len(job.records)
        self._window_started.pop((job.arn, job.incarnation), None)
        if pipe.state_reason is not None:
            pipe.state_reason = None
        self.world.mark_dirty()
        return True

    def forget(self, arn: str) -> None:
        """Drop what the worker remembers of a deleted pipe."""
        for key in [key for key in self._configs if key[0] == arn]:
            del self._configs[key]
        for key in [key for key in self._window_started if key[0] == arn]:
            del self._window_started[key]


# -- moto lookups (call under the lock) --------------------------------------------------------


def _all_pipes() -> list[tuple[str, str, Any]]:
    from moto.pipes.models import pipes_backends

    found = []
    for account, regions in list(dict.items(pipes_backends)):
        for region, backend in list(dict.items(regions)):
            found.extend((account, region, pipe) for pipe in list(backend.pipes.values()))
    return found


def _find_pipe(arn: str) -> Any:
    parts = arn.split(":", 5)
    from moto.pipes.models import pipes_backends

    try:
        backend = dict.__getitem__(dict.__getitem__(pipes_backends, parts[4]), parts[3])
    except KeyError:
        return None
    pipe = backend.pipes.get(parts[5].split("/", 1)[1])
    return pipe if pipe is not None and pipe.arn == arn else None


def _find_stream(arn: str) -> tuple[Any, str | None]:
    """The table whose current, enabled stream is ``arn``, or None and why not."""
    match = _DDB_STREAM_ARN.match(arn)
    if not match:
        return None, f"Source {arn} is not a DynamoDB stream ARN."
    region, account, table_name, label = match.groups()
    table = World.backend("dynamodb", account, region).tables.get(table_name)
    if table is None:
        return None, f"The source DynamoDB table {table_name} does not exist (stream {arn})."
    spec = table.stream_specification or {}
    if not spec.get("StreamEnabled") or table.stream_shard is None or table.latest_stream_label != label:
        return None, f"The source stream {arn} is disabled or no longer exists."
    return table, None


def _find_kinesis(arn: str) -> tuple[Any, str | None]:
    match = _KINESIS_ARN.match(arn)
    if not match:
        return None, f"Target {arn} is not a Kinesis stream ARN."
    region, account, name = match.groups()
    stream = World.backend("kinesis", account, region).streams.get(name)
    if stream is None or stream.arn != arn:
        return None, f"The target Kinesis stream {arn} does not exist."
    return stream, None


def _resource_problem(config: PipeConfig) -> str | None:
    if _DDB_STREAM_ARN.match(config.source):
        _, problem = _find_stream(config.source)
        if problem:
            return problem
    if _KINESIS_ARN.match(config.target):
        _, problem = _find_kinesis(config.target)
        return problem
    return None


def _initial_position(shard: Any, starting_position: str) -> int:
    if starting_position == "LATEST":
        return shard.starting_sequence_number + len(shard.items)
    return shard.starting_sequence_number


def _incarnation(pipe: Any) -> str:
    # A pipe created before this component was installed (e.g. restored) gets an id on first sight.
    if not getattr(pipe, "local_aws_id", None):
        pipe.local_aws_id = uuid.uuid4().hex
    return pipe.local_aws_id


def _entry(world: World, pipe: Any, config: PipeConfig) -> dict[str, Any]:
    """The pipe's checkpoints in the store, created (with the starting position) when first needed."""
    pipes = world.store(PipesComponent.name).setdefault("pipes", {})
    entry = pipes.get(pipe.arn)
    if entry is None or entry["id"] != _incarnation(pipe):
        entry = pipes[pipe.arn] = {"id": _incarnation(pipe), "positions": {}}
        table, _ = _find_stream(config.source)
        if table is not None:
            entry["positions"][table.stream_shard.id] = _initial_position(
                table.stream_shard, config.starting_position
            )
        world.mark_dirty()
    return entry


# -- moto patches ------------------------------------------------------------------------------

_ORIGINALS: dict[str, Callable[..., Any]] = {}


def _validation(message: str) -> Exception:
    from moto.pipes.exceptions import ValidationException

    return ValidationException(message)


def _conflict(pipe: Any, action: str) -> Exception:
    from moto.pipes.exceptions import ConflictException

    return ConflictException(
        f"Pipe {pipe.name} cannot be {action} while it is in state {pipe._status}.",
        resource_id=pipe.name,
        resource_type="pipe",
    )


def _get(backend: Any, name: str) -> Any:
    from moto.pipes.exceptions import NotFoundException

    pipe = backend.pipes.get(name)
    if pipe is None:
        raise NotFoundException(f"Pipe {name} does not exist.")
    return pipe


def _check_desired_state(value: Any) -> None:
    if value is not None and value not in (RUNNING, STOPPED):
        raise _validation(f"DesiredState {value!r} is not valid; use RUNNING or STOPPED.")


def _create_pipe(self: Any, *args: Any, **kwargs: Any) -> Any:
    from moto.pipes.exceptions import ConflictException

    params = _bind("create_pipe", self, args, kwargs)
    name = params["name"]
    if not isinstance(name, str) or not _PIPE_NAME.match(name):
        raise _validation(f"Name {name!r} must be 1 to 64 characters of letters, digits, '.', '-' and '_'.")
    if name in self.pipes:
        raise ConflictException(f"Pipe {name} already exists.", resource_id=name, resource_type="pipe")
    _check_desired_state(params.get("desired_state"))
    try:
        config = parse_config(
            params["source"],
            params.get("source_parameters"),
            params["target"],
            params.get("target_parameters"),
        )
    except PipeConfigError as err:
        raise _validation(str(err)) from None
    pipe = _ORIGINALS["create_pipe"](self, *args, **kwargs)
    pipe.local_aws_id = uuid.uuid4().hex
    pipe._status = CREATING
    world = current()
    _entry(world, pipe, config)  # fixes where LATEST starts
    return pipe


def _update_pipe(self: Any, *args: Any, **kwargs: Any) -> Any:
    params = _bind("update_pipe", self, args, kwargs)
    pipe = _get(self, params["name"])
    if pipe._status in TRANSITIONAL:
        raise _conflict(pipe, "updated")
    _check_desired_state(params.get("desired_state"))
    # UpdatePipe cannot change StartingPosition: merge the stream parameters into the old ones.
    source_parameters = params.get("source_parameters")
    if source_parameters is not None:
        merged = dict(pipe.source_parameters or {})
        for key, value in source_parameters.items():
            if key == "DynamoDBStreamParameters" and isinstance(value, dict):
                old = dict(merged.get(key) or {})
                old.update(value)
                merged[key] = old
            else:
                merged[key] = value
        params["source_parameters"] = merged
    target = params.get("target") or pipe.target
    target_parameters = params.get("target_parameters")
    if target_parameters is None:
        target_parameters = pipe.target_parameters
    try:
        parse_config(
            pipe.source, params.get("source_parameters") or pipe.source_parameters, target, target_parameters
        )
    except PipeConfigError as err:
        raise _validation(str(err)) from None
    del params["self"]
    updated = _ORIGINALS["update_pipe"](self, **params)
    updated._status = UPDATING
    updated.state_reason = None
    return updated


def _start_pipe(self: Any, name: str) -> Any:
    from moto.core.utils import utcnow

    pipe = _get(self, name)
    if pipe._status in TRANSITIONAL:
        raise _conflict(pipe, "started")
    pipe.desired_state = RUNNING
    if pipe._status != RUNNING:
        pipe._status = STARTING
        pipe.state_reason = None
    pipe.last_modified_time = utcnow()
    return pipe


def _stop_pipe(self: Any, name: str) -> Any:
    from moto.core.utils import utcnow

    pipe = _get(self, name)
    if pipe._status in TRANSITIONAL:
        raise _conflict(pipe, "stopped")
    pipe.desired_state = STOPPED
    if pipe._status != STOPPED:
        pipe._status = STOPPING
    pipe.last_modified_time = utcnow()
    return pipe


def _delete_pipe(self: Any, name: str) -> Any:
    _get(self, name)
    pipe = _ORIGINALS["delete_pipe"](self, name)
    world = current()
    world.store(PipesComponent.name).setdefault("pipes", {}).pop(pipe.arn, None)
    component = world.components.get(PipesComponent.name)
    if isinstance(component, PipesComponent):
        component.forget(pipe.arn)
    return pipe


_SIGNATURES: dict[str, inspect.Signature] = {}


def _bind(method: str, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = _SIGNATURES[method].bind(self, *args, **kwargs)
    return dict(bound.arguments)


def _status_get(self: Any) -> str | None:
    # The worker drives pipe states; moto's ManagedState would jump CREATING -> RUNNING on read.
    return self._status


def _status_set(self: Any, value: str) -> None:
    self._status = value


def _patch_moto() -> None:
    """Patch moto's Pipes backend once per process (idempotent)."""
    from moto.pipes.models import EventBridgePipesBackend, Pipe

    if _ORIGINALS:
        return
    for method, replacement in (
        ("create_pipe", _create_pipe),
        ("update_pipe", _update_pipe),
        ("start_pipe", _start_pipe),
        ("stop_pipe", _stop_pipe),
        ("delete_pipe", _delete_pipe),
    ):
        original = getattr(EventBridgePipesBackend, method)
        _ORIGINALS[method] = original
        _SIGNATURES[method] = inspect.signature(original)
        setattr(EventBridgePipesBackend, method, replacement)
    Pipe.status = property(_status_get, _status_set)  # type: ignore[assignment,method-assign]
    _patch_kinesis_shard()


def _fast_max_sequence_number(self: Any) -> int:
    return next(reversed(self.records)) if self.records else 0


def _fast_min_sequence_number(self: Any) -> int:
    return next(iter(self.records)) if self.records else 0


def _patch_kinesis_shard() -> None:
    """moto finds a shard's last sequence number by listing every key on each PutRecord.

    That makes writing n records O(n^2), far too slow for a pipe draining 100,000 changes. The
    keys are kept in insertion (= sequence) order, so the first and last are the min and max.
    """
    from moto.kinesis.models import Shard

    if Shard.get_max_sequence_number is _fast_max_sequence_number:
        return
    Shard.get_max_sequence_number = _fast_max_sequence_number  # type: ignore[method-assign]
    Shard.get_min_sequence_number = _fast_min_sequence_number  # type: ignore[method-assign]


_ROLE_REASON = "Pipes cannot use the execution role: "


def _role_problem(world: Any, pipe: Any, config: PipeConfig) -> str | None:
    """Why the pipe's role (trust or permissions, checked by local_aws.iam) stops it, or None."""
    from local_aws.iam import service_steps

    denied = service_steps.pipe(world, pipe.arn, pipe.role_arn, config.source, config.target)
    return f"{_ROLE_REASON}{denied.message}" if denied is not None else None
