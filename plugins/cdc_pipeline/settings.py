"""Every name, region and buffering value of the pipeline, in one place, overridable by environment.

`Settings.from_env()` reads the variables below (no network call, ever: the AWS account id is only
known once a client asks STS, so provisioning calls `Settings.with_account_id()` first; setting
`CDC_LAKE_ACCOUNT_ID` skips that lookup). Invalid values raise `SettingsError` naming the variable.

| Variable | Default | Meaning |
| --- | --- | --- |
| `CDC_LAKE_PREFIX` | `cdc-lake` | prefix of every resource name (lower-case letters, digits, `-`; at most 20 characters) |
| `CDC_LAKE_REGION` | `AWS_DEFAULT_REGION`, else `AWS_REGION`, else `us-east-1` | the region of every resource |
| `CDC_LAKE_ACCOUNT_ID` | asked from STS at provisioning | the 12-digit account id used in bucket names and ARNs |
| `CDC_LAKE_LAKE_BUCKET` | `<prefix>-<account id>-<region>-lake` | the data lake bucket (bucket names are global on AWS) |
| `CDC_LAKE_ATHENA_RESULTS_BUCKET` | `<prefix>-<account id>-<region>-athena` | the bucket for Athena query results |
| `CDC_LAKE_GLUE_DATABASE` | prefix with `-` replaced by `_` | the Glue database the crawler writes |
| `CDC_LAKE_ATHENA_WORKGROUP` | `<prefix>` | the Athena workgroup (enforces the results location) |
| `CDC_LAKE_ALERTS_TOPIC` | `<prefix>-alerts` | the SNS topic that failed checks publish to |
| `CDC_LAKE_AWS_CONN_ID` | `aws_default` | the Airflow connection the DAGs build their clients from |
| `CDC_LAKE_ATHENA_CONN_ID` | `athena_default` | the Airflow Athena connection of the SQL checks (its credentials come from the AWS connection) |
| `CDC_LAKE_FIREHOSE_BUFFER_INTERVAL` | `60` | Firehose BufferingHints.IntervalInSeconds (0-900) |
| `CDC_LAKE_FIREHOSE_BUFFER_SIZE` | `64` | Firehose BufferingHints.SizeInMBs (1-128) |
| `CDC_LAKE_CHANGE_LOG_FORMAT` | `parquet` | how the change log is stored: `parquet` (with the schema of a Glue table the provisioning creates from the definition's `[columns]`: Firehose converts each record of a `cdc` pipeline, which needs a buffer size of at least 64 MB; a `direct` pipeline's consumer writes Parquet itself) or `json` (JSON lines, catalogued by the crawler as it finds them) |
| `CDC_LAKE_PANDAS_LAYER_ARN` | none | the version ARN of AWS's managed layer "AWS SDK for pandas" for python3.14 in the region (`arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python314:<version>`, listed in that project's documentation); the `direct` topology's consumer writes Parquet with its pyarrow, so provisioning a `direct` pipeline on a Parquet change log needs it |
| `CDC_LAKE_ENFORCE_AWS_MINIMUMS` | `false` when `AWS_ENDPOINT_URL` is a loopback address, else `true` | refuse values AWS rejects with dynamic partitioning (interval < 60 s, size < 64 MB) |
| `CDC_LAKE_KINESIS_SHARDS` | `1` | shard count of each Kinesis stream |
| `CDC_LAKE_PIPE_BATCH_SIZE` | `100` | the Pipe's DynamoDB-stream BatchSize (1-500: a Pipe with a Kinesis target takes at most 500 records a batch) |
| `CDC_LAKE_ESM_BATCH_SIZE` | `100` | the consumer's Kinesis event source mapping BatchSize (1-10000) |
| `CDC_LAKE_PIPE_BATCH_WINDOW` | `1` | MaximumBatchingWindowInSeconds of the Pipe and of the event source mapping (0-300) |
| `CDC_LAKE_TRANSFORM_TIMEOUT` | `60` | the transform Lambda's Timeout in seconds (1-900) |
| `CDC_LAKE_TRANSFORM_MEMORY` | `256` | the transform Lambda's MemorySize in MB (128-10240) |
| `CDC_LAKE_LAMBDA_DIR` | `<repo>/lambda` | where the Lambda function folders are |
| `CDC_LAKE_ROLE_PROPAGATION_TIMEOUT` | `120` | how long to retry calls that name a just-created IAM role |
| `CDC_LAKE_HOURLY_START` | `2026-11-01T00:00:00Z` | the first hour the hourly DAGs run for (catchup runs every hour since; hours that ended before provisioning with nothing delivered are skipped; set it near your deployment date) |
| `CDC_LAKE_POLL_INTERVAL` | `5` | seconds between status polls of Athena queries and crawls (decimals allowed) |
| `CDC_LAKE_DELIVERY_GRACE` | `60` | seconds an hour may still receive late deliveries after its end plus one buffering interval |

Why the AWS minimums are switchable: with dynamic partitioning (which the lake layout needs) AWS
refuses a buffer smaller than 64 MB and zero buffering, so real deliveries wait up to a minute; the
embedded AWS honours any interval, which keeps local runs and tests fast.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_PREFIX = "cdc-lake"
DEFAULT_REGION = "us-east-1"
DEFAULT_HOURLY_START = datetime(2026, 11, 1, tzinfo=UTC)

# AWS's limits for the values we pass through (API reference of each service).
FIREHOSE_INTERVAL_RANGE = (0, 900)
FIREHOSE_SIZE_RANGE = (1, 128)
# With dynamic partitioning on, AWS has no zero buffering and a 64 MB minimum buffer size.
FIREHOSE_DYNAMIC_PARTITIONING_MIN_INTERVAL = 60
FIREHOSE_DYNAMIC_PARTITIONING_MIN_SIZE = 64
#: The change log's storage formats; record format conversion needs a buffer of at least 64 MB (AWS).
CHANGE_LOG_FORMATS = ("json", "parquet")
FIREHOSE_CONVERSION_MIN_SIZE = 64
# Lambda's LayerVersionArn pattern (API reference, LayerVersionContentOutput / Layers).
_LAYER_VERSION_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+$"
)
# EventBridge Pipes: the largest batch a Kinesis stream target takes; Lambda: a Kinesis source's.
PIPE_KINESIS_TARGET_MAX_BATCH = 500
ESM_KINESIS_MAX_BATCH = 10000

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$|^[a-z]$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GLUE_DATABASE_RE = re.compile(r"^[a-z0-9_]{1,255}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting has a value AWS (or this project) would refuse; the message names the variable."""


