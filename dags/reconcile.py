"""The Airflow reconciliation DAG of every ``cdc`` pipeline definition (`cdc_pipeline.definitions.PIPELINES`).

One DAG per definition with a DynamoDB table, named `<dataset>_reconcile` (every six hours, the whole
lake against the whole table); the logic lives in `cdc_pipeline.workflows.reconciliation`.
"""

from __future__ import annotations

from cdc_pipeline.definitions import PIPELINES, PipelineDefinitionError, Topology
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import reconciliation

_settings = Settings.from_env()

for _definition in PIPELINES.values():
    if _definition.topology is not Topology.CDC:
        continue  # a direct pipeline has no table to reconcile with: its events are only in the stream
    try:
        globals()[reconciliation.dag_id(_definition)] = reconciliation.build(_definition, _settings)
    except PipelineDefinitionError:
        continue  # one bad definition keeps only its own DAG out; dags/pipeline_definitions.py names it
