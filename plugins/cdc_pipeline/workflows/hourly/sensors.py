"""Waiting for the hour: it is over, and Firehose has delivered it (deferrable: no worker slot held)."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.amazon.aws.sensors.s3 import S3KeysUnchangedSensor
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

from cdc_pipeline.settings import Settings


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
