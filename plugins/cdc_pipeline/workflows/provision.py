"""The provision DAG of one pipeline: make every AWS resource it needs exist as configured.

Safe to trigger at any time: each resource is created when missing, updated in place when a
setting changed, and left alone otherwise; the log says which, resource by resource.
"""

from __future__ import annotations

from typing import Any

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import assets
from cdc_pipeline.workflows.common import resource_dag


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_provision"


def _provision(*args: Any) -> list[Any]:
    from cdc_pipeline.provision import provision

    return provision(*args)


def build(definition: PipelineDefinition, settings: Settings) -> Any:
    dag = resource_dag(
        definition,
        settings,
        kind="provision",
        description=f"Create or update every AWS resource of {definition.name}",
        doc_md=__doc__,
        action=_provision,
        task_doc="Ensure each resource, in dependency order; logs created, updated or unchanged for each.",
    )
    # Lineage: a successful run updates the pipeline's "resources" Asset.
    dag.get_task("provision").outlets = [assets.resources(definition)]
    return dag
