"""Waiting for the hour: the pipeline exists, the hour is over, and Firehose has delivered it.

``check_provisioned`` comes first: before the provision DAG has run there is no lake bucket and no
crawler, and the run would otherwise fail in ``wait_for_delivery`` (NoSuchBucket) and send an alert.
It is a short-circuit task: when the pipeline is not provisioned it logs what to trigger and every
later task of the run is skipped, whatever its trigger rule, so the run ends green and no alert fires.

It also skips a *scheduled* run of an hour that ended before the pipeline was provisioned (the
crawler's creation time) when nothing was delivered for it and no generate run wrote into it: the
catch-up runs the scheduler queues from ``CDC_LAKE_HOURLY_START`` would otherwise each wait for a
partition nothing can fill and fail with an alert. Every other run goes on: a backfill or a manual
run (the operator asked for that hour), an hour with objects in its partition, and an hour a generate
run wrote into (its ``generated`` Asset event names the hour; its data may still be in Firehose's
buffers, and the follower DAG re-runs that hour under the scheduled run's id).

The sensors after it are deferrable: no worker slot is held while they wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeysUnchangedSensor
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import assets
from cdc_pipeline.workflows.common import hour_prefix

#: The gate's task id (hourly, reconcile and maintenance DAGs): a gate, not a quality check.
CHECK_PROVISIONED = "check_provisioned"

#: Error codes that mean "this resource does not exist" for S3's HeadBucket and Glue's GetCrawler.
_MISSING = {"404", "NoSuchBucket", "NotFound", "EntityNotFoundException"}


def missing_resources(definition: PipelineDefinition, settings: Settings, s3: Any, glue: Any) -> list[str]:
    """The resources a run needs that do not exist yet (the lake bucket, the crawler)."""
    from botocore.exceptions import ClientError

    names = definition.resources(settings)
    probes = (
        (f"lake bucket {names.lake_bucket}", lambda: s3.head_bucket(Bucket=names.lake_bucket)),
        (f"crawler {names.crawler}", lambda: glue.get_crawler(Name=names.crawler)),
    )
    missing = []
    for label, probe in probes:
        try:
            probe()
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) not in _MISSING:
                raise
            missing.append(label)
    return missing


def predates_pipeline(
    run_type: str,
    interval: tuple[datetime, datetime],
    provisioned_at: datetime,
    generated_hours: Iterable[tuple[datetime, datetime]],
    delivered: bool,
) -> bool:
    """Whether a run is a catch-up of an hour before the pipeline existed, with nothing to check.

    Only a scheduled run of an hour that ended before provisioning, with no object in its partition,
    that no generate run wrote into (see the module docstring).
    """
    start, end = interval
    return (
        run_type == "scheduled"
        and end <= provisioned_at
        and not delivered
        and all((start, end) != hour for hour in generated_hours)
    )


def hours_generated(events: Iterable[Any]) -> list[tuple[datetime, datetime]]:
    """The ``[start, end]`` hours named by ``generated`` Asset events (their ``extra['hours']``)."""
    return [
        (datetime.fromisoformat(start), datetime.fromisoformat(end))
        for event in events
        for start, end in (getattr(event, "extra", None) or {}).get("hours", [])
    ]


def probe_provisioning(
    definition: PipelineDefinition, settings: Settings
) -> tuple[Settings, Any, Any, list[str]]:
    """Inside a task: the settings in the connection's account and region, its S3 and Glue clients, and
    the resources that do not exist yet (``missing_resources``)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.sts import StsHook

    from cdc_pipeline.provision.context import settings_in_region_of

    sts = StsHook(aws_conn_id=settings.aws_conn_id)
    resolved = settings_in_region_of(settings, sts.get_conn()).with_account_id(sts.get_account_number())
    s3, glue = (
        AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type=kind).get_conn() for kind in ("s3", "glue")
    )
    return resolved, s3, glue, missing_resources(definition, resolved, s3, glue)


