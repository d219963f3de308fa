"""What the check tests share: a bad hour written straight into the lake, and the alerts and report it causes.

Each dataset's test writes one hour whose rows break every check of that dataset at once, runs the
hourly DAG for it once, and asserts per check: the task failed, its SNS alert names the check, the
hour and the numbers, and the report's check section shows it failed with those numbers. The
whole-table reconciliation is not an hourly check: ``assert_reconciliation_failed`` runs the dataset's
reconcile DAG after the bad hour and judges it by its task and its alert.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pyarrow.parquet as pq

from cdc_pipeline.workflows.hourly.delivery import is_parquet
from tests.airflow_harness import (
    client,
    lake_bucket,
    object_rows,
    report_files,
    run_dag,
    task_states,
    xcom,
)
from tests.support import wait_until

#: A partition file name the table does not read (Hive and Athena skip names starting with _ or .),
#: though it lies in the hour's partition: rows the delivery sensor saw that never reach a query.
HIDDEN_OBJECT = "_not_read_by_the_table.json"


def bad_hour(hours_ago: int) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sequence(n: int, width: int = 40) -> str:
    return str(1000 + n).rjust(width, "0")


def metadata(n: int, moment: datetime, width: int = 40) -> dict[str, Any]:
    """The change metadata the transform writes (a change made at ``moment``)."""
    return {
        # Unique per hour: the changes view dedupes by event_id across the whole table, so two tests'
        # hours sharing ids would dedupe each other's rows, depending on which test ran first.
        "event_id": f"bad-event-{moment:%Y%m%d%H}-{n}",
        "event_name": "INSERT",
        "sequence_number": sequence(n, width),
        "event_time": stamp(moment),
        "approximate_creation_time": stamp(moment),
        "processed_at": stamp(moment),
        "is_deleted": False,
    }


def sales_order(n: int, moment: datetime, **changes: Any) -> dict[str, Any]:
    """An order change in the transform's row shape (key ``bad-order-<n>``), made at ``moment``."""
    row = {
        **metadata(n, moment),
        "orderid": f"bad-order-{n}",
        "product_name": "USB-C Cable",
        "category": "Accessories",
        "quantity": 1,
        "price": 19.99,
        "customer_id": "c-1",
        "customer_name": "Test Customer",
        "status": "placed",
        "order_time": stamp(moment),
        "updated_at": stamp(moment),
    }
    row.update(changes)
    return row


def partition_prefix(dataset: str, hour: datetime) -> str:
    return f"{dataset}/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"


def lake_objects(pipeline: dict[str, Any], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every object under ``prefix`` in the lake bucket with its change rows (JSON lines or Parquet)."""
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = object_rows(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return found


def put_reordered_copy(pipeline: dict[str, Any], key: str, suffix: str) -> int:
    """A copy of the object ``key`` with its rows in reverse order, in the object's own format
    (as a redelivered batch would be); its row count."""
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if is_parquet(body):
        table = pq.read_table(io.BytesIO(body))
        out = io.BytesIO()
        pq.write_table(table.take(list(range(table.num_rows - 1, -1, -1))), out)
        copy, count = out.getvalue(), table.num_rows
    else:
        rows = object_rows(body)
        copy, count = "".join(json.dumps(row) + "\n" for row in reversed(rows)).encode(), len(rows)
    s3.put_object(Bucket=bucket, Key=key + suffix, Body=copy)
    return count


def put_rows(pipeline: dict[str, Any], key: str, rows: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    client(pipeline, "s3").put_object(Bucket=lake_bucket(pipeline), Key=key, Body=body)


def _arrow_value(kind: Any, value: Any) -> Any:
    """A test row's value as the Parquet column of ``kind`` holds it (as Firehose's conversion would)."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_decimal(kind):
        return Decimal(str(value))
    if pa.types.is_integer(kind):
        return int(value)
    if pa.types.is_struct(kind) and isinstance(value, dict):
        return {field.name: _arrow_value(field.type, value.get(field.name)) for field in kind}
    return value


