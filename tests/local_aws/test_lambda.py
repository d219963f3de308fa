"""Lambda Invoke against local_aws, the way a boto3 user sees it: real handlers from real zips."""

from __future__ import annotations

import base64
import json
import textwrap
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.lambda_helpers import ACCOUNT_ID, create_function, invoke, make_zip, role_arn
from tests.support import unique, wait_until

# The module's fixtures: a role, and functions made from handler source.
__all__ = ["create_function", "role_arn"]


ECHO = """
    def handler(event, context):
        return {"got": event}
"""


def test_invoke_runs_the_handler_from_the_uploaded_zip(aws, create_function):
    name = create_function(ECHO)
    # "qualifier" in the event must not be taken for the Qualifier parameter.
    response = invoke(aws, name, {"order": 7, "items": ["a", "b"], "qualifier": "9"})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert json.loads(response["Body"]) == {"got": {"order": 7, "items": ["a", "b"], "qualifier": "9"}}


def test_no_payload_is_an_empty_event_and_none_is_null(aws, create_function):
    name = create_function("def handler(event, context):\n    return None if event == {} else 'unexpected'\n")
    assert invoke(aws, name)["Body"] == b"null"


def test_environment_variables_and_context(aws, create_function):
    source = """
        import os
        def handler(event, context):
            return {
                "colour": os.environ.get("COLOUR"),
                "region": os.environ.get("AWS_REGION"),
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
            }
    """
    name = create_function(source, Environment={"Variables": {"COLOUR": "teal"}}, MemorySize=256, Timeout=7)
    result = json.loads(invoke(aws, name, {})["Body"])
    assert result["colour"] == "teal"
    assert result["region"] == "us-east-1"
    assert result["function_name"] == name
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{name}"
    assert int(result["memory_limit_in_mb"]) == 256
    assert uuid.UUID(result["aws_request_id"])
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in result["log_stream_name"]
    assert 0 < result["remaining"] <= 7000


def test_handler_exception_is_an_unhandled_function_error(aws, create_function):
    source = """
        def handler(event, context):
            return helper(event["n"])

        def helper(n):
            raise ValueError(f"bad order {n}")
    """
    name = create_function(source)
    response = invoke(aws, name, {"n": 3})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Body"])
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad order 3"
    assert uuid.UUID(error["requestId"])
    assert isinstance(error["stackTrace"], list)
    assert any("in helper" in frame for frame in error["stackTrace"])
    assert not any("lambda_worker" in frame for frame in error["stackTrace"])


