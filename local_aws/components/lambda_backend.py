"""Patches on moto's Lambda models (`LambdaFunction`, `LambdaBackend`): what runs code, what refuses it.

- `LambdaFunction.invoke` (called by moto's Invoke, SNS and SQS) runs the handler through the
  `lambda` component (`LambdaRuntime.invoke_from_moto`) instead of Docker.
- `LambdaBackend.invoke` takes the request's real ``?Qualifier=`` (`lambda_responses`).
- CreateFunction and UpdateFunctionCode refuse a package that unzips to more than 262,144,000
  bytes (InvalidParameterValueException) before a zip bomb reaches the disk; a refused update
  leaves the old code in place.
- CreateFunction refuses a runtime past its block-create date, UpdateFunctionCode and
  UpdateFunctionConfiguration one past its block-update date, with Lambda's
  InvalidParameterValueException (AWS's published dates: `local_aws.lambda_runtimes`).
- UpdateFunctionCode, UpdateFunctionConfiguration and DeleteFunction retire the function's warm
  environments.
- CreateFunction and UpdateFunctionConfiguration refuse ``Environment`` variables the runtime
  reserves (``AWS_REGION``, ``_HANDLER``, ``AWS_LAMBDA_*``...) as Lambda does.
- They refuse ``Environment.Variables`` over Lambda's 4 KB quota with its
  InvalidParameterValueException "Lambda was unable to configure your environment variables
  because the environment variables you have provided exceeded the 4KB limit. String measured:
  {...}" (`_refuse_large_environment`). The measure is AWS's (Lambda guide, "Troubleshoot
  deployment issues in Lambda"): the Variables object stored as JSON without white space, at most
  4096 bytes, "key names, values, quotes, commas, and brackets" included, a non-ASCII character
  2 to 4 bytes (UTF-8); its example ``{"BUCKET":"my-bucket","KEY":"file.txt"}`` is 39 bytes.
  4096 bytes pass, 4097 fail. Assumed, not documented: a quote, backslash or control character in
  a value counts as its JSON escape (a quote 2 bytes), as AWS's messages quote it, and the message
  quotes the whole measured string. Only what a request sets is measured (an update that does not
  name Environment is not); a refused update leaves the stored configuration as it was.
- A function's ``Layers`` (CreateFunction, UpdateFunctionConfiguration) are at most five
  existing layer versions of the function's region, refused otherwise with Lambda's
  InvalidParameterValueException (moto allows any number, ignores the ARN's region and answers an
  unknown one with ResourceNotFoundException). Layers themselves are moto's
  (PublishLayerVersion, GetLayerVersion, ListLayers, ListLayerVersions, DeleteLayerVersion); the
  runtime extracts them (`lambda_pool`). AWS's managed AWS SDK for pandas layer
  (``AWSSDKPandas-Python3xx`` of account 336392948345) exists in every region without being
  published: `lambda_managed_layers`.
- State (Pending -> Active after CreateFunction) and LastUpdateStatus (InProgress -> Successful
  after an update), and what Invoke and the updates refuse meanwhile: `lambda_states`.

Without a running `lambda` component (moto used on its own in this process) moto's behaviour is
left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.utils import get_backend

from local_aws import lambda_runtimes
from local_aws.components import lambda_managed_layers, lambda_states, moto_patches
from local_aws.components.lambda_model import (
    ENVIRONMENT_LIMIT,
    UNZIPPED_CODE_LIMIT,
    environment_bytes,
    measured_environment,
    unzipped_size,
)
from local_aws.components.lambda_responses import take_request_qualifier

if TYPE_CHECKING:
    from local_aws.components.lambda_runtime import LambdaRuntime

_ORIGINALS: dict[str, Callable[..., Any]] = {}
# Lambda's quota of layers on one function.
MAX_LAYERS = 5
# Variables the runtime sets, which a function's configuration may not (Lambda's documented list).
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def install_patches() -> None:
    """Patch moto's Lambda models once per process."""
    moto_patches.install(
        _ORIGINALS,
        [
            (LambdaBackend, "create_function", _patched_create),
            (LambdaFunction, "invoke", _patched_invoke),
            (LambdaFunction, "update_function_code", _patched_update_code),
            (LambdaFunction, "update_configuration", _patched_update_config),
            (LambdaBackend, "delete_function", _patched_delete),
            (LambdaBackend, "invoke", _patched_backend_invoke),
            (LambdaFunction, "_set_function_code", _patched_set_code),
            (LambdaFunction, "_get_layers_data", _patched_layers_data),
            (LambdaFunction, "get_configuration", _patched_get_configuration),
            (LambdaBackend, "update_function_code", _changing("LambdaBackend.update_function_code")),
            (
                LambdaBackend,
                "update_function_configuration",
                _changing("LambdaBackend.update_function_configuration"),
            ),
        ],
    )


def _runtime() -> LambdaRuntime | None:
    from local_aws.components.lambda_runtime import LambdaRuntime

    return moto_patches.running(LambdaRuntime)


def _patched_invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> Any:
    runtime = _runtime()
    if runtime is None:
        return _ORIGINALS["LambdaFunction.invoke"](self, body, request_headers, response_headers)
    return runtime.invoke_from_moto(self, body, request_headers, response_headers)


