"""DynamoDB Time to Live: expired items deleted in the background, each delete in the table's stream.

moto stores a table's TTL setting (UpdateTimeToLive / DescribeTimeToLive) but never deletes an
item. This component:

- answers UpdateTimeToLive as DynamoDB does: ResourceNotFoundException for a missing table,
  ValidationException ("TimeToLive is already enabled" / "... disabled") for a call that would
  change nothing, and for naming another attribute while TTL is enabled; DescribeTimeToLive of a
  disabled table shows no AttributeName;
- runs a sweeper that, every ``LOCAL_AWS_DYNAMODB_TTL_SWEEP_SECONDS`` (default 5; DynamoDB takes
  up to a few days), deletes the items of TTL-enabled tables whose TTL attribute has passed. An
  item is expired when the attribute is a top-level Number of epoch seconds lower than the current
  time and not more than five years in the past (DynamoDB ignores older values); a missing
  attribute, another type (a String, a Number set) or a value in milliseconds (far in the future)
  never expires. Until the sweep deletes it, an expired item is read like any other (as
  DynamoDB documents);
- deletes each item through moto's DeleteItem, the path every client delete takes, so its stream
  record is minted, placed and rolled by ``dynamodb_streams`` like any other: a REMOVE with the
  OldImage the stream's view type asks for, and ``userIdentity``
  ``{"type": "Service", "principalId": "dynamodb.amazonaws.com"}`` as DynamoDB writes on TTL
  deletes. The delete is conditional on the TTL value the sweep read, so an item rewritten with a
  new expiry (or deleted) between the sweep's read and its delete is left alone;
- sends that identity on the wire with DynamoDB's lower-case keys in GetRecords (moto would
  serialize it by botocore's model as ``{"Type": "Service"}``), and the Pipes worker passes it on
  in the events it writes. boto3 parses GetRecords by that model (``Type``, ``PrincipalId``) and
  so reads the lower-case identity as ``{}``, here as from DynamoDB; read as JSON (a Pipes
  target, a raw GetRecords body) it is whole;
- with a state dir, journals each delete as the equivalent conditional DeleteItem together with
  its stream record, so a restart keeps the delete and the record's eventID, sequence number and
  identity. It sweeps only once every control change is in a snapshot (an UpdateTimeToLive that a
  kill would take back must not delete anything first).

The sweeper reads a table's candidates under the world lock in one hold, then deletes them a few
at a time per hold, so a large sweep does not stall requests. It stops with the server.

LIMITATIONS: UpdateTimeToLive takes effect at once and may be called again at once (DynamoDB
shows ENABLING / DISABLING for up to an hour and refuses another UpdateTimeToLive meanwhile with
ValidationException). The message for naming another attribute while TTL is enabled is our own.
TTL deletes are not counted in CloudWatch's TimeToLiveDeletedItemCount, and global tables (where
DynamoDB writes replicated TTL deletes without the service identity) are not emulated.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from local_aws import stream_effects
from local_aws.components import dynamodb_streams, moto_patches
from local_aws.components.base import Component
from local_aws.world import World

log = logging.getLogger(__name__)

SWEEP_ENV = "LOCAL_AWS_DYNAMODB_TTL_SWEEP_SECONDS"
DEFAULT_SWEEP_SECONDS = 5.0
TICK_SECONDS = 0.2  # how often the sweeper looks at the clock (and at a changed sweep period)
DELETES_PER_HOLD = 25  # deletes made per hold of the world lock
IGNORED_BEFORE_SECONDS = 5 * 365 * 24 * 3600  # DynamoDB skips expiry times over five years old
SERVICE_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
_TARGET = "DynamoDB_20120810.DeleteItem"

_originals: dict[str, Callable[..., Any]] = {}


def sweep_seconds() -> float:
    """The sweep period, read at each tick so a test (or an operator) can change it."""
    return dynamodb_streams.env_seconds(SWEEP_ENV, DEFAULT_SWEEP_SECONDS)


# -- which items are expired ------------------------------------------------------------------
@dataclass(frozen=True)
class Expired:
    """One item the sweep found expired: where it is, its key, and the TTL value it read."""

    account: str
    region: str
    table: str
    key: dict[str, Any]  # DynamoDB JSON, as DeleteItem takes it
    attribute: str
    value: str  # the Number's text, exactly as stored


def expiry_of(item: Any, attribute: str) -> Decimal | None:
    """The item's expiry in epoch seconds, or None when the TTL attribute is missing or not a Number."""
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return None
    try:
        number = Decimal(value.value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def is_expired(expiry: Decimal | None, now: float) -> bool:
    """Whether DynamoDB's TTL process would delete an item with this expiry at ``now``."""
    if expiry is None:
        return False
    current = Decimal(str(now))
    return current - IGNORED_BEFORE_SECONDS <= expiry < current


def ttl_attribute(table: Any) -> str | None:
    """The TTL attribute of a table whose TTL is enabled, else None."""
    setting = getattr(table, "ttl", None) or {}
    if setting.get("TimeToLiveStatus") != "ENABLED":
        return None
    return setting.get("AttributeName") or None


def expired_items(account: str, region: str, table: Any, now: float | None = None) -> list[Expired]:
    """The table's items whose TTL has passed at ``now`` (call under the world lock)."""
    attribute = ttl_attribute(table)
    if attribute is None:
        return []
    at = time.time() if now is None else now
    found = []
    for item in table.all_items():
        if not is_expired(expiry_of(item, attribute), at):
            continue
        key = {table.hash_key_attr: item.hash_key.to_json()}
        if table.range_key_attr is not None and item.range_key is not None:
            key[table.range_key_attr] = item.range_key.to_json()
        found.append(Expired(account, region, table.name, key, attribute, item.attrs[attribute].value))
    return found


# -- deleting one --------------------------------------------------------------------------------
def _condition(candidate: Expired) -> dict[str, Any]:
    return {
        "ConditionExpression": "#ttl = :expiry",
        "ExpressionAttributeNames": {"#ttl": candidate.attribute},
        "ExpressionAttributeValues": {":expiry": {"N": candidate.value}},
    }


def _journal_entry(candidate: Expired) -> dict[str, Any]:
    """The conditional DeleteItem a replay sends through moto to make the same delete."""
    body = json.dumps({"TableName": candidate.table, "Key": candidate.key, **_condition(candidate)})
    scope = f"local-aws-ttl/20200101/{candidate.region}/dynamodb/aws4_request"
    return {
        "method": "POST",
        "path": "/",
        "query_string": "",
        "headers": {
            "Host": f"dynamodb.{candidate.region}.amazonaws.com",
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": _TARGET,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
            "x-moto-account-id": candidate.account,
        },
        "body": body.encode(),
    }


def expire(world: World, candidate: Expired) -> bool:
    """Delete one expired item as DynamoDB's TTL process does; False if it changed since it was read.

    The caller holds the world lock.
    """
    from moto.dynamodb.exceptions import ConditionalCheckFailed, ResourceNotFoundException

    backend = World.backend("dynamodb", candidate.account, candidate.region)
    condition = _condition(candidate)
    with stream_effects.recording() as minted:
        try:
            backend.delete_item(
                candidate.table,
                candidate.key,
                condition["ExpressionAttributeNames"],
                condition["ExpressionAttributeValues"],
                condition["ConditionExpression"],
            )
        except (ConditionalCheckFailed, ResourceNotFoundException):
            return False  # rewritten with another expiry, deleted, or the table is gone
    for kind, _shard, record in minted:
        if kind == "dynamodb":
            record.record["userIdentity"] = dict(SERVICE_IDENTITY)
    if world.persistence is not None:
        entry = _journal_entry(candidate)
        if minted:
            entry["stream_records"] = stream_effects.journalled(minted)
        world.persistence.journal_effect(entry)
    return True


# -- the sweep ------------------------------------------------------------------------------------
def _ttl_tables() -> list[tuple[str, str, Any]]:
    from moto.dynamodb.models import dynamodb_backends

    found = []
    for account, regions in list(dict.items(dynamodb_backends)):
        for region, backend in list(dict.items(regions)):
            found.extend(
                (account, region, table) for table in list(backend.tables.values()) if ttl_attribute(table)
            )
    return found


def sweep_once(world: World, now: float | None = None) -> int:
    """Delete every item expired at ``now`` in every TTL-enabled table; the number deleted."""
    with world.lock:
        if not world.control_changes_settled():
            return 0
        tables = _ttl_tables()
    deleted = 0
    for account, region, table in tables:
        with world.lock:
            candidates = expired_items(account, region, table, now)
        for start in range(0, len(candidates), DELETES_PER_HOLD):
            if world.stopping.is_set():
                return deleted
            with world.lock:
                deleted += sum(expire(world, c) for c in candidates[start : start + DELETES_PER_HOLD])
    return deleted


# -- UpdateTimeToLive / DescribeTimeToLive ----------------------------------------------------------
def _update_time_to_live(self: Any, table_name: str, ttl_spec: dict[str, Any]) -> None:
    from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException

    table = self.tables.get(table_name)
    if table is None:
        raise ResourceNotFoundException(table_name=table_name)
    current = table.ttl.get("AttributeName")
    enabled = table.ttl.get("TimeToLiveStatus") == "ENABLED"
    wanted = bool(ttl_spec.get("Enabled"))
    if wanted and enabled and ttl_spec.get("AttributeName") == current:
        raise MockValidationException("TimeToLive is already enabled")
    if wanted and enabled:
        raise MockValidationException(
            f"TimeToLive is already enabled on attribute {current!r}; disable it before naming "
            f"another attribute"
        )
    if not wanted and not enabled:
        raise MockValidationException("TimeToLive is already disabled")
    _originals["DynamoDBBackend.update_time_to_live"](self, table_name, ttl_spec)
    if not wanted:
        table.ttl.pop("AttributeName", None)


def _describe_time_to_live(self: Any, table_name: str) -> dict[str, Any]:
    from moto.dynamodb.exceptions import ResourceNotFoundException

    if self.tables.get(table_name) is None:
        raise ResourceNotFoundException(table_name=table_name)
    return dict(_originals["DynamoDBBackend.describe_time_to_live"](self, table_name))


# -- GetRecords --------------------------------------------------------------------------------------
def _get_records(self: Any) -> Any:
    """GetRecords with ``userIdentity`` as DynamoDB writes it on the wire (``type``, ``principalId``).

    moto serializes by botocore's model, whose Identity members are ``Type`` / ``PrincipalId``: it
    would write ``{"Type": "Service"}`` and drop the principal.
    """
    from moto.core.responses import ActionResult

    arn = self._get_param("ShardIterator")
    limit = self._get_param("Limit")
    result = self.backend.get_records(arn, 1000 if limit is None else limit)
    status, headers, body = self.serialized(ActionResult(result))
    identities = [record.get("userIdentity") for record in result.get("Records", [])]
    if status >= 400 or not any(identities):
        return body, {**headers, "status": status}
    document = json.loads(body)
    for shown, identity in zip(document.get("Records", []), identities, strict=False):
        if identity:
            shown["userIdentity"] = dict(identity)
    return json.dumps(document), {**headers, "status": status}


def install_patches() -> None:
    """Patch moto's UpdateTimeToLive, DescribeTimeToLive and GetRecords (once per process)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    moto_patches.install(
        _originals,
        [
            (DynamoDBBackend, "update_time_to_live", _update_time_to_live),
            (DynamoDBBackend, "describe_time_to_live", _describe_time_to_live),
            (DynamoDBStreamsHandler, "get_records", _get_records),
        ],
    )


class DynamoDBTimeToLive(Component):
    """Deletes expired items of TTL-enabled tables, each delete a REMOVE record by the service."""

    name = "dynamodb_ttl"
    order = 40

    def install(self, world: World) -> None:
        super().install(world)
        install_patches()
        stream_effects.install()  # so `expire` sees the record its delete mints, state dir or not

    def start(self) -> None:
        self.spawn(self._run, "dynamodb-ttl")

    def _run(self) -> None:
        assert self.world is not None
        last = time.monotonic()
        while not self.world.stopping.wait(TICK_SECONDS):
            if time.monotonic() - last < sweep_seconds():
                continue
            try:
                deleted = sweep_once(self.world)
            except Exception:
                self.log.exception("TTL sweep failed")
                deleted = 0
            if deleted:
                self.log.info("TTL sweep deleted %d expired items", deleted)
            last = time.monotonic()
