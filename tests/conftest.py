"""Fixtures shared by every test: one embedded AWS per test session, and boto3 clients for it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

# Tests never see a developer's real AWS credentials or profile.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

# Airflow reads its configuration when first imported: give every test session its own home and
# metadata database before any test module imports it. The database is created on first use.
REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cdc-lake-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow (end-to-end) files first, each group still in pytest-randomly's order (a stable sort
    after its shuffle). ``make test`` runs xdist with ``--dist loadfile --no-loadscope-reorder``, which
    hands files out in this order: the minutes-long files start at once and the short ones fill in at
    the end. xdist's own reorder (most tests first) put the one- and two-test end-to-end files last,
    where one worker ground through them while the other had nothing left."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[Any]:
    """The embedded AWS, in this process, on a free loopback port."""
    from local_aws import LocalAWS

    server = LocalAWS(port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def endpoint_url(local_aws: Any) -> str:
    return local_aws.endpoint_url


@pytest.fixture(scope="session")
def aws(endpoint_url: str) -> Callable[[str], Any]:
    """``aws("s3")``: a boto3 client for the embedded AWS."""
    cache: dict[str, Any] = {}

    def client(service: str, **kwargs: Any) -> Any:
        if kwargs:
            return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION, **kwargs)
        if service not in cache:
            cache[service] = boto3.client(service, endpoint_url=endpoint_url, region_name=REGION)
        return cache[service]

    return client
