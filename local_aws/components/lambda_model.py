"""What the Lambda runtime knows of a function and of one invocation: the model, apart from the wire.

`FunctionSpec` is what an invocation needs from moto's `LambdaFunction`, copied under the world
lock so that the handler runs with the lock set down; `Invocation` is what a synchronous
invocation returns to the caller (moto's Invoke, or another component through
`LambdaRuntime.invoke`). Lambda's quotas on payloads, packages and environment variables live
here too.

LIMITATIONS: Python runtimes only (python3.x), all run by the interpreter that runs local_aws (or a
read-only mirror of it the sandbox user can reach), whatever minor version the function names: a
python3.14 function runs on this server's Python 3.11 here, so code that needs a newer language
feature or standard library fails here and not on AWS; any other runtime or PackageType Image is
refused (`runtime_problem`; Invoke answers InvalidRuntimeException, HTTP 502).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field

from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend, make_function_arn

from local_aws.components import lambda_managed_layers

# Lambda's documented payload quotas: 6 MB for a synchronous request (its error names 6291456
# bytes) and 1 MB for an asynchronous one; a response may be 6291556 bytes (100 more, as
# Lambda's own error message says).
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
RESPONSE_PAYLOAD_LIMIT = 6 * 1024 * 1024 + 100
# Lambda's quota on a deployment package's unzipped size (250 MB).
UNZIPPED_CODE_LIMIT = 262_144_000
# Lambda's quota on a function's environment variables, all together: 4 KB, 4096 bytes of the
# JSON text of the Variables map (`measured_environment`).
ENVIRONMENT_LIMIT = 4096


class FunctionNotFound(LookupError):
    """No such function (or version/alias) in that account and region."""


class UnsupportedRuntime(RuntimeError):
    """The function's runtime cannot run here (only Python runtimes can)."""


@dataclass
class Invocation:
    """The outcome of one synchronous invocation, as Invoke returns it.

    ``log_result`` is what AWS puts in ``X-Amz-Log-Result``: base64 of the last 4 KB of the log
    (START/END/REPORT lines included); `log_tail` decodes it.
    """

    status_code: int
    payload: bytes
    function_error: str | None = None
    log_result: str = ""
    executed_version: str = "$LATEST"
    request_id: str = ""

    @property
    def log_tail(self) -> str:
        return base64.b64decode(self.log_result).decode("utf-8", "replace")


@dataclass
class FunctionSpec:
    """What an invocation needs from moto's model, copied under the world lock."""

    account_id: str
    region: str
    function_name: str
    version: str
    invoked_arn: str
    handler: str
    runtime: str
    package_type: str
    timeout: float
    memory_size: int
    role: str
    environment: dict[str, str]
    code_sha256: str
    code_bytes: bytes = field(repr=False)
    # The function's layers in order: (version ARN, zip bytes); b"" for one since deleted and for
    # AWS's managed layer (`lambda_managed_layers`).
    layers: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.function_name, self.version)

    @property
    def fingerprint(self) -> str:
        """Changes whenever code or configuration does: a warm worker serves one fingerprint.
        The function's identity is part of it: two functions with the same code and settings
        never share an environment (its variables, role credentials and /tmp are the function's)."""
        config = json.dumps(
            [
                list(self.identity),
                self.role,
                self.handler,
                self.runtime,
                self.timeout,
                self.memory_size,
                sorted(self.environment.items()),
                [arn for arn, _ in self.layers],
            ]
        )
        return hashlib.sha256((self.code_sha256 + config).encode()).hexdigest()

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


def spec_of(fn: LambdaFunction, qualifier: str | None) -> FunctionSpec:
    unqualified = make_function_arn(fn.region, fn.account_id, fn.function_name)
    version = str(fn.version)
    return FunctionSpec(
        account_id=fn.account_id,
        region=fn.region,
        function_name=fn.function_name,
        version=version,
        invoked_arn=f"{unqualified}:{qualifier}" if qualifier else unqualified,
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        package_type=fn.package_type or "Zip",
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        role=fn.role or "",
        environment=dict(fn.environment_vars or {}),
        code_sha256=getattr(fn, "code_sha_256", "") or "",
        code_bytes=getattr(fn, "code_bytes", b"") or b"",
        layers=_layers_of(fn),
    )


def _layers_of(fn: LambdaFunction) -> tuple[tuple[str, bytes], ...]:
    """The function's layer versions and their zips (read from moto's layer storage; none for
    AWS's managed layer, whose packages are the server's: `lambda_managed_layers`)."""
    backend = get_backend(fn.account_id, fn.region)
    layers = []
    for entry in getattr(fn, "layers", None) or []:
        arn = entry.get("Arn", "") if isinstance(entry, dict) else str(entry)
        version = None if lambda_managed_layers.parse(arn) else backend.layers_versions_by_arn(arn)
        layers.append((arn, getattr(version, "code_bytes", b"") or b""))
    return tuple(layers)


def parse_function_ref(name_or_arn: str, qualifier: str | None) -> tuple[str | None, str | None, str | None]:
    """Account, region and qualifier named by a function ARN (None for a plain name)."""
    if not name_or_arn.startswith("arn:"):
        if ":" in name_or_arn:
            return None, None, name_or_arn.split(":", 1)[1]
        return None, None, qualifier
    parts = name_or_arn.split(":")
    arn_qualifier = parts[7] if len(parts) > 7 else None
    return parts[4], parts[3], arn_qualifier or qualifier


def runtime_problem(spec: FunctionSpec) -> str | None:
    """Why this function cannot run here (see LIMITATIONS), or None."""
    if spec.package_type == "Image":
        return "local_aws cannot run container image functions (PackageType Image); use a Python zip."
    if not spec.runtime.startswith("python3"):
        return (
            f"The runtime parameter of {spec.runtime or 'None'} is not supported by local_aws: "
            "only Python runtimes (python3.x) can be invoked."
        )
    return None


def unzipped_size(code: bytes) -> int:
    """What a zip declares it unpacks to; zipfile never inflates a member past its declared size."""
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return 0


def measured_environment(variables: dict[str, str]) -> str:
    """The string Lambda measures against `ENVIRONMENT_LIMIT`: the Variables map as JSON without
    white space, names and values with their quotes, colons, commas, braces and escapes, non-ASCII
    characters as themselves (their UTF-8 bytes count, not a ``\\uXXXX`` escape)."""
    return json.dumps(variables, ensure_ascii=False, separators=(",", ":"))


def environment_bytes(measured: str) -> int:
    """The size in bytes of a `measured_environment` string (UTF-8)."""
    return len(measured.encode("utf-8", "surrogatepass"))
