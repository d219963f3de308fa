"""AWS's managed layer "AWS SDK for pandas" (AWSSDKPandas-Python3xx of account 336392948345).

A consumer that writes Parquet with pyarrow names that layer on AWS; local_aws must run it
unchanged: the layer is accepted in the function's own region, listed by GetFunction and
answered by GetLayerVersionByArn, and puts pyarrow, pandas and awswrangler on the handler's
import path, which a function without it still lacks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws.components.lambda_managed_layers import CODE_SIZE
from tests.local_aws.lambda_helpers import (
    create_function,
    invoke,
    layer_zip,
    publish_layer,
    role_arn,
    wait_updated,
)

__all__ = ["create_function", "role_arn"]

MANAGED = "arn:aws:lambda:{region}:336392948345:layer:AWSSDKPandas-Python311:{version}"
LAYER = MANAGED.format(region="us-east-1", version=6)
# pandas and pyarrow need more than Lambda's default 128 MB, on AWS too.
MEMORY = 1024

WRITES_PARQUET = """
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def handler(event, context):
        table = pa.table({"id": list(range(event["rows"])), "name": [f"n{i}" for i in range(event["rows"])]})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return pq.read_table(io.BytesIO(buffer.getvalue())).num_rows
"""


def _refusal(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]


def _import_error(response: dict[str, Any]) -> dict[str, Any]:
    assert response.get("FunctionError") == "Unhandled", response["Body"]
    return json.loads(response["Body"])


def test_a_function_with_the_layer_writes_parquet_with_pyarrow(aws, create_function):
    name = create_function(WRITES_PARQUET, Timeout=60, MemorySize=MEMORY, Layers=[LAYER])
    response = invoke(aws, name, {"rows": 3})
    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"]) == 3


def test_pyarrow_is_there_only_while_the_function_names_the_layer(aws, create_function):
    lam = aws("lambda")
    name = create_function(WRITES_PARQUET, Timeout=60, MemorySize=MEMORY)
    error = _import_error(invoke(aws, name, {"rows": 2}))
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'pyarrow'"

    lam.update_function_configuration(FunctionName=name, Layers=[LAYER])
    wait_updated(lam, name)
    assert json.loads(invoke(aws, name, {"rows": 2})["Body"]) == 2

    lam.update_function_configuration(FunctionName=name, Layers=[])
    wait_updated(lam, name)
    error = _import_error(invoke(aws, name, {"rows": 2}))
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'pyarrow'"


def test_the_layer_brings_pandas_and_awswrangler_after_the_functions_own_layers(aws, create_function):
    own = publish_layer(aws, layer_zip({"python/pandas_helpers.py": "ROWS = 4\n"}))
    source = """
        import io
        import sys

        import awswrangler
        import pandas as pd
        import pandas_helpers

        def handler(event, context):
            frame = pd.DataFrame({"id": range(pandas_helpers.ROWS)})
            parquet = frame.to_parquet()
            return {
                "rows": len(pd.read_parquet(io.BytesIO(parquet))),
                "wrangler": awswrangler.__version__,
                "pandas_first_at": next(i for i, p in enumerate(sys.path) if "aws-sdk-pandas" in p),
                "own_layer_at": sys.path.index(pandas_helpers.__file__.rsplit("/", 1)[0]),
            }
    """
    name = create_function(source, Timeout=60, MemorySize=MEMORY, Layers=[LAYER, own])
    response = invoke(aws, name, {})
    assert "FunctionError" not in response, response["Body"]
    seen = json.loads(response["Body"])
    assert seen["rows"] == 4
    assert seen["wrangler"]
    assert seen["own_layer_at"] < seen["pandas_first_at"]


def test_the_layer_of_another_region_is_refused(aws, create_function):
    foreign = MANAGED.format(region="eu-west-1", version=20)
    error = _refusal(lambda: create_function(WRITES_PARQUET, Layers=[foreign]))
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."
    )


def test_only_the_sdk_for_pandas_layers_exist_in_that_account(aws, create_function):
    lam = aws("lambda")
    name = create_function(WRITES_PARQUET, Layers=[LAYER])
    for missing in (
        "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python27:1",
        "arn:aws:lambda:us-east-1:336392948345:layer:Other:1",
    ):
        error = _refusal(
            lambda arn=missing: lam.update_function_configuration(FunctionName=name, Layers=[arn])
        )
        assert error["Code"] == "InvalidParameterValueException"
        assert error["Message"] == f"Layer version {missing} does not exist."
    assert [layer["Arn"] for layer in lam.get_function(FunctionName=name)["Configuration"]["Layers"]] == [
        LAYER
    ]


def test_the_layer_counts_towards_the_five_layer_quota(aws, create_function):
    published = [publish_layer(aws, layer_zip({f"python/m{i}.py": "X = 1\n"})) for i in range(5)]
    name = create_function(WRITES_PARQUET, Layers=[LAYER, *published[:4]])
    assert len(aws("lambda").get_function(FunctionName=name)["Configuration"]["Layers"]) == 5
    error = _refusal(lambda: create_function(WRITES_PARQUET, Layers=[LAYER, *published]))
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == "Cannot reference more than 5 layers."


def test_get_function_lists_the_layer(aws, create_function):
    lam = aws("lambda")
    arm = MANAGED.format(region="us-east-1", version=6).replace("Python311", "Python312-Arm64")
    name = create_function(WRITES_PARQUET, Layers=[arm])
    listed = lam.get_function(FunctionName=name)["Configuration"]["Layers"]
    assert listed == [{"Arn": arm, "CodeSize": CODE_SIZE}]
    assert CODE_SIZE > 0
    assert lam.get_function_configuration(FunctionName=name)["Layers"] == listed


def test_get_layer_version_by_arn_answers_the_layer(aws):
    arm = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python312-Arm64:17"
    got = aws("lambda").get_layer_version_by_arn(Arn=arm)
    assert got["LayerVersionArn"] == arm
    assert got["LayerArn"] == arm.rsplit(":", 1)[0]
    assert got["Version"] == 17
    assert got["CompatibleRuntimes"] == ["python3.12"]
    assert got["CompatibleArchitectures"] == ["arm64"]
    assert "pandas" in got["Description"]
    assert got["Content"]["CodeSize"] == CODE_SIZE
