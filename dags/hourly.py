"""The Airflow hourly DAG of every pipeline definition (`cdc_pipeline.definitions.PIPELINES`).

One DAG per definition, named `<dataset>_hourly`; the logic lives in `cdc_pipeline.workflows.hourly`.
"""

from __future__ import annotations

from cdc_pipeline.definitions import PIPELINES, PipelineDefinitionError
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import hourly

_settings = Settings.from_env()

for _definition in PIPELINES.values():
    try:
        globals()[hourly.dag_id(_definition)] = hourly.build(_definition, _settings)
    except PipelineDefinitionError:
        continue  # one bad definition keeps only its own DAG out; dags/pipeline_definitions.py names it
