"""Fixtures and helpers of the Lambda and event-source-mapping tests, in one place.

A test module uses a fixture by importing it (and naming it in ``__all__``, so that the import
reads as used). Waits follow progress that can be seen (records delivered, objects written): a
wait fails when nothing has moved for a while, not when a wall-clock window closes on a machine
that is merely busy.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import time
import zipfile
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from tests.support import unique, wait_until

ACCOUNT_ID = "123456789012"
T = TypeVar("T")

# The trust policy of a Lambda execution role.
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def make_zip(source: str, module: str = "app", extra: dict[str, str] | None = None) -> bytes:
    """An in-memory deployment package with ``<module>.py`` (and any extra files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{module}.py", textwrap.dedent(source))
        for name, text in (extra or {}).items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def layer_zip(files: dict[str, str]) -> bytes:
    """An in-memory layer archive holding ``files`` (paths as in the zip: ``python/mod.py``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def publish_layer(aws: Callable[..., Any], code: bytes, name: str | None = None) -> str:
    """PublishLayerVersion of a zip for the Python runtimes; the new version's ARN."""
    response = aws("lambda").publish_layer_version(
        LayerName=name or unique("layer"), Content={"ZipFile": code}, CompatibleRuntimes=["python3.11"]
    )
    return response["LayerVersionArn"]


def lambda_role(iam: Any, prefix: str, actions: list[str] | None = None) -> dict[str, Any]:
    """A role Lambda may assume, allowed ``actions`` on every resource (none when not given)."""
    role = iam.create_role(RoleName=unique(prefix), AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]
    if actions:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_role_policy(
            RoleName=role["RoleName"], PolicyName="handlers", PolicyDocument=json.dumps(policy)
        )
    return role


def invoke(aws: Callable[..., Any], name: str, payload: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Invoke and read the answer: the response with its payload in ``Body``."""
    args: dict[str, Any] = {"FunctionName": name, **kwargs}
    if payload is not None:
        args["Payload"] = json.dumps(payload).encode()
    response = aws("lambda").invoke(**args)
    response["Body"] = response["Payload"].read()
    return response


# boto3's waiters poll once a second by default; the embedded AWS settles in under one.
QUICK = {"Delay": 0.1, "MaxAttempts": 600}
SETTLED_MAPPING = ("Enabled", "Disabled")


def wait_active(client: Any, name: str) -> None:
    """CreateFunction answers Pending: wait (boto3's waiter) until the function is Active."""
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=QUICK)


def wait_updated(client: Any, name: str) -> None:
    """An update answers LastUpdateStatus InProgress: wait (boto3's waiter) until it is Successful."""
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=QUICK)


def wait_mapping(client: Any, uuid: str) -> dict[str, Any]:
    """An event source mapping once it is Enabled or Disabled (not Creating, Updating...)."""
    return wait_until(
        lambda: (
            (mapping := client.get_event_source_mapping(UUID=uuid))["State"] in SETTLED_MAPPING and mapping
        ),
        timeout=60,
        interval=0.05,
        what=f"event source mapping {uuid} to be Enabled or Disabled",
    )


def create_mapping(client: Any, **kwargs: Any) -> dict[str, Any]:
    """CreateEventSourceMapping, then wait until the mapping is Enabled (or Disabled)."""
    return wait_mapping(client, client.create_event_source_mapping(**kwargs)["UUID"])


def wait_for_progress(
    check: Callable[[], T],
    progress: Callable[[], Hashable],
    stalled_after: float = 30.0,
    interval: float = 0.2,
    what: str = "",
) -> T:
    """Poll ``check`` until it returns something truthy, for as long as ``progress`` keeps changing.

    Fails once ``progress()`` has shown the same value for ``stalled_after`` seconds: a slow
    machine that still delivers keeps the wait going, a poller that stopped ends it.
    """
    seen = progress()
    last_move = time.monotonic()
    while True:
        result = check()
        if result:
            return result
        now = progress()
        if now != seen:
            seen, last_move = now, time.monotonic()
        elif time.monotonic() - last_move > stalled_after:
            raise AssertionError(
                f"no progress for {stalled_after}s waiting for {what or check}; last progress {seen!r}"
            )
        time.sleep(interval)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def role_arn(aws: Callable[..., Any]) -> str:
    # Handlers act as their role (its temporary credentials), so the role must allow what they do.
    return lambda_role(aws("iam"), "lambda-role", ["s3:*"])["Arn"]


@pytest.fixture
def create_function(aws: Callable[..., Any], role_arn: str) -> Iterator[Callable[..., str]]:
    """Create a function from handler source; deletes it afterwards."""
    created: list[str] = []

    def create(source: str, handler: str = "app.handler", wait: bool = True, **kwargs: Any) -> str:
        """``wait=False`` returns while the function is still Pending."""
        name = kwargs.pop("FunctionName", None) or unique("fn")
        code = kwargs.pop("Code", None) or {"ZipFile": make_zip(source)}
        aws("lambda").create_function(
            FunctionName=name,
            Runtime=kwargs.pop("Runtime", "python3.11"),
            Role=kwargs.pop("Role", role_arn),
            Handler=handler,
            Code=code,
            **kwargs,
        )
        created.append(name)
        if wait:
            wait_active(aws("lambda"), name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(ClientError):
            aws("lambda").delete_function(FunctionName=name)