def skip_unless_provisioned(definition: PipelineDefinition, settings: Settings) -> Any:
    """``check_provisioned``: skip the whole run, naming the DAG to trigger, until the pipeline exists."""
    from airflow.sdk import task

    provision_dag = f"{definition.name}_provision"

    generated = assets.generated(definition)

    @task.short_circuit(task_id=CHECK_PROVISIONED, ignore_downstream_trigger_rules=True, inlets=[generated])
    def check_provisioned(
        dag_run: Any = None,
        data_interval_start: Any = None,
        data_interval_end: Any = None,
        inlet_events: Any = None,
    ) -> bool:
        """Whether the pipeline is provisioned and the hour can have data; if not, the run is skipped."""
        import logging

        log = logging.getLogger("cdc_pipeline.hourly")
        resolved, s3, glue, missing = probe_provisioning(definition, settings)
        if missing:
            log.warning(
                "%s is not provisioned yet (missing: %s): trigger the DAG %s, then %s_generate."
                " This hour is skipped, not failed.",
                definition.name,
                ", ".join(missing),
                provision_dag,
                definition.name,
            )
            return False
        run_type = getattr(dag_run, "run_type", None)
        run_type = str(getattr(run_type, "value", run_type))
        names = definition.resources(resolved)
        provisioned_at = glue.get_crawler(Name=names.crawler)["Crawler"]["CreationTime"]
        if run_type != "scheduled" or data_interval_end > provisioned_at:
            return True  # the cheap answer first: most runs need no listing and no Asset events
        prefix = hour_prefix(definition, data_interval_start)
        listing = s3.list_objects_v2(Bucket=names.lake_bucket, Prefix=prefix, MaxKeys=1)
        delivered = bool(listing.get("KeyCount"))
        written = hours_generated(inlet_events[generated].after(data_interval_start.isoformat()))
        interval = (data_interval_start, data_interval_end)
        if predates_pipeline(run_type, interval, provisioned_at, written, delivered):
            log.warning(
                "the hour %s to %s ended before %s was provisioned (%s), nothing was delivered for it and"
                " no generate run wrote into it: this catch-up run is skipped, not failed. To report on"
                " it, write into it (%s_generate with spread_hours) or backfill it.",
                data_interval_start.isoformat(),
                data_interval_end.isoformat(),
                definition.name,
                provisioned_at.isoformat(),
                definition.name,
            )
            return False
        return True

    return check_provisioned()


def skip_until_provisioned(definition: PipelineDefinition, settings: Settings) -> Any:
    """``check_provisioned`` of a DAG that is not about an hour (reconcile, maintenance): the run is
    skipped, not failed, naming the DAG to trigger, while the pipeline does not exist. ``make airflow``
    unpauses every DAG, so their first scheduled runs may come before anyone has provisioned."""
    from airflow.sdk import task

    @task.short_circuit(task_id=CHECK_PROVISIONED, ignore_downstream_trigger_rules=True)
    def check_provisioned(dag_run: Any = None) -> bool:
        """Whether the lake bucket and the crawler exist; if not, the run is skipped, not failed."""
        import logging

        missing = probe_provisioning(definition, settings)[3]
        if missing:
            logging.getLogger("cdc_pipeline.hourly").warning(
                "%s is not provisioned yet (missing: %s): trigger the DAG %s_provision. This run of %s is"
                " skipped, not failed.",
                definition.name,
                ", ".join(missing),
                definition.name,
                getattr(dag_run, "dag_id", "the DAG"),
            )
        return not missing

    return check_provisioned()


def delivery_timeout(settings: Settings) -> timedelta:
    """Long enough for two buffer flushes and the transform's timeout, with room to spare."""
    interval = settings.firehose_buffer_interval_seconds
    return timedelta(
        seconds=3 * interval + settings.transform_timeout_seconds + 2 * settings.delivery_grace_seconds + 60
    )


def wait_for_hour(settings: Settings) -> tuple[DateTimeSensorAsync, S3KeysUnchangedSensor]:
    """``wait_for_hour_to_end`` then ``wait_for_delivery``, both deferrable.

    The lake bucket comes from the ``resolve_names`` task; the partition prefix from the
    ``hour_prefix`` macro of the DAG.
    """
    buffer_seconds = settings.firehose_buffer_interval_seconds
    hour_over = DateTimeSensorAsync(
        task_id="wait_for_hour_to_end",
        target_time=(
            "{{ (data_interval_end + macros.timedelta(seconds="
            + str(buffer_seconds + settings.delivery_grace_seconds)
            + ")).isoformat() }}"
        ),
        doc_md="The hour is over and Firehose has had one buffering interval to flush it.",
    )
    delivered = S3KeysUnchangedSensor(
        task_id="wait_for_delivery",
        aws_conn_id=settings.aws_conn_id,
        bucket_name="{{ ti.xcom_pull(task_ids='resolve_names')['lake_bucket'] }}",
        prefix="{{ hour_prefix(data_interval_start) }}",
        inactivity_period=buffer_seconds + min(settings.delivery_grace_seconds, 30),
        min_objects=1,
        deferrable=True,
        poke_interval=max(settings.poll_interval_seconds, min(buffer_seconds, 30)),
        timeout=delivery_timeout(settings).total_seconds(),
        doc_md="The hour's partition has objects and no new one arrived for a buffering interval.",
    )
    return hour_over, delivered
