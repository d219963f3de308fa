"""The Airflow generate DAG of every pipeline definition (`cdc_pipeline.definitions.PIPELINES`).

One DAG per definition, named `<dataset>_generate`; the logic lives in `cdc_pipeline.workflows.generate`.
"""

from __future__ import annotations

from cdc_pipeline.definitions import PIPELINES, PipelineDefinitionError
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import generate

_settings = Settings.from_env()

for _definition in PIPELINES.values():
    try:
        globals()[generate.dag_id(_definition)] = generate.build(_definition, _settings)
        globals()[generate.follower_dag_id(_definition)] = generate.build_follower(_definition, _settings)
    except PipelineDefinitionError:
        continue  # one bad definition keeps only its own DAG out; dags/pipeline_definitions.py names it
