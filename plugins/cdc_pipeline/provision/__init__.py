"""Idempotent provisioning and teardown of one dataset's pipeline, in dependency order.

`provision(definition, settings, session)` runs every `ensure_*` step of `plan()` in order and
returns one `Outcome` per resource (created | updated | unchanged): a second run with the same
settings is all `unchanged`, a changed setting is `updated` in place. `teardown(...)` runs the
steps' deletes in reverse (deleted | absent) and is safe to run twice.

`session` is a boto3 `Session` or a factory `service -> client`. The DAGs pass a factory over
the Airflow `aws_default` connection's hook, so the endpoint is the connection's business.

Both topologies are provisioned here: `cdc` (table, Pipe, Firehose with the transform) and
`direct` (seed 001: stream -> event source mapping -> consumer function -> lake; no table, Pipe or
delivery stream).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from cdc_pipeline.definitions import PipelineDefinition, Topology
from cdc_pipeline.iam_policies import role_specs
from cdc_pipeline.provision import (
    athena,
    change_table,
    consumer,
    dynamodb,
    event_source_mapping,
    firehose,
    glue,
    iam,
    kinesis,
    lambda_function,
    pipes,
    s3,
    sns,
    state_table,
)
from cdc_pipeline.provision.context import ClientFactory, Deployment
from cdc_pipeline.provision.outcome import Action, Outcome
from cdc_pipeline.settings import Settings

__all__ = ["Action", "ClientFactory", "Deployment", "Outcome", "Step", "plan", "provision", "teardown"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One resource: how to bring it in line, and how to delete it.

    `shared` resources (the buckets, Glue database, workgroup and alerts topic) serve every dataset.
    """

    resource: str
    ensure: Callable[[Deployment], Outcome]
    delete: Callable[[Deployment], Outcome | list[Outcome]]
    shared: bool = False


def plan(deployment: Deployment) -> list[Step]:
    """The steps in dependency order.

    Roles come before the table and stream (their policies name ARNs, which are known in advance)
    so IAM has a little time to propagate before the Pipe, delivery stream and crawler name them.
    The Firehose transform must exist before the delivery stream names it, the table's stream before
    the Pipe reads it, the delivery stream (ACTIVE) before the Pipe writes to its Kinesis source, the
    lake bucket before the crawler targets it.
    """
    if deployment.definition.topology is Topology.DIRECT:
        return _shared_steps(deployment) + _direct_steps(deployment)
    return _shared_steps(deployment) + _cdc_steps(deployment)


def _shared_steps(deployment: Deployment) -> list[Step]:
    names = deployment.names
    return [
        Step(
            "lake_bucket",
            partial(s3.ensure_bucket, resource="lake_bucket", bucket=names.lake_bucket),
            partial(s3.delete_bucket, resource="lake_bucket", bucket=names.lake_bucket),
            shared=True,
        ),
        Step(
            "athena_results_bucket",
            partial(s3.ensure_bucket, resource="athena_results_bucket", bucket=names.athena_results_bucket),
            partial(s3.delete_bucket, resource="athena_results_bucket", bucket=names.athena_results_bucket),
            shared=True,
        ),
        Step("alerts_topic", sns.ensure_topic, sns.delete_topic, shared=True),
        # Every role is created inside it, so it comes before them (and is deleted after them).
        Step(iam.BOUNDARY_RESOURCE, iam.ensure_boundary, iam.delete_boundary, shared=True),
    ]


