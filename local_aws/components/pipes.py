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

Where the parts live: ``pipes_config`` (parameters validated as CreatePipe / UpdatePipe do, and the
states), ``pipes_templates`` (JSONPath and input templates), ``pipes_backend`` (patches on moto's
Pipes backend), ``pipes_lookups`` (moto lookups and checkpoints) and ``kinesis_shard_sequence`` (a
Kinesis speed patch every Kinesis writer gains from). This module is the worker.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
from dataclasses import dataclass
from typing import Any

from local_aws.components.base import Component
from local_aws.components.kinesis_shard_sequence import install_kinesis_shard_patch
from local_aws.components.pipes_backend import install_patches
from local_aws.components.pipes_config import (
    CREATING,
    DDB_STREAM_ARN,
    FAILED_STATE,
    KINESIS_ARN,
    NAME,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    UPDATING,
    PipeConfig,
    PipeConfigError,
    parse_config,
)
from local_aws.components.pipes_lookups import (
    all_pipes,
    checkpoint_entry,
    find_kinesis,
    find_pipe,
    find_stream,
    incarnation,
    next_shard,
    resource_problem,
)
from local_aws.components.pipes_templates import MISSING, JsonPath
from local_aws.world import World

POLL_INTERVAL = 0.05  # seconds the worker sleeps when no pipe had anything to do
MAX_KINESIS_RECORD_BYTES = 1024 * 1024


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
    event = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": source_arn,
    }
    if "userIdentity" in record:  # a TTL delete: the DynamoDB service made it (components/dynamodb_ttl)
        event["userIdentity"] = dict(record["userIdentity"])
    return event


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

    name = NAME
    order = 30

    def __init__(self) -> None:
        super().__init__()
        self._configs: dict[tuple[str, str], tuple[str, PipeConfig]] = {}
        self._window_started: dict[tuple[str, str], float] = {}

    def install(self, world: World) -> None:
        super().install(world)
        install_patches()
        install_kinesis_shard_patch()

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
                for job in (self._step(pipe, account, region) for account, region, pipe in all_pipes())
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
        key = (pipe.arn, incarnation(pipe))
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
            if not self.world.control_changes_settled():
                # The CreatePipe / UpdatePipe / StartPipe is not in a snapshot yet: running now
                # could deliver records that a kill before that snapshot takes back with it.
                return None
            problem = resource_problem(config) or _role_problem(self.world, pipe, config)
            if problem and (pipe.desired_state == RUNNING or status == CREATING):
                self._set_state(pipe, FAILED_STATE[status], problem)
                return None
            if pipe.desired_state == RUNNING:
                self._set_state(pipe, RUNNING, None)
                # LATEST counts from here if the source was missing at CreatePipe.
                checkpoint_entry(self.world, pipe, config)
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
        source = DDB_STREAM_ARN.match(config.source)
        if not source or not KINESIS_ARN.match(config.target):
            reason = "local_aws moves data only from DynamoDB streams to Kinesis streams."
            if pipe.state_reason != reason:
                self.log.warning("pipe %s: %s", pipe.name, reason)
                pipe.state_reason = reason
            return None
        table, problem = find_stream(config.source)
        if table is None:
            self._set_state(pipe, STOPPED, problem)
            return None
        entry = checkpoint_entry(self.world, pipe, config)
        positions = entry["positions"]
        shard = next_shard(table, positions, config.starting_position)
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
                key_text = "" if value is MISSING else value if isinstance(value, str) else json.dumps(value)
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
        pipe = find_pipe(job.arn)
        if pipe is None or incarnation(pipe) != job.incarnation or pipe._status != RUNNING:
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
            stream, problem = find_kinesis(job.config.target)
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


_ROLE_REASON = "Pipes cannot use the execution role: "


def _role_problem(world: Any, pipe: Any, config: PipeConfig) -> str | None:
    """Why the pipe's role (trust or permissions, checked by local_aws.iam) stops it, or None."""
    from local_aws.iam import service_steps

    denied = service_steps.pipe(world, pipe.arn, pipe.role_arn, config.source, config.target)
    return f"{_ROLE_REASON}{denied.message}" if denied is not None else None
