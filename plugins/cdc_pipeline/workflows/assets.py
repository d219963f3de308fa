"""The Airflow Assets a pipeline's DAGs produce: what the Assets view shows as its lineage.

URIs are ``cdc-lake://<dataset>/<what>``: they name the pipeline's data, not an S3 key, so they
are the same on a laptop and on AWS (bucket names carry the account id, known only at run time).
A user's own DAG can be scheduled on one of them, e.g. ``schedule=[assets.report(definition)]``
runs after each hour's report of that pipeline is published.
"""

from __future__ import annotations

from airflow.sdk import Asset

from cdc_pipeline.definitions import PipelineDefinition


def _asset(definition: PipelineDefinition, what: str) -> Asset:
    return Asset(
        name=f"{definition.name}_{what}", uri=f"cdc-lake://{definition.name}/{what}", group="cdc-lake"
    )


def resources(definition: PipelineDefinition) -> Asset:
    """The pipeline's AWS resources exist as configured (the provision DAG updates it)."""
    return _asset(definition, "resources")


def generated(definition: PipelineDefinition) -> Asset:
    """New changes were written into the pipeline's table or stream (the generate DAG updates it).

    Each event's extra holds the whole past hours the run wrote into, as ``hours``: a list of
    ``[start, end]`` ISO-8601 UTC pairs (empty when the run wrote into the current hour).
    """
    return _asset(definition, "generated")


def report(definition: PipelineDefinition) -> Asset:
    """The hour's report is published (the hourly DAG's ``publish_report``)."""
    return _asset(definition, "report")
