"""No DAG: the pipeline definition files Airflow could not use, shown as this file's import error.

A definition with a typo (TOML syntax, an unknown field, a bad value, a generator that cannot be
imported) keeps only its own DAGs out; the other pipelines load. Airflow lists this file under
"DAG Import Errors" with one line per broken file, naming the file and the field.
"""

from __future__ import annotations

from cdc_pipeline.definitions import BROKEN_PIPELINES, PIPELINES, PipelineDefinitionError

_errors = [str(error) for error in BROKEN_PIPELINES.values()]
for _definition in PIPELINES.values():
    try:
        # The generate DAG imports it while parsing, so this costs nothing more at parse time.
        _definition.generator_class()
    except PipelineDefinitionError as error:
        _errors.append(str(error))


class BrokenPipelineDefinitions(Exception):
    """One or more definition files cannot be used; the message has a line per file."""


if _errors:
    raise BrokenPipelineDefinitions(
        "these pipeline definitions cannot be used (their DAGs are not loaded):\n"
        + "\n".join(f"  {error}" for error in _errors)
    )
