"""An hourly check reads its hour, whatever the lake's age: its bytes scanned do not grow with other hours.

Every hourly Athena check of every pipeline (the ``check_*`` SQL and TOML files the hourly DAG runs,
rendered with the same macros; the reconcile DAG compares the whole table by design and is not one
of them) runs for one hour of a small lake, then again after a dozen other hours, each larger than
the checked one, have been added around it. DataScannedInBytes must be the same, and a whole number
of times the hour's own objects (a check may read the hour twice: the view and the raw table), and
each check's answer the same. This fails if the changes view deduplicates across the whole table:
Athena cannot push the hour's filter below that window, so every check of the view reads the lake.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
import pytest

from cdc_pipeline.definitions import get_pipeline
from cdc_pipeline.local_connections import connection_env
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, hour_partition, sql_params
from cdc_pipeline.workflows.hourly.checks import check_files, column_check
from tests.cdc_pipeline.test_view_columns import athena
from tests.support import unique

HOUR = datetime(2026, 11, 30, 4, tzinfo=UTC)
#: The other hours, before and after the checked one (a late hour's run comes after later hours exist).
OTHER_HOURS = [HOUR + timedelta(hours=offset) for offset in range(-9, 4) if offset != 0]
KEYS = ("year", "month", "day", "hour")
METADATA = [
    ("event_id", "string"),
    ("event_name", "string"),
    ("sequence_number", "string"),
    ("event_time", "string"),
    ("approximate_creation_time", "string"),
    ("processed_at", "string"),
    ("is_deleted", "boolean"),
]
#: user_events declares no columns (its consumer writes the producer's fields): these are the ones its checks read.
EVENT_COLUMNS = [("user_id", "string"), ("event_type", "string"), ("amount", "double")]


def row(dataset: str, hour: datetime, n: int) -> dict[str, Any]:
    """One change of ``dataset`` made in ``hour``, in the shape its transform or consumer writes."""
    moment = (hour + timedelta(minutes=n % 60)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    key = f"{hour:%d%H}-{n}"
    change = {
        "event_id": f"event-{key}",
        "event_name": "INSERT",
        "sequence_number": f"{hour:%Y%m%d%H}{n:06d}".rjust(40, "0"),
        "event_time": moment,
        "approximate_creation_time": moment,
        "processed_at": moment,
        "is_deleted": False,
    }
    if dataset == "sales_orders":
        return {
            **change,
            "orderid": f"order-{key}",
            "quantity": 1 + n % 5,
            "price": 10 + n,
            "status": "placed",
        }
    if dataset == "user_profiles":
        email = f"user{n}@example.com"
        return {**change, "id": str(uuid.UUID(int=hour.hour * 10**6 + n)), "email": email, "age": 20 + n % 50}
    return {**change, "user_id": "u-1", "event_type": "purchase", "amount": 5.5 + n}


def lake_columns(dataset: str) -> list[tuple[str, str]]:
    declared = list(get_pipeline(dataset).columns) or EVENT_COLUMNS
    return METADATA + [(name, kind) for name, kind in declared if name not in dict(METADATA)]


class DeliveryInspection:
    """The ``ti`` of the render: ``inspect_delivery``'s numbers for check_rows_present."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def xcom_pull(self, task_ids: str) -> dict[str, int]:
        assert task_ids == "inspect_delivery", task_ids
        return {"delivered_rows": self.rows, "objects": 2}


def json_change_log(
    aws: Callable[..., Any], dataset: str, endpoint_url: str, monkeypatch: pytest.MonkeyPatch, name: str
) -> dict[str, Any]:
    """An empty JSON change log of ``dataset`` as the crawler catalogs it, in a database and bucket of its
    own, and the settings (with the Airflow connections in the environment) the DAG's macros render with."""
    database, bucket = unique(name).replace("-", "_"), unique(f"{name}-lake")
    aws("s3").create_bucket(Bucket=bucket)
    aws("glue").create_database(DatabaseInput={"Name": database})
    storage = {
        "Columns": [{"Name": column, "Type": kind} for column, kind in lake_columns(dataset)],
        "Location": f"s3://{bucket}/{dataset}/",
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
    }
    aws("glue").create_table(
        DatabaseName=database,
        TableInput={
            "Name": dataset,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": key, "Type": "string"} for key in KEYS],
            "StorageDescriptor": storage,
        },
    )
    for variable, value in connection_env(endpoint_url, "us-east-1", "primary").items():
        monkeypatch.setenv(variable, value)
    settings = Settings.from_env({"CDC_LAKE_GLUE_DATABASE": database, "CDC_LAKE_REGION": "us-east-1"})
    return {
        "dataset": dataset,
        "database": database,
        "bucket": bucket,
        "storage": storage,
        "settings": settings,
    }


