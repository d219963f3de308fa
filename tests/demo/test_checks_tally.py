"""The demo's tally of quality checks: a failed hourly run still counts its checks, and names the failed ones.

The hourly run of an hour whose checks fail ends failed (``all_checks_passed`` is upstream_failed),
so ``run_dag`` raises; the tally must still count every check that judged the data, from the
``check_result`` XComs, and name each failed one with its numbers.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

HOUR = datetime(2026, 11, 30, 3, tzinfo=UTC)

STATES = {
    "check_provisioned": "success",  # the gate, not a quality check: not counted
    "resolve_names": "success",
    "check_null_keys": "success",
    "check_price_quantity_range": "failed",
    "check_freshness": "failed",
    "check_rows_present": "upstream_failed",  # never ran: neither passed nor failed
    "check_error_records": "failed",  # failed before judging (no result pushed)
    "publish_report": "success",
    "all_checks_passed": "upstream_failed",
}
RESULTS = {
    "check_null_keys": {"check": "check_null_keys", "passed": True, "numbers": {"orderid_null_check": 0}},
    "check_price_quantity_range": {
        "check": "check_price_quantity_range",
        "passed": False,
        "numbers": {"prices_out_of_range": 1, "min_price": "-5.00"},
    },
    "check_freshness": {"check": "check_freshness", "passed": False, "numbers": {"late_changes": 3}},
}


class FakeHourly:
    """A DAG whose test() returns a failed run with the task states above."""

    def test(self, **_: object) -> SimpleNamespace:
        instances = [SimpleNamespace(task_id=t, state=s) for t, s in STATES.items()]
        return SimpleNamespace(
            state="failed", dag_id="sales_orders_hourly", run_id="r", get_task_instances=lambda: instances
        )


def test_a_failed_hourly_run_counts_and_names_its_failed_checks(tmp_path: Path, monkeypatch):
    from cdc_cli import demo
    from cdc_pipeline.definitions import get_pipeline

    def fake_xcom(run, task_id, key="return_value"):
        if key == "check_result":
            return RESULTS.get(task_id)
        return {"summary": {"totals": {}}} if task_id == "publish_report" else None

    monkeypatch.setattr(demo, "xcom", fake_xcom)
    paths = demo.DemoPaths(build=tmp_path / "b", reports=tmp_path / "r", run_id="r1")
    paths.runs_log.parent.mkdir(parents=True)
    paths.runs_log.write_text(
        "2026-11-30T04:01:00 [error    ] Task failed with exception\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "botocore.exceptions.ClientError: AccessDenied listing the error prefix\n"
    )
    tally, console = demo.Tally(), demo.Console(io.StringIO())
    definition = get_pipeline("sales_orders")

    demo.hourly_step({"sales_orders_hourly": FakeHourly()}, definition, HOUR, tally, paths, console)

    assert (tally.passed, tally.failed) == (1, 3)
    named = dict(tally.failed_checks)
    assert named["2026-11-30 03:00 check_price_quantity_range"] == "prices_out_of_range=1 min_price=-5.00"
    assert named["2026-11-30 03:00 check_freshness"] == "late_changes=3"
    assert "2026-11-30 03:00 check_error_records" in named
    assert len(tally.failures) == 1, "the failed run is still reported as a failure"

    out = io.StringIO()
    demo.print_summary(out, "sales_orders", tally, 0, paths)
    assert "1 passed, 3 failed" in out.getvalue()
