"""Provisioning's waits for a resource to be ready: a timeout names the resource and its state."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cdc_pipeline.provision.waiting import WaitTimeout, wait_for_state, wait_with_waiter
from local_aws.components import lifecycle
from tests.local_aws.lambda_helpers import LAMBDA_TRUST, make_zip
from tests.support import unique


@pytest.fixture
def held() -> Iterator[None]:
    """Resources of the embedded AWS stay in their first state (Pending, Creating) until the test ends."""
    lifecycle.set_activation_seconds(3600)
    try:
        yield
    finally:
        lifecycle.set_activation_seconds(None)


def test_a_poll_that_times_out_names_the_resource_and_the_state_it_is_still_in() -> None:
    with pytest.raises(WaitTimeout) as caught:
        wait_for_state(
            lambda: {"State": "Creating"},
            lambda mapping: mapping["State"],
            "event source mapping m-1",
            ("Enabled", "Disabled"),
            timeout=0.05,
            interval=0.01,
        )
    message = str(caught.value)
    assert "event source mapping m-1 to be Enabled or Disabled" in message
    assert message.endswith("it is still Creating")
    with pytest.raises(RuntimeError, match="stream s-1 disappeared"):
        wait_for_state(lambda: None, lambda s: s, "stream s-1", {"ACTIVE"}, timeout=1)


def test_the_lambda_waiter_names_a_function_still_pending_then_returns_once_it_is_active(aws, held) -> None:
    client = aws("lambda")
    role = aws("iam").create_role(
        RoleName=unique("wait-role"), AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )
    name = unique("waited")
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": make_zip("def handler(event, context):\n    return 1\n")},
    )
    try:
        with pytest.raises(WaitTimeout) as caught:
            wait_with_waiter(
                client, "function_active_v2", f"function {name}", timeout=0.3, delay=0.1, FunctionName=name
            )
        assert (
            f"function {name} is not ready (State Pending, StateReason The function is being created."
            in str(caught.value)
        )
        lifecycle.set_activation_seconds(0)
        wait_with_waiter(
            client, "function_active_v2", f"function {name}", timeout=5, delay=0.1, FunctionName=name
        )
        assert client.get_function(FunctionName=name)["Configuration"]["State"] == "Active"
    finally:
        client.delete_function(FunctionName=name)
