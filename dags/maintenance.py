"""The Airflow maintenance DAG of every ``cdc`` pipeline definition (`cdc_pipeline.definitions.PIPELINES`).

One DAG per definition with a current-state table, named `<dataset>_maintenance`; the logic lives in
`cdc_pipeline.workflows.maintenance`.
"""

from __future__ import annotations

from cdc_pipeline.definitions import PIPELINES, PipelineDefinitionError, Topology
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import maintenance

_settings = Settings.from_env()

for _definition in PIPELINES.values():
    if _definition.topology is not Topology.CDC:
        continue  # a direct pipeline has no current-state table
    try:
        globals()[maintenance.dag_id(_definition)] = maintenance.build(_definition, _settings)
    except PipelineDefinitionError:
        continue  # one bad definition keeps only its own DAG out; dags/pipeline_definitions.py names it
