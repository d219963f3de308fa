"""Every function's zip carries the same bytes of the shared Lambda helpers, and runs from the zip alone."""

from __future__ import annotations

import ast
import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cdc_pipeline.definitions import PIPELINES
from cdc_pipeline.provision.lambda_function import SHARED_FOLDER, build_zip, code_sha256
from cdc_pipeline.settings import REPO_ROOT
from tests.support import unique, wait_until

LAMBDA = REPO_ROOT / "lambda"
SHARED = LAMBDA / SHARED_FOLDER


def function_folders() -> list[Path]:
    """The folder of every function a pipeline deploys (transforms and consumers)."""
    folders = set()
    for definition in PIPELINES.values():
        for name in (definition.transform_folder, definition.consumer_folder):
            if name:
                folders.add(LAMBDA / name)
    return sorted(folders)


def members(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_every_deployed_zip_carries_the_same_bytes_of_each_shared_module():
    folders = function_folders()
    assert {folder.name for folder in folders} >= {"cdc_transform", "kinesis_consumer"}
    shared = {path.name: path.read_bytes() for path in SHARED.glob("*.py")}
    assert "lake_rows.py" in shared
    for folder in folders:
        zipped = members(build_zip(folder))
        assert "handler.py" in zipped, folder
        for name, source in shared.items():
            assert zipped.get(name) == source, f"{folder.name}'s zip does not carry {SHARED / name} as it is"
        assert not any(name.startswith(("tests/", SHARED_FOLDER + "/")) for name in zipped), sorted(zipped)


def test_the_zip_is_deterministic_and_follows_the_shared_module(tmp_path: Path):
    functions = tmp_path / "functions"
    (functions / "f").mkdir(parents=True)
    (functions / "f" / "handler.py").write_text("import helpers\n")
    (functions / SHARED_FOLDER).mkdir()
    (functions / SHARED_FOLDER / "helpers.py").write_text("X = 1\n")
    first = build_zip(functions / "f")
    assert build_zip(functions / "f") == first
    assert list(members(first)) == ["handler.py", "helpers.py"]
    (functions / SHARED_FOLDER / "helpers.py").write_text("X = 2\n")
    assert code_sha256(build_zip(functions / "f")) != code_sha256(first)


def test_a_function_file_named_like_a_shared_module_is_refused(tmp_path: Path):
    functions = tmp_path / "functions"
    (functions / "f").mkdir(parents=True)
    (functions / "f" / "handler.py").write_text("")
    (functions / "f" / "helpers.py").write_text("")
    (functions / SHARED_FOLDER).mkdir()
    (functions / SHARED_FOLDER / "helpers.py").write_text("")
    with pytest.raises(ValueError, match=r"helpers\.py has the name of the shared module"):
        build_zip(functions / "f")


#: What AWS's managed layer AWS SDK for pandas adds, which the Parquet consumer's own module may import
#: (the provisioning adds the layer to a function that writes Parquet: provision/consumer.py).
LAYER_PACKAGES = {"pyarrow"}


def imported(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (at any depth of the file)."""
    tree = ast.parse(path.read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    return modules | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }


@pytest.mark.parametrize("folder", function_folders(), ids=lambda folder: folder.name)
def test_each_handler_uses_only_the_standard_library_boto3_and_the_shared_modules(folder: Path):
    shared = {path.stem for path in SHARED.glob("*.py")}
    own = {path.stem for path in folder.glob("*.py")}
    runtime = sys.stdlib_module_names | {"__future__", "boto3"} | shared | own
    modules = imported(folder / "handler.py")
    assert modules <= runtime, modules - runtime
    assert "lake_rows" in modules
    # The function's other modules may also use the layer's packages; the handler imports them only
    # when it needs them, so a function without the layer still starts.
    needs_layer = set()
    for module in sorted(folder.glob("*.py")):
        assert imported(module) <= runtime | LAYER_PACKAGES, (module.name, imported(module) - runtime)
        if imported(module) & LAYER_PACKAGES:
            needs_layer.add(module.stem)
    top_level = {
        name
        for node in ast.parse((folder / "handler.py").read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
    }
    assert not top_level & needs_layer, top_level & needs_layer


@pytest.mark.parametrize("folder", function_folders(), ids=lambda folder: folder.name)
def test_each_handler_imports_from_its_zip_alone(folder: Path, tmp_path: Path):
    # -I: no PYTHONPATH, no current folder; only the unpacked zip and the runtime's packages (boto3).
    with zipfile.ZipFile(io.BytesIO(build_zip(folder))) as archive:
        archive.extractall(tmp_path)
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import handler, lake_rows; print(lake_rows.__file__)"
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "lake_rows.py")


def test_the_deployed_transform_runs_on_the_embedded_lambda(aws: Any):
    # Lambda refuses a role it cannot assume (local_aws.iam.passed_roles), as on AWS.
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    policy = {"Version": "2012-10-17", "Statement": [trust]}
    role = aws("iam").create_role(RoleName=unique("zip-role"), AssumeRolePolicyDocument=json.dumps(policy))
    name = unique("zip-transform")
    lam = aws("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.lambda_handler",
        Code={"ZipFile": build_zip(LAMBDA / "cdc_transform")},
        Timeout=60,
    )
    try:
        wait_until(
            lambda: lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active",
            timeout=60,
            what="function Active",
        )
        change = {
            "eventID": "e1",
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"orderid": {"S": "o1"}},
                "NewImage": {
                    "orderid": {"S": "o1"},
                    "price": {"N": "349.90"},
                    "updated_at": {"S": "2024-05-01T12:34:56.789Z"},
                },
                "SequenceNumber": "100",
            },
        }
        data = base64.b64encode(json.dumps(change).encode()).decode()
        event = {"records": [{"recordId": "r1", "data": data, "approximateArrivalTimestamp": 1714566896789}]}
        response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        assert "FunctionError" not in response, response["Payload"].read()
        (record,) = json.loads(response["Payload"].read())["records"]
        assert record["result"] == "Ok"
        row = base64.b64decode(record["data"]).decode()
        assert '"event_time":"2024-05-01T12:34:56.789Z"' in row and '"price":349.90' in row
    finally:
        lam.delete_function(FunctionName=name)
