"""Fixtures of the DAG tests: the embedded AWS is the session's (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.airflow_harness import deployed_pipeline


@pytest.fixture(scope="module")
def pipeline(request: pytest.FixtureRequest, local_aws: Any) -> Iterator[dict[str, Any]]:
    """The DAGs of every pipeline on the embedded AWS, with the module's ``DATASET`` provisioned.

    A module that needs more (overrides, a teardown) defines its own ``pipeline``."""
    with deployed_pipeline(local_aws.endpoint_url, provision=request.module.DATASET) as deployed:
        yield deployed
