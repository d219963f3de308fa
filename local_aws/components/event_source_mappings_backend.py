"""Patches on moto's event source mappings (`LambdaBackend`, `EventSourceMapping`).

- moto's immediate, per-record call of the function on every PutRecord (`send_kinesis_message`,
  `send_dynamodb_items`, through Docker) is switched off: the poller delivers stream records.
- CreateEventSourceMapping checks FilterCriteria and that the function's execution role trusts
  Lambda and may read the stream (`local_aws.iam.service_steps.event_source_mapping`), refusing
  a bad pattern or a role that may not read with InvalidParameterValueException (for the role,
  Lambda's "Cannot access stream ..." message), and fixes each shard's starting position at
  once, so a record put after it returns is always delivered.
- UpdateEventSourceMapping checks FilterCriteria.
- GetEventSourceMapping reports the poller's LastProcessingResult.
- State: Creating / Enabling / Disabling / Updating / Deleting for a while after each change, and
  what is refused meanwhile (`event_source_mappings_states`); DeleteEventSourceMapping keeps the
  mapping, Deleting, until that is over. Get and List first forget the mappings whose delete is.

Without a running `event_source_mappings` component moto's behaviour is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import EventSourceMapping, LambdaBackend

from local_aws.components import event_source_mappings_states as states
from local_aws.components import moto_patches
from local_aws.components.event_source_mappings_config import filters_of
from local_aws.components.event_source_mappings_lookups import is_polled, role_problem
from local_aws.event_patterns import InvalidPatternError, validate

if TYPE_CHECKING:
    from local_aws.components.event_source_mappings import EventSourceMappings

_ORIGINALS: dict[str, Callable[..., Any]] = {}


def install_patches() -> None:
    """Patch moto's event source mappings once per process."""
    moto_patches.install(
        _ORIGINALS,
        [
            # The poller delivers stream records; moto's immediate, per-record call is switched off.
            # (Returning None also keeps moto from emptying the DynamoDB stream after the call.)
            (LambdaBackend, "send_kinesis_message", _no_delivery),
            (LambdaBackend, "send_dynamodb_items", _no_delivery),
            (LambdaBackend, "create_event_source_mapping", _patched_create),
            (EventSourceMapping, "get_configuration", _patched_get_configuration),
            (LambdaBackend, "update_event_source_mapping", _patched_update),
            (LambdaBackend, "delete_event_source_mapping", _patched_delete),
            (LambdaBackend, "get_event_source_mapping", _patched_get),
            (LambdaBackend, "list_event_source_mappings", _patched_list),
        ],
    )


def settle(backend: LambdaBackend) -> bool:
    """Forget the mappings whose delete is over (lock held); whether there was one."""
    done = [uuid for uuid, esm in backend._event_source_mappings.items() if states.gone(esm)]
    for uuid in done:
        _ORIGINALS["LambdaBackend.delete_event_source_mapping"](backend, uuid)
    return bool(done)


def _patched_delete(self: LambdaBackend, uuid: str) -> EventSourceMapping | None:
    if _component() is None:
        return _ORIGINALS["LambdaBackend.delete_event_source_mapping"](self, uuid)
    settle(self)
    esm = self._event_source_mappings.get(uuid)
    if esm is not None and not states.deleting(esm):
        states.refuse_delete(esm)
        states.begin(esm, states.DELETING)
    return esm


def _patched_get(self: LambdaBackend, uuid: str) -> EventSourceMapping | None:
    if _component() is not None:
        settle(self)
    return _ORIGINALS["LambdaBackend.get_event_source_mapping"](self, uuid)


def _patched_list(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
    if _component() is not None:
        settle(self)
    return _ORIGINALS["LambdaBackend.list_event_source_mappings"](self, *args, **kwargs)


def _component() -> EventSourceMappings | None:
    from local_aws.components.event_source_mappings import EventSourceMappings

    return moto_patches.running(EventSourceMappings)


def _no_delivery(self: LambdaBackend, *args: Any, **kwargs: Any) -> None:
    if _component() is None:
        name = "send_kinesis_message" if "kinesis_stream" in kwargs else "send_dynamodb_items"
        return _ORIGINALS[f"LambdaBackend.{name}"](self, *args, **kwargs)
    return None


def _patched_create(self: LambdaBackend, spec: dict[str, Any]) -> EventSourceMapping:
    _check_filters(spec)
    _check_role(self, spec)
    esm = _ORIGINALS["LambdaBackend.create_event_source_mapping"](self, spec)
    component = _component()
    if component is not None:
        states.begin(esm, states.CREATING)
        if is_polled(esm):
            component.initialise_positions(esm)
    return esm


def _patched_update(self: LambdaBackend, uuid: str, spec: dict[str, Any]) -> EventSourceMapping | None:
    _check_filters(spec)
    esm = self._event_source_mappings.get(uuid) if _component() is not None else None
    if esm is None:
        return _ORIGINALS["LambdaBackend.update_event_source_mapping"](self, uuid, spec)
    states.refuse_update(esm)
    was_enabled = bool(esm.enabled)
    updated = _ORIGINALS["LambdaBackend.update_event_source_mapping"](self, uuid, spec)
    states.begin_update(esm, spec, was_enabled)
    return updated


def _patched_get_configuration(self: EventSourceMapping) -> dict[str, Any]:
    config = _ORIGINALS["EventSourceMapping.get_configuration"](self)
    component = _component()
    if component is not None:
        config["State"] = states.state(self)
        if is_polled(self):
            config["LastProcessingResult"] = component.last_result(self.uuid) or "No records processed"
    return config


def _check_filters(spec: dict[str, Any]) -> None:
    for index, item in enumerate(filters_of(spec.get("FilterCriteria"))):
        try:
            validate(item["Pattern"])
        except InvalidPatternError as error:
            raise InvalidParameterValueException(
                f"Invalid filter pattern definition at FilterCriteria.Filters[{index}]: {error}"
            ) from None


def _check_role(backend: LambdaBackend, spec: dict[str, Any]) -> None:
    """CreateEventSourceMapping checks that the function's role can read the stream, as Lambda does."""
    source = str(spec.get("EventSourceArn") or "")
    try:
        function_arn = backend.get_function(spec.get("FunctionName", "")).function_arn
    except Exception:  # moto answers an unknown function itself
        return
    problem = role_problem(function_arn, source)
    if problem:
        raise InvalidParameterValueException(problem)
