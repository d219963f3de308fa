"""Data generators: a dataset-agnostic change driver (`base`) and the datasets it drives (`orders`).

Importing this package is cheap (no Faker, no AWS call); Faker is imported when a run starts.
"""

from __future__ import annotations

from cdc_pipeline.generators.base import (
    ChangeDriver,
    ChangeParams,
    Dataset,
    GenerationProgress,
    GenerationSummary,
    GeneratorParamsError,
)

__all__ = [
    "ChangeDriver",
    "ChangeParams",
    "Dataset",
    "GenerationProgress",
    "GenerationSummary",
    "GeneratorParamsError",
]
