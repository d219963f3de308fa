"""Lambda functions deployed from `lambda/<folder>/` as a deterministic zip: the Firehose transform
(and, through `FunctionSpec`, the direct topology's Kinesis consumer). Each zip also carries the
modules of `lambda/shared/` at its root, so the functions share one copy of their helpers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.definitions.types import declared_tree
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, retry_while_role_propagates, wait_with_waiter

KIND = "lambda:function"
RESOURCE = "transform_function"
# The Python runtime AWS supports longest (Lambda's runtime table: deprecation June 2029); python3.11
# is blocked for new functions from July 2027. local_aws runs it on its own interpreter.
RUNTIME = "python3.14"

#: Beside the function folders: modules every function's zip carries at its root (`lake_rows.py`).
SHARED_FOLDER = "shared"

_EXCLUDED_DIRS = {"tests", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
# Zip timestamps cannot predate 1980; any fixed value makes the bytes depend on the code alone.
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _code_files(folder: Path) -> dict[str, Path]:
    """Archive name -> file, for every file of `folder` but tests, caches and hidden ones."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part in _EXCLUDED_DIRS or part.startswith(".") for part in path.relative_to(folder).parts)
        and path.suffix not in _EXCLUDED_SUFFIXES
    }


def zip_members(folder: Path, shared: Path | None = None) -> dict[str, Path]:
    """What a function's zip holds: its folder's files, plus the shared modules at the root.

    `shared` defaults to the `SHARED_FOLDER` beside `folder` (when there is one). A function file with
    a shared module's name is refused: one of the two would silently not be deployed.
    """
    members = _code_files(folder)
    shared = folder.parent / SHARED_FOLDER if shared is None else shared
    if shared.is_dir():
        for name, path in _code_files(shared).items():
            if name in members:
                raise ValueError(f"{folder / name} has the name of the shared module {path}: rename one")
            members[name] = path
    return members


def build_zip(folder: Path, handler_module: str = "handler", shared: Path | None = None) -> bytes:
    """Zip `folder` and the shared modules deterministically: sorted paths, fixed timestamps and modes.

    The same code always gives the same bytes, hence the same CodeSha256, so an unchanged function
    is never re-uploaded (a change to a shared module re-uploads every function that carries it).
    """
    module_file = folder / (handler_module.replace(".", "/") + ".py")
    if not module_file.is_file():
        raise FileNotFoundError(f"no {module_file.name} in {folder}: is CDC_LAKE_LAMBDA_DIR right?")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in sorted(zip_members(folder, shared).items()):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so the mode above is honoured wherever we build
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """What Lambda reports as CodeSha256: base64 of the zip's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def desired_configuration(deployment: Deployment) -> dict[str, Any]:
    settings = deployment.settings
    return {
        "Role": deployment.names.role_arn(deployment.names.lambda_role),
        "Runtime": RUNTIME,
        "Handler": deployment.definition.transform_handler,
        "Timeout": settings.transform_timeout_seconds,
        "MemorySize": settings.transform_memory_mb,
        "Environment": {"Variables": transform_environment(deployment)},
    }


def transform_environment(deployment: Deployment) -> dict[str, str]:
    """The definition's variables; with a Parquet change log, the declared columns too, so the
    transform keeps what the conversion would drop (``undeclared``)."""
    variables = deployment.definition.transform_environment()
    if deployment.settings.parquet_change_log:
        variables["DECLARED_COLUMNS"] = json.dumps(
            declared_tree(deployment.definition.columns), separators=(",", ":")
        )
    return variables


@dataclass(frozen=True)
class FunctionSpec:
    """One function of a pipeline: where its code is and how it is configured."""

    resource: str
    folder: Path
    handler: str
    description: str
    #: Role, Runtime, Handler, Timeout, MemorySize, Environment (and Layers): compared with GetFunction's.
    configuration: dict[str, Any]


def transform_spec(deployment: Deployment) -> FunctionSpec:
    definition = deployment.definition
    return FunctionSpec(
        resource=RESOURCE,
        folder=definition.transform_dir(deployment.settings),
        handler=definition.transform_handler,
        description=f"cdc-lake {definition.name}: Firehose transform",
        configuration=desired_configuration(deployment),
    )


def _get_function(awslambda: Any, name: str) -> dict[str, Any] | None:
    try:
        return awslambda.get_function(FunctionName=name)["Configuration"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _wait_ready(awslambda: Any, name: str) -> None:
    """Wait (boto3's waiters) until the function is Active and no update is in progress: Lambda refuses
    Invoke while it is Pending, and the next change while either is under way."""
    wait_with_waiter(awslambda, "function_active_v2", f"function {name}", FunctionName=name)
    wait_with_waiter(awslambda, "function_updated_v2", f"function {name}", FunctionName=name)


def _configuration_differences(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    differences = {}
    for key, value in desired.items():
        existing = current.get(key)
        if key == "Environment":
            existing = {"Variables": (existing or {}).get("Variables", {})}
        elif key == "Layers":
            # GetFunction lists {Arn, CodeSize}; the configuration names version ARNs.
            existing = [layer["Arn"] for layer in existing or []]
        if existing != value:
            differences[key] = value
    return differences


def ensure_function(deployment: Deployment, spec: FunctionSpec | None = None) -> Outcome:
    """Create the function, or update code (only when CodeSha256 differs) and configuration in place.

    `spec` defaults to the Firehose transform's.
    """
    spec = spec or transform_spec(deployment)
    awslambda = deployment.client("lambda")
    name = deployment.names.function
    handler_module = spec.handler.rpartition(".")[0]
    zip_bytes = build_zip(spec.folder, handler_module)
    desired = spec.configuration
    current = _get_function(awslambda, name)
    if current is None:
        retry_while_role_propagates(
            lambda: awslambda.create_function(
                FunctionName=name,
                Code={"ZipFile": zip_bytes},
                Description=spec.description,
                Publish=False,
                Tags={"cdc-lake:dataset": deployment.definition.name},
                **desired,
            ),
            f"create function {name}",
            deployment.settings.role_propagation_timeout_seconds,
        )
        _wait_ready(awslambda, name)
        return Outcome(spec.resource, KIND, name, "created")
    changed = False
    # Configuration first: a function on a runtime past its block-update date takes no new code
    # until it has moved to RUNTIME.
    differences = _configuration_differences(current, desired)
    if differences:
        _wait_ready(awslambda, name)
        awslambda.update_function_configuration(FunctionName=name, **differences)
        changed = True
    if current.get("CodeSha256") != code_sha256(zip_bytes):
        _wait_ready(awslambda, name)
        awslambda.update_function_code(FunctionName=name, ZipFile=zip_bytes)
        changed = True
    if changed:
        _wait_ready(awslambda, name)
    return Outcome(spec.resource, KIND, name, "updated" if changed else "unchanged")


def delete_function(deployment: Deployment, resource: str = RESOURCE) -> Outcome:
    name = deployment.names.function
    try:
        deployment.client("lambda").delete_function(FunctionName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return Outcome(resource, KIND, name, "absent")
        raise
    return Outcome(resource, KIND, name, "deleted")


def delete_log_group(deployment: Deployment, resource: str = "transform_log_group") -> Outcome:
    """The function's log group: Lambda creates it on first run, so teardown removes it too."""
    name = deployment.names.function_log_group
    try:
        deployment.client("logs").delete_log_group(logGroupName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return Outcome(resource, "logs:log-group", name, "absent")
        raise
    return Outcome(resource, "logs:log-group", name, "deleted")
