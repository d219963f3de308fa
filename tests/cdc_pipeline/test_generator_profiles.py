"""The user-profiles dataset: reproducible, realistic fields and shares, email problems, valid parameters."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from cdc_pipeline.generators import ChangeDriver, ChangeParams, GeneratorParamsError
from cdc_pipeline.generators.profiles import (
    CITIES,
    EMAIL_PATTERN,
    MISSING_OF_ISSUES,
    REPORT_AGE_BANDS,
    ProfileDataset,
    age_band,
    email_issue,
)
from cdc_pipeline.settings import REPO_ROOT
from tests.support import unique

END = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
DESERIALIZER = TypeDeserializer()
CITY = {c.name: c for c in CITIES}
FIELDS = {"id", "name", "email", "phone_number", "created_at", "age", "address", "updated_at"}


class RecordingClient:
    """Stands in for a DynamoDB client: keeps every BatchWriteItem request in order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((_, requests),) = RequestItems.items()
        self.requests.extend(requests)
        return {"UnprocessedItems": {}}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: DESERIALIZER.deserialize(value) for name, value in item.items()}


def drive(client: Any = None, *, share: float | None = None, **params: Any):
    client = client if client is not None else RecordingClient()
    params.setdefault("end_time", END)
    params.setdefault("spread_hours", 3)
    checked = ChangeParams.validate(count=params.pop("users"), count_param="users", **params)
    dataset = ProfileDataset() if share is None else ProfileDataset(invalid_email_share=share)
    return ChangeDriver(dataset, client, "profiles", checked).run(), client


def writes(client: RecordingClient) -> list[tuple[str, dict[str, Any]]]:
    """("put", item) or ("delete", {"id": ...}) per request, in the order written."""
    out = []
    for request in client.requests:
        if "PutRequest" in request:
            out.append(("put", plain(request["PutRequest"]["Item"])))
        else:
            out.append(("delete", plain(request["DeleteRequest"]["Key"])))
    return out


def test_a_seed_reproduces_the_same_writes_and_another_seed_does_not():
    _, first = drive(users=300, update_share=0.3, delete_share=0.05, seed=4)
    _, again = drive(users=300, update_share=0.3, delete_share=0.05, seed=4)
    _, other = drive(users=300, update_share=0.3, delete_share=0.05, seed=5)
    assert first.requests == again.requests
    assert first.requests != other.requests


def test_new_users_have_realistic_fields():
    summary, client = drive(users=1500, seed=1)
    users = [item for op, item in writes(client) if op == "put"]
    assert len(users) == 1500 == len({u["id"] for u in users})
    window_start, window_end = END.replace(minute=0) - timedelta(hours=3), END.replace(minute=0)
    for user in users:
        assert set(user) - {"email"} == FIELDS - {"email"} and set(user) <= FIELDS
        assert uuid.UUID(user["id"]).version == 4
        assert re.fullmatch(r"[A-Z][A-Za-z'-]+ [A-Z][A-Za-z'-]+", user["name"]), user["name"]
        # The sign-up is the insert: created_at is its event time, inside the spread window.
        assert user["created_at"] == user["updated_at"]
        assert window_start <= datetime.fromisoformat(user["created_at"]) < window_end
        assert 18 <= user["age"] <= 89
        address = user["address"]
        assert set(address) == {"street", "city", "state", "postcode", "country"}
        city = CITY[address["city"]]
        assert (address["state"], address["country"]) == (city.state, city.country)
        if city.country == "US":
            assert re.fullmatch(r"\d{5}", address["postcode"]) and address["postcode"][:3] in city.postcodes
        else:
            assert re.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d", address["postcode"])
            assert address["postcode"][0] in city.postcodes
        assert re.match(r"\d+ \S", address["street"]), address["street"]
        area = re.fullmatch(r"\+1-(\d{3})-([2-9]\d{2})-\d{4}", user["phone_number"])
        assert area and area.group(1) in city.area_codes, (user["phone_number"], city.name)


