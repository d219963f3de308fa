"""Lambda handlers are untrusted code: they run sandboxed, within their memory, time and payload quotas.

Hostile handlers try what a handler did to the server before the sandbox existed: read its
memory and environment through /proc, signal it, plant a file in its state dir, read its
snapshot. Each attempt must fail inside the handler with PermissionError, and the server must
stay up with its state dir as it was.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pwd
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws import lambda_sandbox
from local_aws.lambda_sandbox import SANDBOX_USER
from local_aws.persistence import JOURNAL_PATTERN
from tests.local_aws.lambda_helpers import (
    create_function,
    invoke,
    lambda_role,
    make_zip,
    role_arn,
    wait_active,
)
from tests.local_aws.server_process import ServerProcess
from tests.support import unique, wait_until

# The Lambda tests' fixtures, shared: a role, and functions made from handler source.
__all__ = ["create_function", "role_arn"]

as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="handlers change user only when the server runs as root"
)

# What Lambda's Python runtime puts in a handler's environment, besides the function's variables.
RUNTIME_VARIABLES = {
    "_HANDLER",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
    "LANG",
    "PATH",
}


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response.get("FunctionError") == "Unhandled", response["Body"][:300]
    return json.loads(response["Body"])


# -- who the handler is and what it sees -----------------------------------------------------
@as_root
def test_handler_runs_as_the_unprivileged_sandbox_user(aws, create_function):
    source = """
        import os
        def handler(event, context):
            return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups()}
    """
    identity = json.loads(invoke(aws, create_function(source), {})["Body"])
    user = pwd.getpwnam(SANDBOX_USER)
    assert identity["uid"] == identity["euid"] == user.pw_uid != 0
    assert identity["gid"] == user.pw_gid != 0
    assert set(identity["groups"]) <= {user.pw_gid}  # none of the server's groups


def test_handler_sees_only_the_functions_and_the_runtimes_environment(aws, create_function, monkeypatch):
    secret = "server-only-" + unique("secret")
    monkeypatch.setenv("LOCAL_AWS_TEST_DATABASE_PASSWORD", secret)
    source = """
        import os
        import boto3

        def attempt(path):
            try:
                with open(path, "rb") as handle:
                    return handle.read().decode("utf-8", "replace")
            except PermissionError:
                return "PermissionError"

        def handler(event, context):
            identity = boto3.client("sts").get_caller_identity()
            return {
                "environ": dict(os.environ),
                "self": attempt("/proc/self/environ"),
                "server": attempt(f"/proc/{event['server_pid']}/environ"),
                "caller": identity["Arn"],
            }
    """
    name = create_function(source, Environment={"Variables": {"COLOUR": "teal"}}, Timeout=30)
    response = invoke(aws, name, {"server_pid": os.getpid()})
    assert "FunctionError" not in response, response["Body"]
    seen = json.loads(response["Body"])

    # Exactly the function's variables and the runtime's (LD_LIBRARY_PATH when the sandbox runs
    # a mirrored interpreter, as Lambda sets it too): no HOME, VIRTUAL_ENV or anything else.
    assert set(seen["environ"]) - {"LD_LIBRARY_PATH"} == RUNTIME_VARIABLES | {"COLOUR"}
    assert seen["environ"]["COLOUR"] == "teal"
    assert seen["environ"]["TZ"] == ":UTC"
    assert secret not in json.dumps(seen["environ"])
    assert secret not in seen["self"]
    assert seen["server"] == "PermissionError"

    # The credentials are the execution role's, temporary, never the server's.
    assert seen["environ"]["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert seen["environ"]["AWS_ACCESS_KEY_ID"] != os.environ["AWS_ACCESS_KEY_ID"]
    role_name = aws("lambda").get_function(FunctionName=name)["Configuration"]["Role"].split("/")[-1]
    assert f":assumed-role/{role_name}/{name}" in seen["caller"]


def test_without_root_the_handler_keeps_the_scrubbed_environment(aws, create_function, monkeypatch):
    # What a server that is not root does: no user to switch to, its own interpreter; the
    # environment is still built from nothing.
    same_user = lambda_sandbox.Sandbox(None, None, sys.executable, lambda_sandbox.sandbox().site_dirs)
    monkeypatch.setattr(lambda_sandbox, "_prepared", same_user)
    monkeypatch.setenv("LOCAL_AWS_TEST_DATABASE_PASSWORD", "server-only")
    source = """
        import os
        import boto3
        def handler(event, context):
            return {"uid": os.getuid(), "environ": sorted(os.environ), "boto3": boto3.__version__}
    """
    seen = json.loads(invoke(aws, create_function(source, Timeout=30), {})["Body"])
    assert seen["uid"] == os.getuid()
    assert set(seen["environ"]) == RUNTIME_VARIABLES


# -- hostile handlers against a server with a state dir ---------------------------------------
HOSTILE = """
    import os, signal

    def attempt(action):
        try:
            return "succeeded: " + repr(action())[:80]
        except PermissionError:
            return "PermissionError"
        except Exception as error:
            return f"{type(error).__name__}: {error}"

    def read_memory(pid):
        with open(f"/proc/{pid}/mem", "rb") as memory:
            with open(f"/proc/{pid}/maps") as maps:
                start = int(maps.readline().split("-")[0], 16)
            memory.seek(start)
            return memory.read(64)

    def plant(state_dir):
        with open(os.path.join(state_dir, "planted.pickle"), "wb") as planted:
            planted.write(b"cos\\nsystem\\n(S'touch /tmp/owned'\\ntR.")
        return "planted"

    def handler(event, context):
        pid, state_dir = event["server_pid"], event["state_dir"]
        results = {
            "read memory": attempt(lambda: read_memory(pid)),
            "read environ": attempt(lambda: open(f"/proc/{pid}/environ", "rb").read()),
            "plant a file": attempt(lambda: plant(state_dir)),
            "read snapshot": attempt(lambda: open(event["snapshot"], "rb").read(16)),
            "list state dir": attempt(lambda: os.listdir(state_dir)),
            # The function's own code and the runtime are read-only, as /var/task and /var/runtime are.
            "change own code": attempt(lambda: open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py"), "a")),
            "add to own code": attempt(lambda: open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.py"), "w")),
            "change the runtime": attempt(
                lambda: open(os.path.join(os.environ["LAMBDA_RUNTIME_DIR"], "lambda_worker.py"), "a")
            ),
        }
        # Last, so that the others are tried whatever this does.
        results["kill the server"] = attempt(lambda: os.kill(pid, signal.SIGKILL))
        return results
"""


@pytest.fixture
def state_server() -> Iterator[ServerProcess]:
    # A parent every user may traverse: what protects the state dir must be the server's doing,
    # not a private temporary directory around it.
    # Outside /tmp: a handler's /tmp is its own, the host's /var/tmp is not.
    parent = Path(tempfile.mkdtemp(prefix="lambda-sandbox-", dir="/var/tmp"))
    parent.chmod(0o755)
    server = ServerProcess(parent / "state", snapshot_interval=0.5)
    try:
        yield server.start()
    finally:
        server.stop()


def _listing(state_dir: Path) -> set[str]:
    # Journal segments are renamed by every snapshot (journal.<n>.log): the server's, not planted.
    return {path.name for path in state_dir.iterdir() if not JOURNAL_PATTERN.match(path.name)}


@as_root
def test_hostile_handler_cannot_reach_the_server_or_its_state_dir(state_server):
    state_dir = Path(state_server.state_dir)
    lam = state_server.client("lambda")
    role = lambda_role(state_server.client("iam"), "hostile")
    lam.create_function(
        FunctionName="hostile",
        Runtime="python3.11",
        Role=role["Arn"],
        Handler="app.handler",
        Code={"ZipFile": make_zip(HOSTILE)},
        Timeout=30,
    )
    wait_active(lam, "hostile")
    snapshot = wait_until(lambda: sorted(state_dir.glob("snapshot*")), timeout=60, what="a snapshot")[0]
    before = _listing(state_dir)

    event = {"server_pid": state_server.process.pid, "state_dir": str(state_dir), "snapshot": str(snapshot)}
    response = lam.invoke(FunctionName="hostile", Payload=json.dumps(event).encode())
    body = response["Payload"].read()
    assert "FunctionError" not in response, body
    results = json.loads(body)
    assert results == {
        "read memory": "PermissionError",
        "read environ": "PermissionError",
        "plant a file": "PermissionError",
        "read snapshot": "PermissionError",
        "list state dir": "PermissionError",
        "change own code": "PermissionError",
        "add to own code": "PermissionError",
        "change the runtime": "PermissionError",
        "kill the server": "PermissionError",
    }

    assert state_server.process.poll() is None, state_server.log_tail()
    assert lam.get_function(FunctionName="hostile")["Configuration"]["FunctionName"] == "hostile"
    assert not (state_dir / "planted.pickle").exists()
    assert _listing(state_dir) <= before | {name + ".tmp" for name in before}


# -- memory and time ---------------------------------------------------------------------------
MEMORY_HOG = """
    import os, threading
    import boto3

    hoard = []

    def handler(event, context):
        if event.get("allocate_mb"):
            for _ in range(event["allocate_mb"] // 16):
                hoard.append(b"x" * (16 * 1024 * 1024))  # written, so resident
            return "survived"
        # Within the quota: boto3 and a few threads must not be mistaken for a memory hog.
        boto3.client("s3")
        threads = [threading.Thread(target=lambda: bytearray(4 * 1024 * 1024)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {"pid": os.getpid()}
"""


def test_a_handler_past_its_memory_size_is_killed_and_replaced(aws, create_function):
    name = create_function(MEMORY_HOG, MemorySize=128, Timeout=60)
    first = invoke(aws, name, {})
    assert "FunctionError" not in first, first["Body"]
    pid = json.loads(first["Body"])["pid"]

    killed = invoke(aws, name, {"allocate_mb": 1024}, LogType="Tail")
    error = error_of(killed)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].startswith("RequestId: ")
    assert error["errorMessage"].endswith(" Error: Runtime exited with error: signal: killed")
    log = base64.b64decode(killed["LogResult"]).decode()
    report = next(line for line in log.splitlines() if line.startswith("REPORT"))
    assert "Memory Size: 128 MB" in report
    assert "Status: error\tError Type: Runtime.OutOfMemory" in report
    assert int(report.split("Max Memory Used: ")[1].split(" MB")[0]) > 128  # the peak that was measured

    # The next invocation gets a fresh environment.
    again = invoke(aws, name, {})
    assert "FunctionError" not in again, again["Body"]
    assert json.loads(again["Body"])["pid"] != pid


def test_a_timeout_ends_what_the_handler_started_too(aws, create_function):
    # /var/tmp: the handler's /tmp is its own, invisible to this test.
    marker = os.path.join("/var/tmp", unique("lambda-child") + ".pid")
    source = """
        import subprocess, time
        def handler(event, context):
            child = subprocess.Popen(["sleep", "600"])
            with open(event["marker"], "w") as handle:
                handle.write(str(child.pid))
            time.sleep(600)
    """
    name = create_function(source, Timeout=2)
    response = invoke(aws, name, {"marker": marker})
    assert "Task timed out after 2.00 seconds" in error_of(response)["errorMessage"]
    child = int(Path(marker).read_text())

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            return True
        return stat.split(") ", 1)[1].startswith("Z")  # a zombie has ended

    wait_until(gone, timeout=60, what=f"the handler's child {child} to end with its environment")
    os.unlink(marker)


# -- payload quotas ----------------------------------------------------------------------------
def json_string_of_size(size: int) -> bytes:
    """A JSON document (one string) of exactly ``size`` bytes."""
    return b'"' + b"a" * (size - 2) + b'"'


LENGTH = """
    def handler(event, context):
        if isinstance(event, dict) and "return_bytes" in event:
            return "A" * event["return_bytes"]
        return len(event)
"""


def test_synchronous_payload_over_6_mb_is_refused(aws, create_function):
    name = create_function(LENGTH, Timeout=60)
    limit = 6 * 1024 * 1024
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName=name, Payload=json_string_of_size(limit + 1))
    error = caught.value.response["Error"]
    assert error["Code"] == "RequestEntityTooLargeException"
    assert error["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413

    at_limit = aws("lambda").invoke(FunctionName=name, Payload=json_string_of_size(limit))
    assert json.loads(at_limit["Payload"].read()) == limit - 2


def test_asynchronous_payload_over_1_mb_is_refused(aws, create_function):
    name = create_function(LENGTH)
    limit = 1024 * 1024
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(
            FunctionName=name, InvocationType="Event", Payload=json_string_of_size(limit + 1)
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "RequestEntityTooLargeException"
    assert (
        error["Message"]
        == f"{limit + 1} byte payload is too large for the Event invocation type (limit {limit} bytes)"
    )
    accepted = aws("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=json_string_of_size(limit)
    )
    assert accepted["StatusCode"] == 202


def test_response_over_the_limit_is_a_function_error(aws, create_function):
    name = create_function(LENGTH, Timeout=60)
    # The JSON of the returned string is two bytes longer than the string.
    too_large = invoke(aws, name, {"return_bytes": 6 * 1024 * 1024 + 100 - 1})
    error = error_of(too_large)
    assert error == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }
    largest = invoke(aws, name, {"return_bytes": 6 * 1024 * 1024 + 100 - 2})
    assert "FunctionError" not in largest
    assert len(largest["Body"]) == 6291556


def test_a_handler_that_forges_the_runtime_protocol_is_stopped(aws, create_function):
    # The handler shares its process with the runtime, so it can write to the runtime's channel
    # to the server: a frame that announces 4 GiB must end the environment, not be waited for.
    source = """
        import os, time
        def handler(event, context):
            if event.get("forge"):
                assert os.readlink("/proc/self/fd/3").startswith("pipe:")
                os.write(3, b"\\xff\\xff\\xff\\xff")
                time.sleep(60)
            return "fine"
    """
    name = create_function(source, Timeout=30)
    error = error_of(invoke(aws, name, {"forge": True}))
    assert error["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: the runtime sent a malformed frame" in error["errorMessage"]
    assert json.loads(invoke(aws, name, {})["Body"]) == "fine"


def zip_bomb(unzipped_bytes: int) -> bytes:
    """A valid deployment package whose one data file inflates to ``unzipped_bytes`` of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'bomb'\n")
        with archive.open("data.bin", "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(unzipped_bytes // len(chunk)):
                member.write(chunk)
            member.write(bytes(unzipped_bytes % len(chunk)))
    return buffer.getvalue()


def test_a_package_over_the_unzipped_quota_is_refused(aws, create_function, role_arn):
    bomb = zip_bomb(262_144_000 - len("def handler(event, context):\n    return 'bomb'\n") + 1)
    assert len(bomb) < 1024 * 1024  # small on the wire, 250 MB on disk
    name = unique("fn")
    with pytest.raises(ClientError) as caught:
        aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler="app.handler",
            Code={"ZipFile": bomb},
        )
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
    )
    with pytest.raises(ClientError) as missing:
        aws("lambda").get_function(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # An update to a bomb is refused too, and the function keeps the code it had.
    existing = create_function("def handler(event, context):\n    return 'kept'\n")
    with pytest.raises(ClientError) as caught:
        aws("lambda").update_function_code(FunctionName=existing, ZipFile=bomb)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert json.loads(invoke(aws, existing, {})["Body"]) == "kept"


def test_one_function_cannot_read_another_functions_environment(aws, create_function):
    # Every function runs as the same sandbox user: what keeps them apart is that each
    # environment's process is not dumpable, so /proc and ptrace refuse a same-user reader.
    secret = unique("other-functions-secret")
    holder = create_function(
        "import os\ndef handler(event, context):\n    return os.getpid()\n",
        Environment={"Variables": {"API_KEY": secret}},
    )
    pid = json.loads(invoke(aws, holder, {})["Body"])  # its environment stays warm
    source = """
        def attempt(path):
            try:
                with open(path, "rb") as handle:
                    return handle.read(4096).decode("utf-8", "replace")
            except PermissionError:
                return "PermissionError"
            except OSError as error:  # opened, then failed to read (mem at offset 0): not refused
                return f"opened, then {error}"

        def handler(event, context):
            return {name: attempt(f"/proc/{event['pid']}/{name}") for name in ("environ", "mem")}
    """
    seen = json.loads(invoke(aws, create_function(source), {"pid": pid})["Body"])
    assert seen == {"environ": "PermissionError", "mem": "PermissionError"}
    assert json.loads(invoke(aws, holder, {})["Body"]) == pid  # the reader did not disturb it


def test_a_handler_acts_as_its_execution_role(aws, create_function):
    # A role that may only read: the handler's write is refused as AWS refuses it, because its
    # credentials are the role's, not the account's.
    role = lambda_role(aws("iam"), "read-only", ["s3:GetObject"])
    bucket = unique("role-bucket")
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key="readable.txt", Body=b"allowed")
    source = """
        import boto3
        from botocore.exceptions import ClientError
        def handler(event, context):
            s3 = boto3.client("s3")
            read = s3.get_object(Bucket=event["bucket"], Key="readable.txt")["Body"].read().decode()
            try:
                s3.put_object(Bucket=event["bucket"], Key="written.txt", Body=b"no")
                written = "written"
            except ClientError as error:
                written = error.response["Error"]["Code"]
            return {"read": read, "write": written}
    """
    name = create_function(source, Role=role["Arn"], Timeout=30)
    assert json.loads(invoke(aws, name, {"bucket": bucket})["Body"]) == {
        "read": "allowed",
        "write": "AccessDenied",
    }


def test_a_role_sts_cannot_assume_leaves_the_handler_without_credentials(
    aws, create_function, local_aws, monkeypatch
):
    # The account's own keys act as its root user here: a handler must never fall back to them.
    from moto.sts.models import STSBackend

    def refuse(self, **kwargs):
        raise RuntimeError("the role cannot be assumed")

    source = """
        import os
        import boto3
        from botocore.exceptions import NoCredentialsError
        def handler(event, context):
            keys = sorted(k for k in os.environ if k.startswith("AWS_") and "KEY" in k or k == "AWS_SESSION_TOKEN")
            try:
                boto3.client("s3").list_buckets()
                outcome = "listed"
            except NoCredentialsError:
                outcome = "no credentials"
            return {"keys": keys, "outcome": outcome}
    """
    name = create_function(source, Timeout=30)
    runtime = local_aws.world.component("lambda")
    monkeypatch.setattr(STSBackend, "assume_role", refuse)
    monkeypatch.setattr(runtime.pool, "role_credentials", {})
    assert json.loads(invoke(aws, name, {})["Body"]) == {"keys": [], "outcome": "no credentials"}