def test_timeout_kills_the_handler_and_reports_it(aws, create_function):
    source = """
        import time
        def handler(event, context):
            if event.get("sleep"):
                time.sleep(30)
            return "awake"
    """
    name = create_function(source, Timeout=1)
    response = invoke(aws, name, {"sleep": True}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Body"])
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    assert "Status: timeout" in base64.b64decode(response["LogResult"]).decode()
    # The killed environment is replaced: the next invocation works.
    assert json.loads(invoke(aws, name, {})["Body"]) == "awake"


def test_tail_log_has_the_handler_output_and_report_lines(aws, create_function):
    source = """
        import logging
        def handler(event, context):
            print("hello from the handler")
            logging.getLogger().warning("careful")
            return 1
    """
    name = create_function(source)
    response = invoke(aws, name, {}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "hello from the handler" in log
    assert "[WARNING]" in log and "careful" in log
    request_id = log.split("START RequestId: ", 1)[1].split(" ", 1)[0]
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log
    assert "LogResult" not in invoke(aws, name, {})  # only when asked for


def test_logs_reach_cloudwatch(aws, create_function):
    name = create_function("def handler(event, context):\n    print('logged line', event['k'])\n")
    invoke(aws, name, {"k": "v42"})
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert any("logged line v42" in event["message"] for event in events)


def test_warm_environment_is_reused_and_a_code_update_replaces_it(aws, create_function):
    counter = """
        calls = 0
        def handler(event, context):
            global calls
            calls += 1
            return {"version": VERSION, "calls": calls}
    """
    name = create_function("VERSION = 1\n" + textwrap.dedent(counter))
    assert json.loads(invoke(aws, name, {})["Body"]) == {"version": 1, "calls": 1}
    assert json.loads(invoke(aws, name, {})["Body"]) == {"version": 1, "calls": 2}

    aws("lambda").update_function_code(
        FunctionName=name, ZipFile=make_zip("VERSION = 2\n" + textwrap.dedent(counter))
    )
    assert json.loads(invoke(aws, name, {})["Body"]) == {"version": 2, "calls": 1}


def test_configuration_update_changes_environment(aws, create_function):
    source = "import os\ndef handler(event, context):\n    return os.environ['MODE']\n"
    name = create_function(source, Environment={"Variables": {"MODE": "first"}})
    assert json.loads(invoke(aws, name, {})["Body"]) == "first"
    aws("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": {"MODE": "second"}}
    )
    assert json.loads(invoke(aws, name, {})["Body"]) == "second"


def test_handler_boto3_calls_reach_local_aws(aws, create_function):
    bucket = unique("handler-bucket")
    aws("s3").create_bucket(Bucket=bucket)
    source = """
        import boto3
        def handler(event, context):
            s3 = boto3.client("s3")
            s3.put_object(Bucket=event["bucket"], Key="from-lambda.txt", Body=event["text"].encode())
            return s3.get_object(Bucket=event["bucket"], Key="from-lambda.txt")["Body"].read().decode()
    """
    name = create_function(source, Timeout=30)
    response = invoke(aws, name, {"bucket": bucket, "text": "written by a handler"})
    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"]) == "written by a handler"
    body = aws("s3").get_object(Bucket=bucket, Key="from-lambda.txt")["Body"].read()
    assert body == b"written by a handler"


def test_code_from_s3_and_handler_in_a_package(aws, create_function):
    bucket = unique("code-bucket")
    aws("s3").create_bucket(Bucket=bucket)
    package = make_zip(
        "from pkg.helpers import shout\ndef handler(event, context):\n    return shout(event['word'])\n",
        module="pkg/main",
        extra={"pkg/__init__.py": "", "pkg/helpers.py": "def shout(w):\n    return w.upper() + '!'\n"},
    )
    aws("s3").put_object(Bucket=bucket, Key="code/fn.zip", Body=package)
    name = create_function("", handler="pkg/main.handler", Code={"S3Bucket": bucket, "S3Key": "code/fn.zip"})
    assert json.loads(invoke(aws, name, {"word": "hey"})["Body"]) == "HEY!"


def test_import_errors_have_the_runtime_shape(aws, create_function):
    missing_module = create_function(ECHO, handler="nowhere.handler")
    response = invoke(aws, missing_module, {})
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Body"])
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"].startswith("Unable to import module 'nowhere'")

    missing_function = create_function(ECHO, handler="app.absent")
    error = json.loads(invoke(aws, missing_function, {})["Body"])
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'absent' missing on module 'app'"

    syntax = create_function("def handler(event, context)\n    return 1\n")
    error = json.loads(invoke(aws, syntax, {})["Body"])
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"


def test_unserialisable_result_is_a_marshal_error(aws, create_function):
    name = create_function("def handler(event, context):\n    return {1, 2}\n")
    response = invoke(aws, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Body"])["errorType"] == "Runtime.MarshalError"


def test_handler_that_exits_the_process_is_a_runtime_exit_error(aws, create_function):
    name = create_function("import sys\ndef handler(event, context):\n    sys.exit(event['code'])\n")
    response = invoke(aws, name, {"code": 3})
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Body"])
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"]


def test_event_invocation_returns_202_and_runs_in_the_background(aws, create_function):
    bucket = unique("async-bucket")
    aws("s3").create_bucket(Bucket=bucket)
    source = """
        import boto3
        def handler(event, context):
            boto3.client("s3").put_object(Bucket=event["bucket"], Key="async.txt", Body=b"done")
    """
    name = create_function(source, Timeout=30)
    response = invoke(aws, name, {"bucket": bucket}, InvocationType="Event")
    assert response["StatusCode"] == 202

    def written() -> bool:
        try:
            return aws("s3").get_object(Bucket=bucket, Key="async.txt")["Body"].read() == b"done"
        except ClientError:
            return False

    wait_until(written, timeout=30, what="the asynchronous invocation to write its object")


def test_dry_run_returns_204_without_running(aws, create_function):
    name = create_function("def handler(event, context):\n    raise RuntimeError('must not run')\n")
    response = invoke(aws, name, {}, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert "FunctionError" not in response


def test_invalid_json_payload_is_rejected(aws, create_function):
    name = create_function(ECHO)
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName=name, Payload=b"{not json")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_unknown_function_is_resource_not_found(aws):
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName=unique("nope"), Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_non_python_runtime_fails_as_invalid_runtime(aws, create_function):
    name = create_function(ECHO, handler="index.handler", Runtime="nodejs20.x")
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "InvalidRuntimeException"
    assert "nodejs20.x" in caught.value.response["Error"]["Message"]


def test_published_version_keeps_its_code(aws, create_function):
    name = create_function("def handler(event, context):\n    return 'one'\n")
    version = aws("lambda").publish_version(FunctionName=name)["Version"]
    aws("lambda").update_function_code(
        FunctionName=name, ZipFile=make_zip("def handler(e, c):\n    return 'two'\n")
    )
    response = invoke(aws, name, {}, Qualifier=version)
    assert response["ExecutedVersion"] == version
    assert json.loads(response["Body"]) == "one"
    assert json.loads(invoke(aws, name, {})["Body"]) == "two"


def test_python_api_for_other_components(local_aws, create_function):
    from local_aws.components.lambda_model import FunctionNotFound, Invocation

    name = create_function("def handler(event, context):\n    return {'n': event['n'] * 2}\n")
    runtime = local_aws.world.component("lambda")
    result = runtime.invoke(name, json.dumps({"n": 21}).encode())
    assert isinstance(result, Invocation)
    assert (result.status_code, result.function_error, result.executed_version) == (200, None, "$LATEST")
    assert json.loads(result.payload) == {"n": 42}
    assert "REPORT RequestId" in result.log_tail

    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{name}"
    with local_aws.world.lock:  # a caller holding the lock: it is set down while the handler runs
        assert json.loads(runtime.invoke(arn, b'{"n": 1}').payload) == {"n": 2}

    with pytest.raises(LookupError):
        runtime.invoke(unique("missing"), b"{}")
    assert issubclass(FunctionNotFound, LookupError)


# -- runtime lifecycle: AWS's block-create and block-update dates ---------------------------------
BLOCKED_MESSAGE = (
    "The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
    "functions. We recommend you use the new runtime (python3.14) while creating or updating functions."
)


def test_create_function_refuses_a_runtime_past_its_block_create_date(aws, create_function):
    name = unique("fn-py37")
    with pytest.raises(ClientError) as error:
        create_function(ECHO, FunctionName=name, Runtime="python3.7")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert error.value.response["Error"]["Message"] == BLOCKED_MESSAGE.format(runtime="python3.7")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as missing:
        aws("lambda").get_function(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_updates_are_refused_past_the_block_update_date_but_moving_to_a_supported_runtime_is_not(
    aws, create_function
):
    from moto.awslambda.models import lambda_backends

    name = create_function(ECHO)
    # A function created on python3.8 while AWS still allowed it: set in the backend directly,
    # since CreateFunction now refuses python3.8.
    function = lambda_backends[ACCOUNT_ID]["us-east-1"].get_function(name)
    function.run_time = "python3.8"
    client = aws("lambda")
    with pytest.raises(ClientError) as error:
        client.update_function_code(FunctionName=name, ZipFile=make_zip(ECHO))
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert error.value.response["Error"]["Message"] == BLOCKED_MESSAGE.format(runtime="python3.8")
    with pytest.raises(ClientError) as error:
        client.update_function_configuration(FunctionName=name, Timeout=5)
    assert error.value.response["Error"]["Message"] == BLOCKED_MESSAGE.format(runtime="python3.8")
    # The way out AWS documents: change the runtime to a supported one.
    client.update_function_configuration(FunctionName=name, Runtime="python3.14")
    assert client.get_function_configuration(FunctionName=name)["Runtime"] == "python3.14"


def test_the_lifecycle_table_blocks_on_the_published_dates():
    from datetime import date

    from local_aws.lambda_runtimes import CREATE, UPDATE, refusal

    assert refusal("python3.11", CREATE, on=date(2027, 7, 30)) is None
    assert refusal("python3.11", CREATE, on=date(2027, 7, 31)) is not None
    assert refusal("python3.11", UPDATE, on=date(2027, 8, 30)) is None
    assert refusal("python3.11", UPDATE, on=date(2027, 8, 31)) is not None
    assert refusal("python3.13", CREATE, on=date(2029, 7, 30)) is None
    assert refusal("nodejs22.x", CREATE, on=date(2099, 1, 1)) is None  # not in the table