@pytest.fixture(params=["sales_orders", "user_events", "user_profiles"])
def lake(
    request, aws: Callable[..., Any], endpoint_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A crawled-looking lake of one dataset, its checked hour delivered twice (a redelivered object)."""
    lake = json_change_log(aws, request.param, endpoint_url, monkeypatch, "hourcost")
    dataset = lake["dataset"]
    rows = [row(dataset, HOUR, n) for n in range(30)]
    lake["hour_bytes"] = deliver(aws, lake, HOUR, rows, copies=2)
    lake["hour_rows"] = 2 * len(rows)
    return lake


def deliver(
    aws: Callable[..., Any], lake: dict[str, Any], hour: datetime, rows: list[dict], copies: int = 1
) -> int:
    """Write ``rows`` into the hour's partition (``copies`` identical objects) and register it; its bytes."""
    prefix = f"{lake['dataset']}/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
    body = "".join(json.dumps(change) + "\n" for change in rows).encode()
    for copy in range(copies):
        aws("s3").put_object(Bucket=lake["bucket"], Key=f"{prefix}part-{copy}.json", Body=body)
    aws("glue").create_partition(
        DatabaseName=lake["database"],
        TableName=lake["dataset"],
        PartitionInput={
            "Values": [f"{hour:%Y}", f"{hour:%m}", f"{hour:%d}", f"{hour:%H}"],
            "StorageDescriptor": {**lake["storage"], "Location": f"s3://{lake['bucket']}/{prefix}"},
        },
    )
    return copies * len(body)


def rendered_checks(lake: dict[str, Any]) -> dict[str, str]:
    """Each hourly Athena check of the dataset, rendered for ``HOUR`` as the hourly DAG renders it."""
    definition, settings = get_pipeline(lake["dataset"]), lake["settings"]
    context = {
        "lake": sql_params(definition, settings),
        "hour_partition": hour_partition,
        "data_interval_start": HOUR,
        "ti": DeliveryInspection(lake["hour_rows"]),
    }
    checks = {}
    for path in check_files(definition):
        text = column_check(path, definition, settings).sql if path.suffix == ".toml" else path.read_text()
        checks[path.stem] = jinja2.Template(text).render(**context)
    return checks


def create_changes_view(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    template = jinja2.Template((SQL_ROOT / "ddl" / "create_view_changes.sql").read_text())
    sql = template.render(lake=sql_params(get_pipeline(lake["dataset"]), lake["settings"]))
    assert athena(aws, lake, sql)["Status"]["State"] == "SUCCEEDED"


def measure(
    aws: Callable[..., Any], lake: dict[str, Any], checks: dict[str, str]
) -> dict[str, tuple[int, Any]]:
    """Each check's (DataScannedInBytes, answer)."""
    found = {}
    for name, sql in checks.items():
        execution = athena(aws, lake, sql)
        assert execution["Status"]["State"] == "SUCCEEDED", (name, execution["Status"])
        found[name] = (execution["Statistics"]["DataScannedInBytes"], execution["rows"])
    return found


def test_an_hourly_check_reads_the_same_bytes_whatever_the_lakes_age(aws, lake) -> None:
    create_changes_view(aws, lake)
    checks = rendered_checks(lake)
    assert {"check_duplicate_events", "check_rows_present", "check_null_keys"} <= set(checks), checks
    young = measure(aws, lake, checks)
    for name, (scanned, _) in young.items():
        assert scanned > 0 and scanned % lake["hour_bytes"] == 0, (name, scanned, lake["hour_bytes"])

    for number, hour in enumerate(OTHER_HOURS):
        deliver(aws, lake, hour, [row(lake["dataset"], hour, n) for n in range(40 + number)])
    old = measure(aws, lake, checks)
    grown = {name: (young[name][0], old[name][0]) for name in checks if old[name][0] != young[name][0]}
    assert not grown, f"bytes scanned (1 hour in the lake, {1 + len(OTHER_HOURS)} hours): {grown}"
    assert old == young  # ... and each check's answer is the hour's alone
