"""Patches on moto's EventBridge Pipes backend: CreatePipe / UpdatePipe validated as AWS does, and
pipe states left for the worker to drive (moto's jump straight to their end)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Any

from local_aws.components.pipes_config import (
    CREATING,
    NAME,
    PIPE_NAME,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    TRANSITIONAL,
    UPDATING,
    PipeConfigError,
    parse_config,
)
from local_aws.components.pipes_lookups import checkpoint_entry
from local_aws.world import current

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
    if not isinstance(name, str) or not PIPE_NAME.match(name):
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
    checkpoint_entry(world, pipe, config)  # fixes where LATEST starts
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
    return _request_state(self, name, RUNNING, STARTING, "started")


def _stop_pipe(self: Any, name: str) -> Any:
    return _request_state(self, name, STOPPED, STOPPING, "stopped")


def _request_state(self: Any, name: str, desired: str, moving: str, verb: str) -> Any:
    """StartPipe / StopPipe: the pipe goes through ``moving`` to ``desired`` as the worker drives it."""
    from moto.core.utils import utcnow

    pipe = _get(self, name)
    if pipe._status in TRANSITIONAL:
        raise _conflict(pipe, verb)
    pipe.desired_state = desired
    if pipe._status != desired:
        pipe._status = moving
        if desired == RUNNING:  # a start clears the reason the pipe stopped; a stop keeps it
            pipe.state_reason = None
    pipe.last_modified_time = utcnow()
    return pipe


def _delete_pipe(self: Any, name: str) -> Any:
    _get(self, name)
    pipe = _ORIGINALS["delete_pipe"](self, name)
    world = current()
    from local_aws.components.pipes import PipesComponent  # here: pipes imports this module

    world.store(NAME).setdefault("pipes", {}).pop(pipe.arn, None)
    component = world.components.get(NAME)
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


def install_patches() -> None:
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
