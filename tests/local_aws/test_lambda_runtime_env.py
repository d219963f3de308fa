"""The Lambda runtime offers what AWS's Python runtime offers and nothing else (issue #11 item 3).

A handler imports the standard library, the boto3 the runtime ships, its own zip and its layers;
anything else of the server's environment (pandas, duckdb, moto) fails to import as it would on
AWS. Each execution environment has a /tmp of its own, the AWS_LAMBDA_* variables, its log in
CloudWatch Logs under /aws/lambda/<name>, and a REPORT line whose memory is the worker's own.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws import lambda_sandbox
from tests.local_aws.lambda_helpers import (
    create_function,
    invoke,
    layer_zip,
    publish_layer,
    role_arn,
)
from tests.support import unique

__all__ = ["create_function", "role_arn"]

IMPORTS_GREET = """
    import greet

    def handler(event, context):
        return greet.hello(event["name"])
"""


def _error(response: dict[str, Any]) -> dict[str, Any]:
    assert response.get("FunctionError") == "Unhandled", response["Body"]
    return json.loads(response["Body"])


@pytest.fixture
def greet_layer(aws: Callable[..., Any]) -> str:
    """A layer whose python/ folder holds the module ``greet``; its version ARN."""
    code = layer_zip({"python/greet.py": "def hello(name):\n    return 'hello ' + name\n"})
    return publish_layer(aws, code)


def test_a_package_only_a_layer_provides_needs_the_layer(aws, create_function, greet_layer):
    without = create_function(IMPORTS_GREET, Timeout=30)
    error = _error(invoke(aws, without, {"name": "x"}))
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'greet'"

    with_layer = create_function(IMPORTS_GREET, Timeout=30, Layers=[greet_layer])
    response = invoke(aws, with_layer, {"name": "x"})
    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"]) == "hello x"

    # Adding the layer later works too (a new environment, with /opt/python on its path).
    aws("lambda").update_function_configuration(FunctionName=without, Layers=[greet_layer])
    assert json.loads(invoke(aws, without, {"name": "y"})["Body"]) == "hello y"


def test_later_layers_win_and_site_packages_of_a_layer_is_on_the_path(aws, create_function):
    first = publish_layer(aws, layer_zip({"python/greet.py": "def hello(name):\n    return 'first'\n"}))
    second = publish_layer(
        aws,
        layer_zip(
            {
                "python/greet.py": "def hello(name):\n    return 'second'\n",
                "python/lib/python3.11/site-packages/deep.py": "VALUE = 42\n",
            }
        ),
    )
    source = """
        import deep
        import greet

        def handler(event, context):
            return [greet.hello(""), deep.VALUE]
    """
    name = create_function(source, Timeout=30, Layers=[first, second])
    assert json.loads(invoke(aws, name, {})["Body"]) == ["second", 42]


@pytest.mark.parametrize("module", ["pandas", "duckdb", "moto", "airflow", "pyarrow"])
def test_packages_of_the_server_are_not_importable(aws, create_function, module):
    name = create_function(f"import {module}\n\ndef handler(event, context):\n    return 1\n", Timeout=30)
    error = _error(invoke(aws, name, {}))
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == f"Unable to import module 'app': No module named '{module}'"


def test_boto3_and_its_dependencies_and_the_standard_library_import(aws, create_function):
    source = """
        import importlib.metadata, json, sqlite3, sys
        import boto3, botocore, dateutil, jmespath, s3transfer, six, urllib3

        def handler(event, context):
            return {
                "boto3": boto3.__version__,
                "metadata": importlib.metadata.version("boto3"),
                "buckets": isinstance(boto3.client("s3").list_buckets()["Buckets"], list),
                "path": sys.path,
            }
    """
    seen = json.loads(invoke(aws, create_function(source, Timeout=30), {})["Body"])
    assert seen["boto3"] == seen["metadata"]
    assert seen["buckets"] is True
    assert not any(
        path.endswith("site-packages")
        and "lib/python3.11/site-packages" in path
        and "/python/lib/" not in path
        for path in seen["path"]
    ), seen["path"]


def test_the_runtime_variables(aws, create_function):
    source = """
        import os, sys

        NAMES = [
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_EXECUTION_ENV",
            "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER",
        ]

        def handler(event, context):
            return {"env": {n: os.environ.get(n) for n in NAMES}, "path0": sys.path[0],
                    "stream": context.log_stream_name}
    """
    name = create_function(source, Timeout=30, MemorySize=256, Layers=[])
    seen = json.loads(invoke(aws, name, {})["Body"])
    env = seen["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == seen["stream"]
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "app.handler"
    assert seen["path0"] == env["LAMBDA_TASK_ROOT"]  # the code comes first on the import path
    assert env["LAMBDA_RUNTIME_DIR"]

    # The runtime's variables are its own: a configuration that sets one is refused, as on AWS.
    for reserved in ("AWS_REGION", "_HANDLER", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"):
        with pytest.raises(ClientError) as refused:
            aws("lambda").update_function_configuration(
                FunctionName=name, Environment={"Variables": {reserved: "x", "MINE": "y"}}
            )
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert refused.value.response["Error"]["Message"].endswith(
            f"Reserved keys used in this request: {reserved}"
        )

    # The invocation's log is in CloudWatch Logs, in the stream the handler was told.
    events = aws("logs").get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=env["AWS_LAMBDA_LOG_STREAM_NAME"]
    )["events"]
    assert any(e["message"].startswith("REPORT RequestId:") for e in events)


@pytest.mark.skipif(
    not lambda_sandbox.sandbox().private_tmp,
    reason="a private /tmp needs a root server on a host that allows mount namespaces (LIMITATIONS)",
)
def test_tmp_is_private_to_each_function(aws, create_function):
    source = """
        import os

        def handler(event, context):
            seen = sorted(os.listdir("/tmp"))
            with open(os.path.join("/tmp", event["write"]), "w") as f:
                f.write("x")
            return seen
    """
    first, second = create_function(source, Timeout=30), create_function(source, Timeout=30)
    marker = unique("marker")
    assert marker not in json.loads(invoke(aws, first, {"write": marker})["Body"])
    # The same warm environment keeps its /tmp, as Lambda's does...
    assert marker in json.loads(invoke(aws, first, {"write": unique("again")})["Body"])
    # ...which is not the host's...
    assert not os.path.exists(os.path.join("/tmp", marker))
    # ...and another function never sees it.
    assert marker not in json.loads(invoke(aws, second, {"write": unique("other")})["Body"])


def test_report_memory_is_the_workers_own(aws, create_function):
    source = """
        def handler(event, context):
            if event.get("grow"):
                block = bytearray(event["grow"] * 1024 * 1024)
                block[::4096] = b"x" * len(block[::4096])
                return len(block)
            return 0
    """
    name = create_function(source, Timeout=30, MemorySize=128)
    tiny = invoke(aws, name, {}, LogType="Tail")
    used = _max_memory(tiny)
    assert 5 <= used < 128, used
    grown = invoke(aws, name, {"grow": 60}, LogType="Tail")
    assert "FunctionError" not in grown, grown["Body"]
    assert _max_memory(grown) >= used + 50


def _max_memory(response: dict[str, Any]) -> int:
    log = base64.b64decode(response["LogResult"]).decode()
    report = next(line for line in log.splitlines() if line.startswith("REPORT"))
    return int(report.split("Max Memory Used: ")[1].split(" MB")[0])


def test_layers_are_checked_as_lambda_checks_them(aws, create_function, greet_layer):
    lam = aws("lambda")
    with pytest.raises(ClientError) as too_many:
        create_function(IMPORTS_GREET, Layers=[greet_layer] * 6)
    assert too_many.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "more than 5 layers" in too_many.value.response["Error"]["Message"]
    missing = greet_layer.rsplit(":", 1)[0] + ":99"
    with pytest.raises(ClientError) as unknown:
        create_function(IMPORTS_GREET, Layers=[missing])
    assert unknown.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert missing in unknown.value.response["Error"]["Message"]

    layer_name = greet_layer.split(":")[6]
    got = lam.get_layer_version(LayerName=layer_name, VersionNumber=int(greet_layer.rsplit(":", 1)[1]))
    assert got["LayerVersionArn"] == greet_layer
    assert [v["LayerVersionArn"] for v in lam.list_layer_versions(LayerName=layer_name)["LayerVersions"]] == [
        greet_layer
    ]
    assert layer_name in [layer["LayerName"] for layer in lam.list_layers()["Layers"]]
    lam.delete_layer_version(LayerName=layer_name, VersionNumber=int(greet_layer.rsplit(":", 1)[1]))
    assert lam.list_layer_versions(LayerName=layer_name)["LayerVersions"] == []