def test_cities_are_skewed_and_ages_are_adult_weighted():
    summary, _ = drive(users=2500, seed=2, spread_hours=0)
    users = list(summary.current.values())
    cities = Counter(u["address"]["city"] for u in users)
    total_weight = sum(c.weight for c in CITIES)
    for name in ("New York", "Los Angeles", "Chicago"):
        assert cities[name] / len(users) == pytest.approx(CITY[name].weight / total_weight, abs=0.02)
    ranked = [name for name, _ in cities.most_common()]
    assert ranked[0] == "New York"
    # A long tail: the three largest hold about a third, the smallest has a handful.
    assert 0.28 < sum(n for _, n in cities.most_common(3)) / len(users) < 0.40
    assert cities["Burlington"] < cities["New York"] / 20
    bands = Counter(age_band(u["age"]) for u in users)
    assert bands["25-34"] == max(bands.values())
    assert bands["25-34"] / len(users) == pytest.approx(0.27, abs=0.03)
    assert bands["65+"] / len(users) == pytest.approx(0.08, abs=0.02)
    assert "under 18" not in bands


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 1.0])
def test_the_share_of_missing_and_invalid_emails_is_the_one_asked_for(share):
    summary, _ = drive(users=2000, seed=3, share=share)
    issues = Counter(email_issue(u) for u in summary.current.values())
    # Tolerances of about three standard deviations of a binomial share at this size.
    assert (issues["missing"] + issues["invalid"]) / 2000 == pytest.approx(share, abs=0.03)
    if share:
        assert issues["missing"] / (issues["missing"] + issues["invalid"]) == pytest.approx(
            MISSING_OF_ISSUES, abs=0.1
        )
    # A missing email is an absent attribute, never an empty or null one.
    assert all("email" not in u or u["email"] for u in summary.current.values())


def test_invalid_emails_are_realistic_typos_and_valid_ones_match_the_pattern():
    summary, _ = drive(users=1500, seed=6, share=0.5)
    emails = [u["email"] for u in summary.current.values() if "email" in u]
    valid = [e for e in emails if re.match(EMAIL_PATTERN, e)]
    invalid = [e for e in emails if not re.match(EMAIL_PATTERN, e)]
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z]+\.[a-z]{2,}", e) for e in valid)
    kinds = Counter()
    for email in invalid:
        if "@" not in email:
            kinds["no_at"] += 1
        elif "@@" in email:
            kinds["double_at"] += 1
        elif " " in email:
            kinds["space"] += 1
        elif "," in email:
            kinds["comma"] += 1
        else:
            assert "." not in email.split("@")[1], email
            kinds["no_tld"] += 1
    assert set(kinds) == {"no_at", "double_at", "space", "comma", "no_tld"}
    assert min(kinds.values()) > len(invalid) / 10


def test_updates_change_one_realistic_thing_and_deletes_remove_users():
    summary, client = drive(users=1500, update_share=0.4, delete_share=0.05, seed=7, share=0.2)
    latest: dict[str, dict[str, Any]] = {}
    changed = Counter()
    birthdays = Counter()
    fixed_emails = 0
    for op, item in writes(client):
        if op == "delete":
            del latest[item["id"]]
            continue
        before = latest.get(item["id"])
        latest[item["id"]] = item
        if before is None:
            continue
        assert item["id"] == before["id"] and item["created_at"] == before["created_at"]
        assert item["updated_at"] >= before["updated_at"]
        diff = {f for f in FIELDS - {"updated_at"} if item.get(f) != before.get(f)}
        assert len(diff) <= 1, diff  # a new email may happen to equal the old one
        if not diff:
            continue
        (what,) = diff
        changed[what] += 1
        if what == "age":
            assert item["age"] == before["age"] + 1
            birthdays[item["id"]] += 1
        if what == "name":
            assert item["name"].split()[0] == before["name"].split()[0]
        if what == "email" and email_issue(before) is not None:
            assert email_issue(item) is None
            fixed_emails += 1
    assert set(changed) == {"address", "phone_number", "email", "age", "name"}
    assert max(birthdays.values()) == 1  # a birthday once per run
    assert fixed_emails > 0
    assert changed["address"] > changed["name"]
    assert latest == summary.current
    assert summary.deleted > 0 and len(summary.current) == 1500 - summary.deleted


