"""The teardown DAG of one pipeline: delete every resource provision made (seed 001's cleanup list).

Safe to run twice: a resource that is already gone is reported as absent.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import START_DATE, default_args


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_teardown"


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    with DAG(
        dag_id=dag_id(definition),
        description=f"Delete every AWS resource of {definition.name}, its data included",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        default_args=default_args(settings),
        tags=["cdc-lake", definition.name, "teardown"],
        doc_md=__doc__,
    ) as dag:

        @task
        def teardown() -> list[dict[str, Any]]:
            """Delete each resource in reverse dependency order; logs deleted or absent for each."""
            import logging

            from cdc_pipeline.aws_clients import ConnectionClients
            from cdc_pipeline.provision import teardown as delete_all

            outcomes = delete_all(definition, settings, ConnectionClients(settings.aws_conn_id))
            log = logging.getLogger("cdc_pipeline.teardown")
            for outcome in outcomes:
                log.info("%s", outcome)
            return [outcome.__dict__ for outcome in outcomes]

        teardown()
    return dag
