"""Waiting for the hour: the pipeline exists, the hour is over, and Firehose has delivered it.

``check_provisioned`` comes first: before the provision DAG has run there is no lake bucket and no
crawler, and the run would otherwise fail in ``wait_for_delivery`` (NoSuchBucket) and send an alert.
It is a short-circuit task: when the pipeline is not provisioned it logs what to trigger and every
later task of the run is skipped, whatever its trigger rule, so the run ends green and no alert fires.
The sensors after it are deferrable: no worker slot is held while they wait.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeysUnchangedSensor
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings

#: Error codes that mean "this resource does not exist" for S3's HeadBucket and Glue's GetCrawler.
_MISSING = {"404", "NoSuchBucket", "NotFound", "EntityNotFoundException"}


def missing_resources(definition: PipelineDefinition, settings: Settings, s3: Any, glue: Any) -> list[str]:
    """The resources the hourly run needs that do not exist yet (the lake bucket, the crawler)."""
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


def skip_unless_provisioned(definition: PipelineDefinition, settings: Settings) -> Any:
    """``check_provisioned``: skip the whole run, naming the DAG to trigger, until the pipeline exists."""
    from airflow.sdk import task

    provision_dag = f"{definition.name}_provision"

    @task.short_circuit(task_id="check_provisioned", ignore_downstream_trigger_rules=True)
    def check_provisioned() -> bool:
        """Whether the pipeline is provisioned; if not, the rest of the run is skipped (no failure, no alert)."""
        import logging

        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        from cdc_pipeline.provision.context import settings_in_region_of

        sts = StsHook(aws_conn_id=settings.aws_conn_id)
        resolved = settings_in_region_of(settings, sts.get_conn()).with_account_id(sts.get_account_number())
        s3, glue = (
            AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type=kind).get_conn()
            for kind in ("s3", "glue")
        )
        missing = missing_resources(definition, resolved, s3, glue)
        if missing:
            logging.getLogger("cdc_pipeline.hourly").warning(
                "%s is not provisioned yet (missing: %s): trigger the DAG %s, then %s_generate."
                " This hour is skipped, not failed.",
                definition.name,
                ", ".join(missing),
                provision_dag,
                definition.name,
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
