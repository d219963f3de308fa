"""The generate DAG of one pipeline: write realistic inserts, updates and deletes into its table.

Trigger it from the UI (or `airflow dags trigger --conf`) with how many new items, or for how long,
at what rate, which share of the writes are updates and deletes, a seed to reproduce a run, and
event times spread over whole past hours. Parameters are checked before anything is written; a bad
one fails the run with a message that names it.

From the trigger form to a report, without further clicks: the form's default writes into the hour
that just ended (``spread_hours=1``), and the run updates the pipeline's ``generated`` Asset with
the hours it wrote into. A second small DAG, ``<dataset>_report_generated``, is scheduled on that
Asset and triggers the hourly run of each of those hours, resetting it when the scheduler already
ran it (e.g. skipped before the pipeline was provisioned), so the hour's report follows within
minutes. Why an Asset and not a trigger task inside generate: a run made by a script (``dag.test``
in `make demo` and the DAG tests) has no scheduler, so the follower never runs there and those
scripts keep driving the hourly runs themselves; and the lineage shows generate feeding the hourly
DAG. With ``spread_hours=0`` the changes carry the current time: the hour's scheduled run reports
them once the hour is over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import assets
from cdc_pipeline.workflows.common import START_DATE, default_args


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_generate"


def follower_dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_report_generated"


def hours_of_window(window: list[str] | None) -> list[list[str]]:
    """The whole hours ``[start, end]`` (ISO-8601 UTC) of a spread window; none for ``spread_hours=0``."""
    if not window:
        return []
    start, end = (datetime.fromisoformat(moment.replace("Z", "+00:00")) for moment in window)
    hours = []
    while start < end:
        hours.append([start.isoformat(), (start + timedelta(hours=1)).isoformat()])
        start += timedelta(hours=1)
    return hours


def hourly_trigger(start: str, end: str) -> dict[str, str]:
    """What makes the hourly run of ``[start, end)``: the scheduler's own run id, logical date and run-after.

    The scheduler names the run of a cron data interval ``scheduled__<interval end>``; triggering that
    run id with ``reset_dag_run`` clears the scheduled run when it exists (it may have been skipped
    before the pipeline was provisioned) and creates it otherwise, and the scheduler then never makes
    a second run for the same hour (it skips a logical date that has a run).
    """
    return {"trigger_run_id": f"scheduled__{end}", "logical_date": start, "run_after": end}


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
            1,
            type="integer",
            minimum=0,
            maximum=24 * 14,
            description=(
                "Spread event times over this many whole past hours; their hourly runs follow, with"
                " their reports. 1 = the hour just ended; 0 = now (reported when the hour is over)."
            ),
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

        @task(outlets=[assets.generated(definition)])
        def generate(params: dict[str, Any] | None = None, outlet_events: Any = None) -> dict[str, Any]:
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
            outlet_events[assets.generated(definition)].extra = {"hours": hours_of_window(result["window"])}
            return result

        generate()
    return dag


def build_follower(definition: PipelineDefinition, settings: Settings) -> DAG:
    """``<dataset>_report_generated``: after each generate run, the hourly runs of the hours it wrote into."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from cdc_pipeline.workflows import hourly

    generated = assets.generated(definition)
    with DAG(
        dag_id=follower_dag_id(definition),
        description=f"Run {hourly.dag_id(definition)} for each past hour a generate run wrote into",
        schedule=[generated],
        start_date=START_DATE,
        catchup=False,
        default_args={**default_args(settings), "retries": 0},
        tags=["cdc-lake", definition.name, "generate"],
        doc_md=__doc__,
    ) as dag:

        @task
        def hours_written(triggering_asset_events: Any = None) -> list[dict[str, str]]:
            """The whole past hours the triggering generate runs wrote into, one hourly run each."""
            import logging

            log = logging.getLogger("cdc_pipeline.generate")
            hours = sorted(
                {
                    tuple(hour)
                    for events in triggering_asset_events.values()
                    for event in events
                    for hour in (event.extra or {}).get("hours", [])
                }
            )
            if not hours:
                log.info("the changes carry the current time: the hour's scheduled run reports them")
            for start, end in hours:
                log.info("the hourly run of %s to %s reports this hour", start, end)
            return [hourly_trigger(start, end) for start, end in hours]

        TriggerDagRunOperator.partial(
            task_id="run_hourly",
            trigger_dag_id=hourly.dag_id(definition),
            reset_dag_run=True,
            wait_for_completion=False,
            doc_md="Start (or re-run) the hourly run of each hour written; its report follows.",
        ).expand_kwargs(hours_written())
    return dag
