"""The teardown DAG of one pipeline: delete every resource provision made (seed 001's cleanup list).

Safe to run twice: a resource that is already gone is reported as absent.
"""

from __future__ import annotations

from typing import Any

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import resource_dag


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_teardown"


def _teardown(*args: Any) -> list[Any]:
    from cdc_pipeline.provision import teardown

    return teardown(*args)


def build(definition: PipelineDefinition, settings: Settings) -> Any:
    return resource_dag(
        definition,
        settings,
        kind="teardown",
        description=f"Delete every AWS resource of {definition.name}, its data included",
        doc_md=__doc__,
        action=_teardown,
        task_doc="Delete each resource in reverse dependency order; logs deleted or absent for each.",
    )
