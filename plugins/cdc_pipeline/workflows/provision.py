"""The provision DAG of one pipeline: make every AWS resource it needs exist as configured.

Safe to trigger at any time: each resource is created when missing, updated in place when a
setting changed, and left alone otherwise; the log says which, resource by resource.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import START_DATE, default_args


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_provision"


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    with DAG(
        dag_id=dag_id(definition),
        description=f"Create or update every AWS resource of {definition.name}",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        default_args=default_args(settings),
        tags=["cdc-lake", definition.name, "provision"],
        doc_md=__doc__,
    ) as dag:

        @task
        def provision() -> list[dict[str, Any]]:
            """Ensure each resource, in dependency order; logs created, updated or unchanged for each."""
            import logging

            from cdc_pipeline.aws_clients import ConnectionClients
            from cdc_pipeline.provision import provision as ensure_all

            outcomes = ensure_all(definition, settings, ConnectionClients(settings.aws_conn_id))
            log = logging.getLogger("cdc_pipeline.provision")
            for outcome in outcomes:
                log.info("%s", outcome)
            return [outcome.__dict__ for outcome in outcomes]

        provision()
    return dag
