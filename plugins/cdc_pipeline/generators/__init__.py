"""Data generators: one driver (`driver`) with pluggable writers (`writers`: DynamoDB, Kinesis), the
dataset base class (`base`) and the datasets (`orders`, `profiles`, `events`).

Importing this package is cheap (no Faker, no AWS call); Faker is imported when a run starts.
"""

from __future__ import annotations

from cdc_pipeline.generators.base import Dataset, GenerationProgress, GenerationSummary
from cdc_pipeline.generators.driver import ChangeDriver, RunRecord
from cdc_pipeline.generators.params import ChangeParams, GeneratorParamsError

__all__ = [
    "ChangeDriver",
    "ChangeParams",
    "Dataset",
    "GenerationProgress",
    "GenerationSummary",
    "GeneratorParamsError",
    "RunRecord",
]
