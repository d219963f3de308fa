"""User profiles (seed 000) through the real DAGs: the reports say what was generated, the lake what DynamoDB holds."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from cdc_pipeline.generators.profiles import age_band, email_issue
from tests.airflow_harness import (
    athena_rows,
    client,
    lake_items_as_of,
    report_files,
    run_dag,
    task_states,
    xcom,
)

pytestmark = pytest.mark.slow

USERS = 400


#: The pipeline this module's `pipeline` fixture provisions (tests/dags/conftest.py).
DATASET = "user_profiles"


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def scan_users(pipeline) -> dict[str, dict[str, Any]]:
    """The table as plain Python items (numbers as Decimals, the address as a dict)."""
    deserializer = TypeDeserializer()
    users = {}
    table = f"{pipeline['prefix']}-user-profiles"
    for page in client(pipeline, "dynamodb").get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = {name: deserializer.deserialize(value) for name, value in raw.items()}
            users[item["id"]] = item
    return users


def lake_users(pipeline, at: datetime) -> dict[str, dict[str, Any]]:
    """The users as they stood at ``at``, from the change rows in the lake."""
    return lake_items_as_of(pipeline, "user_profiles", "id", at)


def signups(users: dict[str, dict[str, Any]], hour: datetime) -> dict[str, int]:
    """The report's totals over ``users``: those who signed up in ``hour`` and their email issues."""
    signed_up = [row for row in users.values() if row["created_at"][:13] == f"{hour:%Y-%m-%dT%H}"]
    issues = Counter(email_issue(row) for row in signed_up)
    return {"users": len(signed_up), "missing_emails": issues["missing"], "invalid_emails": issues["invalid"]}


def test_reports_count_what_was_generated_and_the_lake_equals_the_table(pipeline):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    generated = run_dag(
        pipeline["dags"]["user_profiles_generate"],
        conf={
            "users": USERS,
            "update_share": 0.25,
            "delete_share": 0.05,
            "seed": 11,
            "spread_hours": 2,
            "end_time": end.isoformat(),
            "invalid_email_share": 0.1,
        },
    )
    assert str(generated.state) == "success", task_states(generated)
    summary = xcom(generated, "generate")
    assert summary["counts"]["inserted"] == USERS
    hours = [end - timedelta(hours=2), end - timedelta(hours=1)]
    expected_hourly = {key[:13]: value for key, value in summary["hourly"].items()}
    assert set(expected_hourly) == {f"{h:%Y-%m-%dT%H}" for h in hours}

    table = scan_users(pipeline)
    assert len(table) == summary["counts"]["current"]
    # The generator made email problems, so the reports below have something to count.
    issues = Counter(email_issue(item) for item in table.values())
    assert issues["missing"] > 0 and issues["invalid"] > 0, issues

    for hour in hours:
        run = run_dag(pipeline["dags"]["user_profiles_hourly"], logical_date=hour + timedelta(hours=1))
        states = task_states(run)
        assert str(run.state) == "success", (hour, states)
        for check in ("check_age_range", "check_email_issue_share", "check_user_ids"):
            assert states[check] == "success", (check, states)
        files = report_files(pipeline, "user_profiles", hour)
        assert {"totals.csv", "users_by_city.csv", "users_by_age_band.csv", "email_issues.csv"} <= set(files)

        # This hour's sign-ups as at the hour's end, counted from the lake's change rows; those rows,
        # taken to now, give the generator's totals for the hour (which count the users as they are
        # now: a delete's time is when it was made, today, after the simulated hours).
        totals = {name: int(value) for name, value in json.loads(files["summary.json"])["totals"].items()}
        assert totals == signups(lake_users(pipeline, hour + timedelta(hours=1)), hour), hour
        now = datetime.now(UTC) + timedelta(hours=1)
        assert signups(lake_users(pipeline, now), hour) == expected_hourly[f"{hour:%Y-%m-%dT%H}"], hour

    # The population reports describe every user as at the last hour's end (the generator's deletes
    # are made now, after it): compare with the lake's change rows taken to that moment, and those,
    # taken to now, with the table.
    assert lake_users(pipeline, datetime.now(UTC) + timedelta(hours=1)).keys() == table.keys()
    then = lake_users(pipeline, hours[-1] + timedelta(hours=1))
    files = report_files(pipeline, "user_profiles", hours[-1])
    by_city = {
        (r["city"], r["state"], r["country"]): int(r["users"]) for r in csv_rows(files["users_by_city.csv"])
    }
    assert by_city == Counter(
        (u["address"]["city"], u["address"]["state"], u["address"]["country"]) for u in then.values()
    )
    # Largest city first: the skew the generator promises is what the report shows.
    assert list(by_city.values()) == sorted(by_city.values(), reverse=True)
    by_age = {r["age_band"]: int(r["users"]) for r in csv_rows(files["users_by_age_band.csv"])}
    assert by_age == Counter(age_band(int(u["age"])) for u in then.values())
    (emails,) = csv_rows(files["email_issues.csv"])
    issues = Counter(email_issue(u) for u in then.values())
    assert int(emails["users"]) == len(then)
    assert int(emails["missing_emails"]) == issues["missing"]
    assert int(emails["invalid_emails"]) == issues["invalid"]
    share = (issues["missing"] + issues["invalid"]) / len(then)
    assert float(emails["email_issue_share"]) == pytest.approx(share, abs=5e-5)

    # The lake's current state is the table, attribute by attribute.
    rows = athena_rows(
        pipeline["endpoint"],
        "SELECT id, name, email, phone_number, created_at, updated_at, age, address.city AS city, "
        "address.street AS street, address.postcode AS postcode FROM user_profiles_current",
        workgroup=pipeline["prefix"],
        database=pipeline["prefix"],
    )
    lake = {
        row["id"]: (
            row["name"],
            row["email"],
            row["phone_number"],
            row["created_at"],
            row["updated_at"],
            int(row["age"]),
            row["city"],
            row["street"],
            row["postcode"],
        )
        for row in rows
    }
    assert lake == {
        key: (
            u["name"],
            u.get("email"),
            u["phone_number"],
            u["created_at"],
            u["updated_at"],
            int(u["age"]),
            u["address"]["city"],
            u["address"]["street"],
            u["address"]["postcode"],
        )
        for key, u in table.items()
    }