def _cdc_steps(deployment: Deployment) -> list[Step]:
    names = deployment.names
    steps = [
        Step(spec.resource, partial(iam.ensure_role, spec=spec), partial(iam.delete_role, spec=spec))
        for spec in role_specs(names, converts=deployment.settings.parquet_change_log)
    ]
    steps += [
        Step("table", dynamodb.ensure_table, dynamodb.delete_table),
        Step("stream", kinesis.ensure_stream, kinesis.delete_stream),
        Step("transform_function", lambda_function.ensure_function, _delete_function_and_logs),
        Step("glue_database", glue.ensure_database, glue.delete_database, shared=True),
    ]
    # Firehose converts with the change table's schema: it must exist before the delivery stream names it.
    steps += _change_table_steps(deployment)
    steps += [
        # Firehose reads its Kinesis source from LATEST: records the Pipe (which reads the table's
        # stream from TRIM_HORIZON) put before the delivery stream is ACTIVE would never be delivered.
        Step("delivery_stream", firehose.ensure_delivery_stream, firehose.delete_delivery_stream),
        Step("pipe", pipes.ensure_pipe, pipes.delete_pipe),
        Step("crawler", glue.ensure_crawler, glue.delete_crawler),
        Step("athena_workgroup", athena.ensure_workgroup, athena.delete_workgroup, shared=True),
        # Created through Athena DDL: after the database and workgroup it runs in.
        Step(state_table.RESOURCE, state_table.ensure_state_table, state_table.delete_state_table),
    ]
    return steps


def _direct_steps(deployment: Deployment) -> list[Step]:
    """Roles first (as for cdc); the function before the mapping that names it, the stream before both."""
    names = deployment.names
    crawler_role = next(spec for spec in role_specs(names) if spec.resource == "crawler_role")
    roles = [consumer.consumer_role_spec(names), crawler_role]
    return [
        *(
            Step(spec.resource, partial(iam.ensure_role, spec=spec), partial(iam.delete_role, spec=spec))
            for spec in roles
        ),
        Step("stream", kinesis.ensure_stream, kinesis.delete_stream),
        # The change table before the consumer that writes Parquet with its schema.
        Step("glue_database", glue.ensure_database, glue.delete_database, shared=True),
        *_change_table_steps(deployment),
        Step(consumer.RESOURCE, consumer.ensure_function, consumer.delete_function_and_logs),
        Step(
            event_source_mapping.RESOURCE,
            event_source_mapping.ensure_mapping,
            event_source_mapping.delete_mapping,
        ),
        Step("crawler", glue.ensure_crawler, glue.delete_crawler),
        Step("athena_workgroup", athena.ensure_workgroup, athena.delete_workgroup, shared=True),
    ]


def _change_table_steps(deployment: Deployment) -> list[Step]:
    """The Parquet change log's Glue table (none for JSON lines, which the crawler catalogues)."""
    if not deployment.settings.parquet_change_log:
        return []
    return [Step(change_table.RESOURCE, change_table.ensure_change_table, change_table.delete_change_table)]


def _delete_function_and_logs(deployment: Deployment) -> list[Outcome]:
    return [lambda_function.delete_function(deployment), lambda_function.delete_log_group(deployment)]


def _deployment(definition: PipelineDefinition, settings: Settings, session: Any) -> Deployment:
    return Deployment.build(definition, settings, session)


def _run(step: Callable[[Deployment], Any], deployment: Deployment) -> list[Outcome]:
    result = step(deployment)
    outcomes = result if isinstance(result, list) else [result]
    for outcome in outcomes:
        log.info("%s", outcome)
    return outcomes


def provision(definition: PipelineDefinition, settings: Settings, session: Any) -> list[Outcome]:
    """Create or update every resource of the pipeline; one `Outcome` per resource, in plan order."""
    deployment = _deployment(definition, settings, session)
    outcomes: list[Outcome] = []
    for step in plan(deployment):
        outcomes += _run(step.ensure, deployment)
    return outcomes


def teardown(
    definition: PipelineDefinition, settings: Settings, session: Any, *, include_shared: bool = True
) -> list[Outcome]:
    """Delete what `provision` made, in reverse order; buckets are emptied (every version) first.

    `include_shared=False` keeps the resources other datasets use (buckets, Glue database,
    workgroup, alerts topic) and removes only this dataset's own.
    """
    deployment = _deployment(definition, settings, session)
    outcomes: list[Outcome] = []
    for step in reversed(plan(deployment)):
        if step.shared and not include_shared:
            continue
        outcomes += _run(step.delete, deployment)
    return outcomes
