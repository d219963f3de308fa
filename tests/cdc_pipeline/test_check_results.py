"""Unit tests of the check machinery: numbers parsed from a check's detail, freshness per change, the report section."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cdc_pipeline import report_checks
from cdc_pipeline.workflows.hourly.check_results import CheckFailed, conclude, numbers_of

MADE = datetime(2026, 11, 30, 3, 15, tzinfo=UTC)


def line(key: str, sequence: str, created: datetime | None) -> str:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.000Z") if created else None
    return json.dumps({"orderid": key, "sequence_number": sequence, "approximate_creation_time": stamp})


def test_numbers_are_parsed_from_a_checks_detail():
    detail = "prices_out_of_range=1 quantities_out_of_range=0 min_price=-5.00 example=none"
    assert numbers_of(detail) == {
        "prices_out_of_range": 1,
        "quantities_out_of_range": 0,
        "min_price": "-5.00",
        "example": "none",
    }


def test_a_redelivered_copy_is_not_a_late_change_but_a_late_first_arrival_is():
    from cdc_pipeline.workflows.hourly.checks import measure_objects

    on_time = (MADE + timedelta(seconds=30), (line("a", "1", MADE) + "\n").encode())
    copy_later = (MADE + timedelta(hours=2), (line("a", "1", MADE) + "\n").encode())
    late = (MADE + timedelta(hours=1), (line("b", "2", MADE) + "\n" + line("c", "3", None) + "\n").encode())
    found = measure_objects([copy_later, on_time, late], "orderid", allowed=120)
    assert found["delivered_rows"] == 4
    assert found["late_changes"] == 1, found
    assert found["changes_without_creation_time"] == 1
    assert found["slowest_change_seconds"] == 3600


class FakeTi:
    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def test_a_failed_check_pushes_its_result_before_it_raises():
    ti = FakeTi()
    context = {"ti": ti, "data_interval_start": MADE.replace(minute=0)}
    try:
        conclude(context, "check_x", "Is x fine? Fails when not.", False, {"bad_rows": 2})
    except CheckFailed as error:
        message = str(error)
    else:
        raise AssertionError("a failed check must raise")
    assert ti.pushed["check_result"] == {
        "check": "check_x",
        "passed": False,
        "hour": "2026-11-30T03:00:00+00:00",
        "question": "Is x fine? Fails when not.",
        "numbers": {"bad_rows": 2},
    }
    assert "check_x FAILED for hour 2026-11-30T03:00:00+00:00: bad_rows=2" in message


def test_the_report_section_is_on_top_and_a_failed_hour_says_so():
    results = [
        {"check": "check_a", "passed": True, "question": "A?", "numbers": {"n": 0}},
        {"check": "check_b", "passed": False, "question": "B?", "numbers": {"bad": 3}},
        {"check": "check_c", "passed": None, "question": "", "numbers": {}},
    ]
    page = (
        '<html><head><title>r</title></head><body><h1>r</h1><section class="report"></section></body></html>'
    )
    shown = report_checks.insert_section(page, results)
    assert "<title>CHECKS FAILED: r</title>" in shown
    assert shown.index('id="checks"') < shown.index('class="report"')
    assert "<code>bad=3</code>" in shown and "not run" in shown
    assert report_checks.summary(results)["failed"] == ["check_b"]
    assert report_checks.summary(results[:1])["passed"] is True


def test_a_column_check_naming_an_unknown_bound_names_the_file_and_the_bound(tmp_path):
    import pytest

    from cdc_pipeline.definitions import get_pipeline
    from cdc_pipeline.settings import Settings
    from cdc_pipeline.workflows.hourly.checks import CheckDeclarationError, column_check

    path = tmp_path / "check_typo.toml"
    path.write_text('# Is x fine? Fails when not.\n[columns.age]\nmax = { leq_to = "$max_agee" }\n')
    with pytest.raises(
        CheckDeclarationError, match=r"check_typo.toml: \$max_agee is not a check_params value"
    ):
        column_check(path, get_pipeline("user_profiles"), Settings.from_env())