def _env(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True)
class Settings:
    """The pipeline's settings. Build with `Settings.from_env()`; every field is validated."""

    prefix: str = field(default=DEFAULT_PREFIX, metadata=_env("CDC_LAKE_PREFIX"))
    region: str = field(default=DEFAULT_REGION, metadata=_env("CDC_LAKE_REGION"))
    account_id: str | None = field(default=None, metadata=_env("CDC_LAKE_ACCOUNT_ID"))
    lake_bucket_override: str | None = field(default=None, metadata=_env("CDC_LAKE_LAKE_BUCKET"))
    athena_results_bucket_override: str | None = field(
        default=None, metadata=_env("CDC_LAKE_ATHENA_RESULTS_BUCKET")
    )
    glue_database: str = field(default="cdc_lake", metadata=_env("CDC_LAKE_GLUE_DATABASE"))
    athena_workgroup: str = field(default=DEFAULT_PREFIX, metadata=_env("CDC_LAKE_ATHENA_WORKGROUP"))
    alerts_topic: str = field(default=f"{DEFAULT_PREFIX}-alerts", metadata=_env("CDC_LAKE_ALERTS_TOPIC"))
    aws_conn_id: str = field(default="aws_default", metadata=_env("CDC_LAKE_AWS_CONN_ID"))
    athena_conn_id: str = field(default="athena_default", metadata=_env("CDC_LAKE_ATHENA_CONN_ID"))
    firehose_buffer_interval_seconds: int = field(
        default=60, metadata=_env("CDC_LAKE_FIREHOSE_BUFFER_INTERVAL")
    )
    firehose_buffer_size_mb: int = field(default=64, metadata=_env("CDC_LAKE_FIREHOSE_BUFFER_SIZE"))
    change_log_format: str = field(default="parquet", metadata=_env("CDC_LAKE_CHANGE_LOG_FORMAT"))
    pandas_layer_arn: str | None = field(default=None, metadata=_env("CDC_LAKE_PANDAS_LAYER_ARN"))
    enforce_aws_minimums: bool = field(default=True, metadata=_env("CDC_LAKE_ENFORCE_AWS_MINIMUMS"))
    kinesis_shard_count: int = field(default=1, metadata=_env("CDC_LAKE_KINESIS_SHARDS"))
    pipe_batch_size: int = field(default=100, metadata=_env("CDC_LAKE_PIPE_BATCH_SIZE"))
    pipe_batching_window_seconds: int = field(default=1, metadata=_env("CDC_LAKE_PIPE_BATCH_WINDOW"))
    esm_batch_size: int = field(default=100, metadata=_env("CDC_LAKE_ESM_BATCH_SIZE"))
    transform_timeout_seconds: int = field(default=60, metadata=_env("CDC_LAKE_TRANSFORM_TIMEOUT"))
    transform_memory_mb: int = field(default=256, metadata=_env("CDC_LAKE_TRANSFORM_MEMORY"))
    lambda_dir: Path = field(default=REPO_ROOT / "lambda", metadata=_env("CDC_LAKE_LAMBDA_DIR"))
    role_propagation_timeout_seconds: int = field(
        default=120, metadata=_env("CDC_LAKE_ROLE_PROPAGATION_TIMEOUT")
    )
    poll_interval_seconds: float = field(default=5.0, metadata=_env("CDC_LAKE_POLL_INTERVAL"))
    hourly_start: datetime = field(default=DEFAULT_HOURLY_START, metadata=_env("CDC_LAKE_HOURLY_START"))
    delivery_grace_seconds: int = field(default=60, metadata=_env("CDC_LAKE_DELIVERY_GRACE"))

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default `os.environ`); unset variables take the documented defaults."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        prefix = _get(env, "CDC_LAKE_PREFIX") or DEFAULT_PREFIX
        values["prefix"] = prefix
        values["region"] = (
            _get(env, "CDC_LAKE_REGION")
            or _get(env, "AWS_DEFAULT_REGION")
            or _get(env, "AWS_REGION")
            or DEFAULT_REGION
        )
        values["glue_database"] = _get(env, "CDC_LAKE_GLUE_DATABASE") or prefix.replace("-", "_")
        values["athena_workgroup"] = _get(env, "CDC_LAKE_ATHENA_WORKGROUP") or prefix
        values["alerts_topic"] = _get(env, "CDC_LAKE_ALERTS_TOPIC") or f"{prefix}-alerts"
        for name in (
            "account_id",
            "lake_bucket_override",
            "athena_results_bucket_override",
            "aws_conn_id",
            "athena_conn_id",
            "pandas_layer_arn",
        ):
            raw = _get(env, _var(name))
            if raw:
                values[name] = raw.strip()
        for name in (
            "firehose_buffer_interval_seconds",
            "firehose_buffer_size_mb",
            "kinesis_shard_count",
            "pipe_batch_size",
            "pipe_batching_window_seconds",
            "esm_batch_size",
            "transform_timeout_seconds",
            "transform_memory_mb",
            "role_propagation_timeout_seconds",
            "delivery_grace_seconds",
        ):
            raw = _get(env, _var(name))
            if raw:
                values[name] = _parse_int(_var(name), raw)
        raw = _get(env, "CDC_LAKE_HOURLY_START")
        if raw:
            values["hourly_start"] = _parse_hour("CDC_LAKE_HOURLY_START", raw)
        raw = _get(env, "CDC_LAKE_POLL_INTERVAL")
        if raw:
            try:
                values["poll_interval_seconds"] = float(raw)
            except ValueError:
                raise SettingsError(f"CDC_LAKE_POLL_INTERVAL={raw!r} is not a number of seconds") from None
        raw = _get(env, "CDC_LAKE_CHANGE_LOG_FORMAT")
        if raw:
            values["change_log_format"] = raw.strip().lower()
        raw = _get(env, "CDC_LAKE_ENFORCE_AWS_MINIMUMS")
        values["enforce_aws_minimums"] = (
            _parse_bool("CDC_LAKE_ENFORCE_AWS_MINIMUMS", raw)
            if raw
            else not _is_loopback(_get(env, "AWS_ENDPOINT_URL"))
        )
        raw = _get(env, "CDC_LAKE_LAMBDA_DIR")
        if raw:
            values["lambda_dir"] = Path(raw)
        return cls(**values)  # type: ignore[arg-type]

    def with_account_id(self, account_id: str) -> Settings:
        """The same settings with the account id known (bucket names and ARNs need it)."""
        return dataclasses.replace(self, account_id=account_id)

    def replace(self, **changes: object) -> Settings:
        """A validated copy with `changes` applied (field names, not variable names)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    # -- derived values -----------------------------------------------------------------------

    @property
    def parquet_change_log(self) -> bool:
        """Whether Firehose converts the CDC change log to Parquet (``CDC_LAKE_CHANGE_LOG_FORMAT``)."""
        return self.change_log_format == "parquet"

    @property
    def partition(self) -> str:
        """The ARN partition of the region (`aws`, `aws-cn`, `aws-us-gov`)."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def lake_bucket(self) -> str:
        """The data lake bucket: the override, or `<prefix>-<account id>-<region>-lake`."""
        return self.lake_bucket_override or self._derived_bucket("lake", "CDC_LAKE_LAKE_BUCKET")

    @property
    def athena_results_bucket(self) -> str:
        """The Athena results bucket: the override, or `<prefix>-<account id>-<region>-athena`."""
        return self.athena_results_bucket_override or self._derived_bucket(
            "athena", "CDC_LAKE_ATHENA_RESULTS_BUCKET"
        )

    @property
    def athena_output_location(self) -> str:
        """Where the workgroup puts query results."""
        return f"s3://{self.athena_results_bucket}/athena/"

    def require_account_id(self) -> str:
        """The account id, or an error that says how to provide it."""
        if not self.account_id:
            raise SettingsError(
                "the AWS account id is not known yet: set CDC_LAKE_ACCOUNT_ID or call "
                "Settings.with_account_id() (provisioning asks STS for it)"
            )
        return self.account_id

    def _derived_bucket(self, suffix: str, variable: str) -> str:
        if not self.account_id:
            raise SettingsError(
                f"{variable} is not set and cannot be derived without the account id: set it, or set "
                "CDC_LAKE_ACCOUNT_ID, or call Settings.with_account_id()"
            )
        name = f"{self.prefix}-{self.account_id}-{self.region}-{suffix}"
        _check_bucket(variable, name)
        return name

    # -- validation ---------------------------------------------------------------------------

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise SettingsError(
                f"CDC_LAKE_PREFIX={self.prefix!r}: use 1-20 lower-case letters, digits and '-', starting "
                "with a letter and not ending with '-' (it starts bucket and role names)"
            )
        if not _REGION_RE.match(self.region):
            raise SettingsError(f"CDC_LAKE_REGION={self.region!r} is not an AWS region name like us-east-1")
        if self.account_id is not None and not _ACCOUNT_RE.match(self.account_id):
            raise SettingsError(f"CDC_LAKE_ACCOUNT_ID={self.account_id!r} must be 12 digits")
        if self.lake_bucket_override is not None:
            _check_bucket("CDC_LAKE_LAKE_BUCKET", self.lake_bucket_override)
        if self.athena_results_bucket_override is not None:
            _check_bucket("CDC_LAKE_ATHENA_RESULTS_BUCKET", self.athena_results_bucket_override)
        if self.account_id:
            # Derived names are checked as soon as they can be computed.
            _ = self.lake_bucket, self.athena_results_bucket
        if not _GLUE_DATABASE_RE.match(self.glue_database):
            raise SettingsError(
                f"CDC_LAKE_GLUE_DATABASE={self.glue_database!r}: use lower-case letters, digits and '_' "
                "(Athena cannot query other database names without quoting)"
            )
        for name in ("athena_workgroup", "alerts_topic", "aws_conn_id", "athena_conn_id"):
            value = getattr(self, name)
            if not _NAME_RE.match(value):
                raise SettingsError(f"{_var(name)}={value!r}: use letters, digits, '.', '_' and '-'")
        self._check_range("firehose_buffer_interval_seconds", *FIREHOSE_INTERVAL_RANGE)
        self._check_range("firehose_buffer_size_mb", *FIREHOSE_SIZE_RANGE)
        self._check_range("kinesis_shard_count", 1, 500)
        # The limits differ by hop: a Pipe takes at most what its target takes (Kinesis: 500), an
        # event source mapping reads up to 10,000 records of a Kinesis stream at once.
        self._check_range("pipe_batch_size", 1, PIPE_KINESIS_TARGET_MAX_BATCH)
        self._check_range("esm_batch_size", 1, ESM_KINESIS_MAX_BATCH)
        self._check_range("pipe_batching_window_seconds", 0, 300)
        self._check_range("transform_timeout_seconds", 1, 900)
        self._check_range("transform_memory_mb", 128, 10240)
        self._check_range("role_propagation_timeout_seconds", 0, 3600)
        self._check_range("delivery_grace_seconds", 0, 3600)
        if not 0.05 <= self.poll_interval_seconds <= 300:
            raise SettingsError(
                f"CDC_LAKE_POLL_INTERVAL={self.poll_interval_seconds!r} must be from 0.05 to 300 seconds"
            )
        if self.pandas_layer_arn is not None and not _LAYER_VERSION_ARN_RE.match(self.pandas_layer_arn):
            raise SettingsError(
                f"CDC_LAKE_PANDAS_LAYER_ARN={self.pandas_layer_arn!r} is not a layer version ARN like "
                "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python314:6"
            )
        if self.change_log_format not in CHANGE_LOG_FORMATS:
            raise SettingsError(
                f"CDC_LAKE_CHANGE_LOG_FORMAT={self.change_log_format!r} must be one of "
                + ", ".join(CHANGE_LOG_FORMATS)
            )
        if self.enforce_aws_minimums:
            # The lake's year/month/day/hour layout needs dynamic partitioning, where AWS refuses these.
            if self.firehose_buffer_interval_seconds < FIREHOSE_DYNAMIC_PARTITIONING_MIN_INTERVAL:
                raise SettingsError(
                    f"CDC_LAKE_FIREHOSE_BUFFER_INTERVAL={self.firehose_buffer_interval_seconds}: with "
                    f"dynamic partitioning AWS needs at least {FIREHOSE_DYNAMIC_PARTITIONING_MIN_INTERVAL} "
                    "seconds (set CDC_LAKE_ENFORCE_AWS_MINIMUMS=false only for the embedded AWS)"
                )
            if self.firehose_buffer_size_mb < FIREHOSE_DYNAMIC_PARTITIONING_MIN_SIZE:
                raise SettingsError(
                    f"CDC_LAKE_FIREHOSE_BUFFER_SIZE={self.firehose_buffer_size_mb}: with dynamic "
                    f"partitioning AWS needs at least {FIREHOSE_DYNAMIC_PARTITIONING_MIN_SIZE} MB "
                    "(set CDC_LAKE_ENFORCE_AWS_MINIMUMS=false only for the embedded AWS)"
                )
        if self.parquet_change_log and self.firehose_buffer_size_mb < FIREHOSE_CONVERSION_MIN_SIZE:
            # Not switchable: the embedded Firehose refuses it as AWS does.
            raise SettingsError(
                f"CDC_LAKE_FIREHOSE_BUFFER_SIZE={self.firehose_buffer_size_mb}: with "
                f"CDC_LAKE_CHANGE_LOG_FORMAT=parquet Firehose needs at least {FIREHOSE_CONVERSION_MIN_SIZE} MB"
            )

    def _check_range(self, name: str, low: int, high: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SettingsError(f"{_var(name)}={value!r} must be an integer from {low} to {high}")


def _var(field_name: str) -> str:
    """The environment variable of a field (for error messages)."""
    for f in dataclasses.fields(Settings):
        if f.name == field_name:
            return f.metadata["env"]
    raise KeyError(field_name)


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _parse_int(variable: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{variable}={raw!r} is not a whole number") from None


def _parse_hour(variable: str, raw: str) -> datetime:
    """An ISO-8601 time (no offset means UTC), which must fall on a whole hour."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"{variable}={raw!r} is not an ISO-8601 time like 2026-11-01T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if (moment.minute, moment.second, moment.microsecond) != (0, 0, 0):
        raise SettingsError(f"{variable}={raw!r} must be a whole hour (hourly windows start on the hour)")
    return moment


def _parse_bool(variable: str, raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{variable}={raw!r} must be true or false")


def _is_loopback(endpoint_url: str) -> bool:
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_bucket(variable: str, name: str) -> None:
    """S3's bucket naming rules (general purpose buckets), so a bad name fails before any call."""
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append("it must be 3-63 characters long")
    if not _BUCKET_RE.match(name):
        problems.append(
            "use lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
        )
    if ".." in name:
        problems.append("no two adjacent periods")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        problems.append("it must not look like an IP address")
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        problems.append("AWS reserves the prefixes xn--, sthree- and amzn-s3-demo-")
    if name.endswith(("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")):
        problems.append("AWS reserves that suffix")
    if problems:
        raise SettingsError(f"{variable}={name!r} is not a valid S3 bucket name: " + "; ".join(problems))
