"""Alerts: an SNS message for every failed check or task, naming what failed, the hour and the numbers.

Used as the ``on_failure_callback`` of every task in the pipeline's DAGs. A quality check's failure
text (from the common-sql check operators) carries the row the check returned, so the message
holds the numbers, e.g. ``prices_out_of_range=1 ... min_price=-5.00``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from cdc_pipeline.report_links import report_line

log = logging.getLogger(__name__)

# SNS limits: subjects are ASCII without newlines, at most 100 characters.
_MAX_SUBJECT = 100


def describe_failure(context: dict[str, Any]) -> tuple[str, str]:
    """The subject and body of the alert for a failed task instance."""
    ti = context["ti"]
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    hour = start.strftime("%Y-%m-%d %H:00 UTC") if start is not None else "no data interval"
    error = context.get("exception")
    error_text = str(error).strip() if error is not None else "no error text"
    check = task_id.split(".")[-1]
    if start is not None and end is not None and end - start > timedelta(hours=1):
        # A run of more than an hour (the reconcile DAG's six) is no hour: name its interval.
        subject = f"cdc-lake: {check} failed for {start:%Y-%m-%d %H:00} to {end:%Y-%m-%d %H:00} UTC"
        when = f"Interval: {start:%Y-%m-%d %H:00 UTC} to {end:%Y-%m-%d %H:00 UTC}"
    else:
        subject = f"cdc-lake: {check} failed for {hour}"
        when = f"Hour: {hour}" + (f" to {end.strftime('%H:00 UTC')}" if end is not None else "")
    subject = subject.encode("ascii", "replace").decode()[:_MAX_SUBJECT]
    lines = [
        f"Check or task: {check}",
        f"Pipeline run: {dag_id} / {getattr(ti, 'run_id', '?')}",
        when,
        f"Try: {getattr(ti, 'try_number', '?')}",
        *filter(None, [report_line(dag_id, getattr(ti, "run_id", "?"))]),
        "",
        "What it found:",
        error_text,
    ]
    return subject, "\n".join(lines)


def topic_arn(session: Any, topic_name: str, region: str) -> str:
    """The ARN of the alerts topic, from the account the connection's credentials belong to."""
    account = session.client("sts").get_caller_identity()["Account"]
    partition = (
        session.get_partition_for_region(region) if hasattr(session, "get_partition_for_region") else "aws"
    )
    return f"arn:{partition}:sns:{region}:{account}:{topic_name}"


def make_failure_alert(topic_name: str, aws_conn_id: str = "aws_default"):
    """An ``on_failure_callback`` that publishes the failure to the named SNS topic.

    The callback never raises: a broken alert path is logged, and the task's own failure stands.
    """

    def alert_on_failure(context: dict[str, Any]) -> None:
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        subject, message = describe_failure(context)
        try:
            hook = SnsHook(aws_conn_id=aws_conn_id)
            arn = topic_arn(hook.get_session(), topic_name, hook.conn_region_name or "us-east-1")
            hook.publish_to_target(target_arn=arn, message=message, subject=subject)
            log.info("alert sent to %s: %s", arn, subject)
        except Exception:
            log.exception("could not send the alert %r", subject)

    return alert_on_failure