def put_change_rows(pipeline: dict[str, Any], dataset: str, key: str, rows: list[dict[str, Any]]) -> None:
    """Change rows into the lake in the change log's format: Parquet with the change table's schema (as
    Firehose converts), or JSON lines where the table is not Parquet (a JSON change log)."""
    import pyarrow as pa

    from local_aws.components.firehose_conversion import hive_type

    glue = client(pipeline, "glue")
    try:
        table = glue.get_table(DatabaseName=pipeline["prefix"].replace("-", "_"), Name=dataset)["Table"]
    except glue.exceptions.EntityNotFoundException:
        table = None  # a JSON change log before its first crawl
    descriptor = (table or {}).get("StorageDescriptor") or {}
    if "parquet" not in ((descriptor.get("SerdeInfo") or {}).get("SerializationLibrary") or "").lower():
        put_rows(pipeline, key, rows)
        return
    schema = pa.schema([(column["Name"], hive_type(column["Type"])) for column in descriptor["Columns"]])
    converted = [
        {field.name: _arrow_value(field.type, row.get(field.name)) for field in schema} for row in rows
    ]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(converted, schema=schema), out, compression="snappy")
    client(pipeline, "s3").put_object(Bucket=lake_bucket(pipeline), Key=key, Body=out.getvalue())


def put_error_records(pipeline: dict[str, Any], dataset: str, hour: datetime, records: list[dict]) -> None:
    """Error records as Firehose files them: under the arrival hour (here ``hour``'s own prefix)."""
    key = (
        f"errors/{dataset}/processing-failed/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
        "failed-records.json"
    )
    put_rows(pipeline, key, records)


def error_record(arrival: datetime, raw: bytes) -> dict[str, Any]:
    """A Firehose processing-failed record (arrivalTimestamp in milliseconds)."""
    return {
        "attemptsMade": 1,
        "arrivalTimestamp": int(arrival.timestamp() * 1000),
        "errorCode": "Lambda.FunctionError",
        "errorMessage": "The Lambda function was successfully invoked but it returned an error result.",
        "rawData": base64.b64encode(raw).decode(),
    }


def subscribe_inbox(pipeline: dict[str, Any]) -> str:
    """An SQS queue subscribed to the pipeline's alerts topic."""
    sns, sqs = client(pipeline, "sns"), client(pipeline, "sqs")
    topic_arn = sns.create_topic(Name=f"{pipeline['prefix']}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{pipeline['prefix']}-checks-inbox")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])
    return queue_url


def alerts_for(
    pipeline: dict[str, Any], queue_url: str, checks: list[str], hour: datetime, states: dict[str, str]
) -> dict[str, str]:
    """Check -> the message of its SNS alert for ``hour``; waits for the alert of every failed check.

    A check that did not fail has no alert to wait for: ``assert_checks_failed`` reports it.
    """
    sqs = client(pipeline, "sqs")
    found: dict[str, str] = {}
    deadline = time.monotonic() + 120
    awaited = {check for check in checks if states.get(check) == "failed"}
    while awaited - set(found):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            body = json.loads(message["Body"])
            for check in checks:
                if f"{check} failed for {hour:%Y-%m-%d %H}:00" in body.get("Subject", ""):
                    found[check] = body["Message"]
        assert time.monotonic() < deadline, f"alerts missing for {awaited - set(found)}; got {found}"
    return found


def alert_naming(pipeline: dict[str, Any], queue_url: str, check: str, hour: datetime | None = None) -> str:
    """The message of the first alert whose subject names ``check`` (and ``hour``, if given), waited for
    generously."""
    sqs = client(pipeline, "sqs")
    wanted = f"{check} failed" + (f" for {hour:%Y-%m-%d %H}:00" if hour is not None else "")
    deadline = time.monotonic() + 120
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            body = json.loads(message["Body"])
            if wanted in body.get("Subject", ""):
                return str(body["Message"])
        assert time.monotonic() < deadline, f"no SNS alert naming {wanted!r}"


def assert_reconciliation_failed(
    pipeline: dict[str, Any], dataset: str, queue_url: str, numbers: list[str]
) -> None:
    """The dataset's reconcile DAG, run now, fails its check; its alert names ``numbers``."""
    from cdc_pipeline.workflows.reconciliation import CHECK_ID

    run = run_dag(pipeline["dags"][f"{dataset}_reconcile"])
    states = task_states(run)
    assert states[CHECK_ID] == "failed", states
    message = alert_naming(pipeline, queue_url, CHECK_ID)
    missing = [number for number in numbers if number not in message]
    assert not missing, (missing, message)


def run_bad_hour(pipeline: dict[str, Any], dataset: str, hour: datetime) -> tuple[Any, dict[str, str]]:
    run = run_dag(pipeline["dags"][f"{dataset}_hourly"], logical_date=hour + timedelta(hours=1))
    return run, task_states(run)


