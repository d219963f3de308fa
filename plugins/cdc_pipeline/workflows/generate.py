"""The generate DAG of one pipeline: write realistic inserts, updates and deletes into its table.

Trigger it from the UI (or `airflow dags trigger --conf`) with how many new items, or for how long,
at what rate, which share of the writes are updates and deletes, a seed to reproduce a run, and
optionally event times spread over the past hours (to feed a backfill). Parameters are checked
before anything is written; a bad one fails the run with a message that names it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import START_DATE, default_args


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_generate"


def count_param(definition: PipelineDefinition) -> str:
    """The name of the how-many parameter (``orders`` for sales orders): the definition's noun."""
    return definition.count_noun


def extra_params(definition: PipelineDefinition) -> dict[str, Param]:
    """Parameters only this dataset has (e.g. ``invalid_email_share``), as its class declares them.

    Importing the generator module is cheap (Faker is imported when a run starts).
    """
    return {
        name: Param(spec["default"], **{k: v for k, v in spec.items() if k != "default"})
        for name, spec in definition.generator_class().extra_params.items()
    }


def dag_params(definition: PipelineDefinition) -> dict[str, Param]:
    """The trigger form: how many (or how long), pace, shares (only for items that change), seed,
    spread window, and the dataset's own parameters."""
    noun = count_param(definition)
    shares = (
        {
            name: Param(default, type="number", minimum=0, maximum=0.95, description=description)
            for name, default, description in (
                ("update_share", 0.2, "Share of writes that are updates."),
                ("delete_share", 0.05, "Share of writes that are deletes."),
            )
        }
        # Items that never change (events on a stream): no shares to ask for.
        if definition.generator_class().changes
        else {}
    )
    return {
        noun: Param(
            200,
            type=["null", "integer"],
            minimum=1,
            description=f"How many new {noun} to write; set to null to run for duration_seconds instead.",
        ),
        "duration_seconds": Param(
            None, type=["null", "number"], exclusiveMinimum=0, description="Run for this long instead."
        ),
        "rate_per_second": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description="Writes per second; null = as fast as possible.",
        ),
        **shares,
        "seed": Param(None, type=["null", "integer"], description="Seed for a reproducible run."),
        "spread_hours": Param(
            0,
            type="integer",
            minimum=0,
            maximum=24 * 14,
            description="Spread event times over this many whole past hours (for backfills); 0 = now.",
        ),
        "end_time": Param(
            None,
            type=["null", "string"],
            description="ISO-8601 UTC end of the spread window; default now.",
        ),
        **extra_params(definition),
    }


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    noun = count_param(definition)
    writes_to = definition.generator_class().target
    params = dag_params(definition)
    form = tuple(params)
    with DAG(
        dag_id=dag_id(definition),
        description=(
            f"Write generated {noun} (inserts, updates, deletes) into the {definition.name} table"
            if writes_to == "dynamodb"
            else f"Put generated {noun} on the {definition.name} Kinesis stream"
        ),
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        default_args={**default_args(settings), "retries": 0},
        params=params,
        tags=["cdc-lake", definition.name, "generate"],
        doc_md=__doc__,
    ) as dag:

        @task
        def generate(params: dict[str, Any] | None = None) -> dict[str, Any]:
            """Write the changes, logging progress, and return what was written (counts and hourly totals)."""
            import logging

            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
            from airflow.providers.amazon.aws.hooks.sts import StsHook

            log = logging.getLogger("cdc_pipeline.generate")
            account_id = StsHook(aws_conn_id=settings.aws_conn_id).get_account_number()
            names = definition.resources(settings.with_account_id(account_id))
            dataset = definition.generator_class()()
            # Exactly the form's parameters: each is the dataset's, so generate() checks every one.
            arguments = {name: params.get(name) for name in form}
            destination = names.table if writes_to == "dynamodb" else names.stream
            log.info("writing into %s %s with %s", writes_to, destination, arguments)
            client = AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type=writes_to).get_conn()
            summary = dataset.generate(client, destination, progress=lambda p: log.info("%s", p), **arguments)
            result = summary.to_json()
            # The full current state can be large; the table itself holds it.
            result.pop("current", None)
            log.info("done: %s", result["counts"])
            return result

        generate()
    return dag
