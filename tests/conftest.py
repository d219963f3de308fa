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


#: The parts of an operation's model that botocore's handlers edit in place (``http``, ``endpoint``).
_EDITED = ("http", "endpoint")


def _own_edited_parts(data: Any) -> Any:
    """A service model whose operations' ``http`` and ``endpoint`` dicts are the caller's own (the rest
    is shared).

    botocore edits them in place the first time a client calls an operation (S3's
    ``remove_bucket_from_url_paths_from_model`` turns ``/{Bucket}/{Key+}`` into ``/{Key+}``): shared
    between Sessions, that edit reached local_aws's own model in the same process, whose route table
    then took a CreateBucket for a PutObject and refused it (an order-dependent failure of the suite).
    (S3 Control's ``remove_accid_host_prefix_from_model`` deletes ``endpoint.hostPrefix`` the same
    way.) Within one Session botocore shares the model between its clients, as it always does."""
    operations = data.get("operations") if isinstance(data, dict) else None
    if not isinstance(operations, dict):
        return data
    return {
        **data,
        "operations": {
            name: {**operation, **{part: dict(operation[part]) for part in _EDITED if part in operation}}
            for name, operation in operations.items()
        },
    }


def _make_aws_clients_cheaper() -> None:
    """Airflow's AWS hooks make a botocore Session for every hook, and each Session parses botocore's
    JSON data files (the endpoints and each service's model: megabytes) and lists its data folders
    again; each hook also walks the call stack with its source lines to name its caller in the user
    agent. In a test process that runs hundreds of tasks this was about a quarter of an end-to-end
    test's time. Same results, cheaper: each file is parsed once per test process and the parsed data
    shared (as one Session already shares it between its clients), each listing made once, and the
    stack walked without reading source lines (the user agent reads only the frames' names,
    locals and globals)."""
    import inspect
    import sys
    import types

    from airflow.providers.amazon.aws.hooks import base_aws
    from botocore import loaders

    parse = loaders.JSONFileLoader.load_file
    parsed: dict[str, Any] = {}

    def load_file(self: Any, file_path: str) -> Any:
        if file_path not in parsed:
            parsed[file_path] = parse(self, file_path)
        return _own_edited_parts(parsed[file_path])

    loaders.JSONFileLoader.load_file = load_file

    list_services = loaders.Loader.list_available_services
    listed: dict[tuple[Any, ...], Any] = {}

    def list_available_services(self: Any, type_name: str) -> Any:
        key = (tuple(self.search_paths), type_name)
        if key not in listed:
            listed[key] = list_services(self, type_name)
        return list(listed[key])

    loaders.Loader.list_available_services = list_available_services

    def frames(context: int = 1) -> list[inspect.FrameInfo]:
        found, frame = [], sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            found.append(inspect.FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
            frame = frame.f_back
        return found

    base_aws.inspect = types.SimpleNamespace(**{**vars(inspect), "stack": frames})


_make_aws_clients_cheaper()


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