def test_hourly_totals_count_users_and_email_issues_per_sign_up_hour():
    summary, _ = drive(users=900, update_share=0.2, delete_share=0.05, seed=8, share=0.15)
    expected: dict[str, Counter] = {}
    for user in summary.current.values():
        hour = user["created_at"][:13] + ":00:00.000Z"
        bucket = expected.setdefault(hour, Counter(users=0, missing_emails=0, invalid_emails=0))
        bucket["users"] += 1
        issue = email_issue(user)
        if issue:
            bucket[f"{issue}_emails"] += 1
    assert summary.hourly == {hour: dict(c) for hour, c in sorted(expected.items())}
    assert len(summary.hourly) == 3
    assert sum(h["users"] for h in summary.hourly.values()) == len(summary.current)


def test_age_bands_match_the_report_sql():
    assert [age_band(a) for a in (17, 18, 24, 25, 34, 35, 44, 45, 54, 55, 64, 65, 99)] == [
        "under 18",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-54",
        "45-54",
        "55-64",
        "55-64",
        "65+",
        "65+",
    ]
    sql = (REPO_ROOT / "include/sql/report/user_profiles/report_users_by_age_band.sql").read_text()
    for (low, _), (high, label) in zip(REPORT_AGE_BANDS, REPORT_AGE_BANDS[1:], strict=False):
        assert f"WHEN age < {high} THEN '{_label(low)}'" in sql
        assert label in sql


def _label(low: int) -> str:
    return dict(REPORT_AGE_BANDS)[low]


def test_the_sql_tests_emails_with_the_generators_pattern():
    files = list((REPO_ROOT / "include/sql").glob("*/user_profiles/*.sql"))
    using = [p for p in files if "regexp_like(email" in p.read_text()]
    assert len(using) >= 3
    for path in using:
        patterns = re.findall(r"regexp_like\(email, '([^']*)'\)", path.read_text())
        assert patterns and set(patterns) == {EMAIL_PATTERN}, path


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True, float("nan"), None])
def test_invalid_email_share_is_validated(bad):
    if bad is not None:
        with pytest.raises(GeneratorParamsError, match=r"invalid_email_share: must be a number in \[0, 1\]"):
            ProfileDataset(invalid_email_share=bad)
        with pytest.raises(GeneratorParamsError) as caught:
            ProfileDataset().generate(RecordingClient(), "t", users=5, invalid_email_share=bad)
        assert caught.value.param == "invalid_email_share"
    else:
        # None through generate keeps the dataset's own share (the DAG sends every param it has).
        summary = ProfileDataset(invalid_email_share=1.0).generate(
            RecordingClient(), "t", users=50, seed=1, invalid_email_share=None
        )
        assert all(email_issue(u) for u in summary.current.values())


def test_the_count_is_named_users():
    with pytest.raises(GeneratorParamsError, match="users/duration_seconds"):
        ProfileDataset().generate(RecordingClient(), "t", seed=1)
    with pytest.raises(GeneratorParamsError, match="users: must be a whole number"):
        ProfileDataset().generate(RecordingClient(), "t", users=0)


def test_against_dynamodb_the_summary_is_the_table(aws):
    ddb = aws("dynamodb")
    table = unique("profiles")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    summary = ProfileDataset().generate(
        ddb, table, users=300, update_share=0.3, delete_share=0.1, seed=21, invalid_email_share=0.2
    )
    scanned = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            assert raw["address"].keys() == {"M"}  # the address is a DynamoDB map
            assert "NULL" not in raw.get("email", {})
            item = plain(raw)
            scanned[item["id"]] = item
    assert scanned == summary.current
    assert ProfileDataset().hourly_totals(scanned.values()) == summary.hourly
    assert any("email" not in item for item in scanned.values())
