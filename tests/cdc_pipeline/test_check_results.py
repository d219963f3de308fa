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
    from cdc_pipeline.workflows.hourly.delivery import measure_objects

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


def parquet(rows: list[dict[str, object]], schema: object = None) -> bytes:
    """A Parquet object of ``rows``, as Firehose's record format conversion writes one, in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    return buffer.getvalue().to_pybytes()


def lake_row(key: str, sequence: str, created: datetime | None) -> dict[str, object]:
    return json.loads(line(key, sequence, created)) | {"event_name": "INSERT", "price": "9.99"}


def test_a_parquet_objects_rows_are_read_for_freshness():
    from cdc_pipeline.workflows.hourly.delivery import measure_objects

    rows = [lake_row("a", "1", MADE), lake_row("b", "2", MADE - timedelta(hours=1)), lake_row("c", "3", None)]
    found = measure_objects([(MADE + timedelta(seconds=30), parquet(rows))], "orderid", allowed=120)
    assert found["delivered_rows"] == 3, found
    assert (found["late_changes"], found["changes_without_creation_time"]) == (1, 1), found
    assert found["slowest_change_seconds"] == 3630
    assert (found["unreadable_rows"], found["unreadable_objects"]) == (0, 0)


def test_a_parquet_timestamp_is_a_creation_time_and_a_missing_column_is_null():
    import pyarrow as pa

    from cdc_pipeline.workflows.hourly.delivery import measure_objects

    naive = MADE.replace(tzinfo=None)
    zoned = parquet(  # no sequence_number column: the changes are told apart by their key alone
        [{"orderid": "a", "approximate_creation_time": MADE}],
        pa.schema([("orderid", pa.string()), ("approximate_creation_time", pa.timestamp("ms", tz="UTC"))]),
    )
    hive = parquet(  # a zoneless nanosecond timestamp, as Hive's INT96 reads back: taken as UTC
        [{"orderid": "b", "sequence_number": "2", "approximate_creation_time": naive}],
        pa.schema(
            [
                ("orderid", pa.string()),
                ("sequence_number", pa.string()),
                ("approximate_creation_time", pa.timestamp("ns")),
            ]
        ),
    )
    keyless = parquet([{"sequence_number": "3", "event_time": "2026-11-30T03:15:00.000Z"}])
    found = measure_objects(
        [(MADE + timedelta(minutes=10), zoned), (MADE + timedelta(seconds=60), hive), (MADE, keyless)],
        "orderid",
        allowed=120,
    )
    assert found["delivered_rows"] == 3, found
    assert found["changes_without_creation_time"] == 1  # the object without the column
    assert found["late_changes"] == 1 and found["slowest_change_seconds"] == 600, found


def test_an_unreadable_parquet_object_is_counted_as_an_object_not_as_rows():
    from cdc_pipeline.workflows.hourly.delivery import measure_objects

    whole = parquet([lake_row("a", "1", MADE)])
    truncated = whole[:12] + whole[-8:]  # starts and ends like Parquet, and is not
    objects = [(MADE, truncated), (MADE, b"PAR1"), (MADE, (line("b", "2", MADE) + "\n{not json\n").encode())]
    found = measure_objects(objects, "orderid", allowed=120)
    assert found["unreadable_objects"] == 2, found
    assert (found["objects"], found["delivered_rows"], found["unreadable_rows"]) == (3, 2, 1)
    assert found["late_changes"] == 0 and found["changes_without_creation_time"] == 0


def test_an_hour_of_json_lines_and_parquet_measures_each_change_at_its_first_arrival_in_either_format():
    from cdc_pipeline.workflows.hourly.delivery import measure_objects

    before = (
        MADE + timedelta(seconds=30),
        (line("a", "1", MADE) + "\n" + line("b", "2", MADE) + "\n").encode(),
    )
    # After the switch: a redelivered copy of "a" (not late: its first arrival was on time), and "c" late.
    after = (MADE + timedelta(hours=1), parquet([lake_row("a", "1", MADE), lake_row("c", "3", MADE)]))
    found = measure_objects([after, before], "orderid", allowed=120)
    assert (found["objects"], found["delivered_rows"]) == (2, 4), found
    assert found["late_changes"] == 1 and found["slowest_change_seconds"] == 3600, found
