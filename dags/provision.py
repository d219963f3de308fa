"""The Airflow provision DAG of every pipeline definition (`cdc_pipeline.definitions.PIPELINES`).

One DAG per definition, named `<dataset>_provision`; the logic lives in `cdc_pipeline.workflows.provision`.
"""

from __future__ import annotations

from cdc_pipeline.definitions import PIPELINES, PipelineDefinitionError
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import provision

_settings = Settings.from_env()

for _definition in PIPELINES.values():
    try:
        globals()[provision.dag_id(_definition)] = provision.build(_definition, _settings)
    except PipelineDefinitionError:
        continue  # one bad definition keeps only its own DAG out; dags/pipeline_definitions.py names it