def assert_checks_failed(
    failing: dict[str, list[str]],
    hour: datetime,
    states: dict[str, str],
    alerts: dict[str, str],
    report: dict[str, Any],
    page: str,
    elsewhere: Mapping[str, Callable[[], None]] | None = None,
) -> None:
    """Every check in ``failing`` failed with its numbers; the assertion names each one that did not.

    Each check is judged on its own, so one run tells about all of them (tests/mutate_checks.py
    relies on this: the failure names the checks whose condition no longer fails). ``elsewhere``:
    checks of another DAG (the reconcile DAG's), each an assertion run and named the same way.
    """
    judged: dict[str, Callable[[], None]] = {
        check: partial(assert_check_failed, check, numbers, hour, states, alerts, report, page)
        for check, numbers in failing.items()
    }
    problems = []
    for check, judge in {**judged, **(elsewhere or {})}.items():
        try:
            judge()
        except (AssertionError, KeyError, StopIteration) as error:
            problems.append(f"NOT FAILED AS EXPECTED: {check}: {error!r}"[:600])
    assert not problems, "\n".join(problems)


def assert_check_failed(
    check: str,
    numbers: list[str],
    hour: datetime,
    states: dict[str, str],
    alerts: dict[str, str],
    report: dict[str, Any],
    page: str,
) -> None:
    """The check's task failed; its alert and the report's check section name it with ``numbers``."""
    assert states[check] == "failed", (check, states)
    message = alerts.get(check, "no alert")
    assert f"Check or task: {check}" in message, message
    assert f"Hour: {hour:%Y-%m-%d %H}:00 UTC" in message, message
    for number in numbers:
        assert number in message, (check, number, message)
    result = next(r for r in report["checks"]["results"] if r["check"] == check)
    assert result["passed"] is False, result
    shown = " ".join(f"{name}={value}" for name, value in result["numbers"].items())
    for number in numbers:
        assert number in shown, (check, number, shown)
    assert check in report["checks"]["failed"], report["checks"]
    row = next(line for line in page.splitlines() if f"<td>{check}</td>" in line)
    assert "<strong>FAILED</strong>" in row, row
    for number in numbers:
        name, value = number.split("=", 1)
        assert f"<code>{name}={value}</code>" in row, (number, row)


def published(pipeline: dict[str, Any], dataset: str, hour: datetime, run: Any) -> tuple[dict, str]:
    """The hour's summary.json and index.html (the report is published although checks failed)."""
    assert xcom(run, "publish_report"), "publish_report did not publish"
    files = report_files(pipeline, dataset, hour)
    return json.loads(files["summary.json"]), files["index.html"].decode()


def assert_run_and_report_failed(run: Any, states: dict[str, str], report: dict[str, Any], page: str) -> None:
    """The run ended failed although its report was published, and the report says it failed."""
    assert str(run.state) == "failed", states
    assert states["all_checks_passed"] == "upstream_failed", states
    assert report["checks"]["passed"] is False, report["checks"]
    assert "CHECKS FAILED" in page.split("</title>")[0], page[:300]


def start_of_current_hour() -> datetime:
    """The current hour, once at least 10 s of it have passed: a run's error window starts a delivery
    wait after its hour, so a record sent from now on arrives inside it."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if datetime.now(UTC) - hour < timedelta(seconds=10):
        time.sleep(10)
    return hour


def assert_conversion_error_fails_the_hour(pipeline: dict[str, Any], dataset: str, hour: datetime) -> None:
    """Once one record lands under ``format-conversion-failed``, the hour's run (not over yet: its
    clock and delivery sensors are marked done) fails ``check_error_records`` with exactly it."""
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    failed_prefix = f"errors/{dataset}/format-conversion-failed/"
    wait_until(
        lambda: s3.list_objects_v2(Bucket=bucket, Prefix=failed_prefix).get("Contents"),
        timeout=120,
        interval=0.5,
        what="the record that could not be written as Parquet, under its error prefix",
    )
    run = pipeline["dags"][f"{dataset}_hourly"].test(
        logical_date=hour + timedelta(hours=1), mark_success_pattern="wait_for_hour_to_end|wait_for_delivery"
    )
    states = task_states(run)
    assert states["check_error_records"] == "failed", states
    numbers = xcom(run, "check_error_records", key="check_result")["numbers"]
    assert (numbers["format_conversion_failed"], numbers["of_this_hour"]) == (1, 1), numbers
