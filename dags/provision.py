"""The Airflow provision DAG of every pipeline definition (`cdc_pipeline.definitions.PIPELINES`).

One DAG per definition, named `<dataset>_provision`; the logic lives in `cdc_pipeline.workflows.provision`.
"""

from __future__ import annotations

from cdc_pipeline.definitions import PIPELINES
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import provision

_settings = Settings.from_env()

for _definition in PIPELINES.values():
    globals()[provision.dag_id(_definition)] = provision.build(_definition, _settings)