def _patched_backend_invoke(
    self: LambdaBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> Any:
    qualifier = take_request_qualifier(qualifier)
    if _runtime() is not None:
        try:
            fn = self.get_function(function_name, qualifier)
        except Exception:  # moto answers an unknown function or qualifier itself
            fn = None
        if fn is not None:
            lambda_states.refuse_invoke(fn)
    return _ORIGINALS["LambdaBackend.invoke"](self, function_name, qualifier, body, headers, response_headers)


_CODE_FIELDS = ("code_bytes", "code_size", "code_sha_256", "code_digest")


def _patched_set_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> None:
    """CreateFunction and UpdateFunctionCode refuse a package over Lambda's unzipped quota, as
    Lambda does, before a zip bomb ever reaches the disk; an update leaves the old code in place."""
    saved = {name: getattr(self, name) for name in _CODE_FIELDS if hasattr(self, name)}
    saved_code = dict(self.code) if isinstance(getattr(self, "code", None), dict) else None
    _ORIGINALS["LambdaFunction._set_function_code"](self, updated_spec)
    if unzipped_size(getattr(self, "code_bytes", b"") or b"") <= UNZIPPED_CODE_LIMIT:
        return
    for name, value in saved.items():
        setattr(self, name, value)
    if saved_code is not None and updated_spec is not self.code:
        self.code = saved_code
    raise InvalidParameterValueException(f"Unzipped size must be smaller than {UNZIPPED_CODE_LIMIT} bytes")


def _patched_layers_data(self: LambdaFunction, layer_version_arns: list[str]) -> list[dict[str, Any]]:
    """A function's Layers as Lambda checks them: at most five, each a layer version of the
    function's region that exists (AWS's managed AWS SDK for pandas layer always does)."""
    arns = list(layer_version_arns or [])
    if len(arns) > MAX_LAYERS:
        raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
    backend = get_backend(self.account_id, self.region)
    layers: list[dict[str, Any]] = []
    for arn in arns:
        if isinstance(arn, str) and arn.startswith("arn:") and arn.split(":")[3:4] != [self.region]:
            raise InvalidParameterValueException(
                "Layers are not in the same region as the function. "
                f"Layers are expected to be in region {self.region}."
            )
        managed = lambda_managed_layers.parse(arn)
        if managed is not None:
            layers.append(managed.reference)
        elif not isinstance(arn, str) or backend.layers_versions_by_arn(arn) is None:
            raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
        else:
            layers.extend(_ORIGINALS["LambdaFunction._get_layers_data"](self, [arn]))
    return layers


def _refuse_blocked_runtime(runtime: str | None, operation: str) -> None:
    """CreateFunction / updates on a runtime past its block date fail as on AWS (`lambda_runtimes`)."""
    message = lambda_runtimes.refusal(runtime, operation)
    if message is not None:
        raise InvalidParameterValueException(message)


def _refuse_reserved_variables(environment: Any) -> None:
    """Lambda refuses a configuration that sets a variable its runtime sets."""
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    used = sorted(RESERVED_VARIABLES.intersection(variables or {}))
    if used:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported "
            f"for modification. Reserved keys used in this request: {', '.join(used)}"
        )


def _refuse_large_environment(environment: Any) -> None:
    """Lambda refuses variables whose JSON text is over its 4 KB quota (`ENVIRONMENT_LIMIT`)."""
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    if not isinstance(variables, dict):
        return
    measured = measured_environment(variables)
    if environment_bytes(measured) > ENVIRONMENT_LIMIT:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. String measured: " + measured
        )


def _patched_create(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    _refuse_blocked_runtime(spec.get("Runtime"), lambda_runtimes.CREATE)
    _refuse_reserved_variables(spec.get("Environment"))
    _refuse_large_environment(spec.get("Environment"))
    fn = _ORIGINALS["LambdaBackend.create_function"](self, spec)
    if _runtime() is not None:
        lambda_states.begin_create(fn)
    return fn


def _patched_get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
    if _runtime() is None:
        return _ORIGINALS["LambdaFunction.get_configuration"](self, *args, **kwargs)
    lambda_states.settle(self)
    return lambda_states.describe(self, _ORIGINALS["LambdaFunction.get_configuration"](self, *args, **kwargs))


def _changing(original: str) -> Callable[..., Any]:
    """A backend update run as Lambda runs it: refused while Pending or InProgress, then InProgress."""

    def update(self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        if _runtime() is None:
            return _ORIGINALS[original](self, function_name, qualifier, body)
        fn = self.get_function(function_name, qualifier)
        lambda_states.refuse_change(fn)
        before = lambda_states.begin_update(fn)
        try:
            return _ORIGINALS[original](self, function_name, qualifier, body)
        except Exception:
            lambda_states.undo_update(fn, before)
            raise

    return update


def _patched_update_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> dict[str, Any]:
    _refuse_blocked_runtime(self.run_time, lambda_runtimes.UPDATE)
    result = _ORIGINALS["LambdaFunction.update_function_code"](self, updated_spec)
    runtime = _runtime()
    if runtime is not None:
        runtime.retire(self.account_id, self.region, self.function_name)
    return result


def _patched_update_config(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    _refuse_blocked_runtime(config_updates.get("Runtime") or self.run_time, lambda_runtimes.UPDATE)
    _refuse_reserved_variables(config_updates.get("Environment"))
    _refuse_large_environment(config_updates.get("Environment"))
    result = _ORIGINALS["LambdaFunction.update_configuration"](self, config_updates)
    runtime = _runtime()
    if runtime is not None:
        runtime.retire(self.account_id, self.region, self.function_name)
    return result


def _patched_delete(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
    fn = self.get_function(function_name, qualifier)
    _ORIGINALS["LambdaBackend.delete_function"](self, function_name, qualifier)
    runtime = _runtime()
    if runtime is not None and fn is not None:
        runtime.retire(fn.account_id, fn.region, fn.function_name)
