"""Prepared statements as a boto3 user sees them: the five APIs per workgroup, and PREPARE/EXECUTE/DEALLOCATE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.test_athena import finish, rows_of
from tests.support import unique


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    s3, glue, athena = aws("s3"), aws("glue"), aws("athena")
    bucket, database, workgroup = unique("ps-lake"), unique("ps").replace("-", "_"), unique("ps-wg")
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "orders",
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "int"}, {"Name": "item", "Type": "string"}],
                "Location": f"s3://{bucket}/orders/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"field.delim": ","},
                },
            },
        },
    )
    s3.put_object(Bucket=bucket, Key="orders/a.csv", Body=b"1,lamp\n2,desk\n3,pen\n")
    athena.create_work_group(
        Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}}
    )
    return {"bucket": bucket, "database": database, "workgroup": workgroup}


def _run(aws: Callable[..., Any], lake: dict[str, Any], sql: str, **kwargs: Any) -> dict[str, Any]:
    execution_id = aws("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": lake["database"]},
        WorkGroup=lake["workgroup"],
        **kwargs,
    )["QueryExecutionId"]
    return finish(aws, execution_id)


def _rows(aws: Callable[..., Any], lake: dict[str, Any], sql: str, **kwargs: Any) -> list[list[str | None]]:
    execution = _run(aws, lake, sql, **kwargs)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return rows_of(aws, execution["QueryExecutionId"])[1:]


def _error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_the_prepared_statement_apis_per_workgroup(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    athena, workgroup = aws("athena"), unique("ps-api")  # a workgroup of its own: the listing is exact
    athena.create_work_group(Name=workgroup)
    for index in range(3):
        athena.create_prepared_statement(
            StatementName=f"by_id_{index}",
            WorkGroup=workgroup,
            QueryStatement="SELECT item FROM orders WHERE id = ?",
            Description=f"number {index}",
        )
    got = athena.get_prepared_statement(StatementName="by_id_1", WorkGroup=workgroup)["PreparedStatement"]
    assert got["StatementName"] == "by_id_1" and got["WorkGroupName"] == workgroup
    assert got["QueryStatement"] == "SELECT item FROM orders WHERE id = ?"
    assert got["Description"] == "number 1" and got["LastModifiedTime"]
    first = athena.list_prepared_statements(WorkGroup=workgroup, MaxResults=2)
    second = athena.list_prepared_statements(WorkGroup=workgroup, MaxResults=2, NextToken=first["NextToken"])
    listed = [s["StatementName"] for s in first["PreparedStatements"] + second["PreparedStatements"]]
    assert listed == ["by_id_0", "by_id_1", "by_id_2"] and "NextToken" not in second
    # Another workgroup has its own names.
    others = athena.list_prepared_statements(WorkGroup="primary")["PreparedStatements"]
    assert not {s["StatementName"] for s in others} & set(listed)
    athena.update_prepared_statement(
        StatementName="by_id_2", WorkGroup=workgroup, QueryStatement="SELECT id FROM orders WHERE item = ?"
    )
    got = athena.get_prepared_statement(StatementName="by_id_2", WorkGroup=workgroup)["PreparedStatement"]
    assert (
        got["QueryStatement"] == "SELECT id FROM orders WHERE item = ?" and got["Description"] == "number 2"
    )
    athena.delete_prepared_statement(StatementName="by_id_0", WorkGroup=workgroup)
    assert _error(athena.get_prepared_statement, StatementName="by_id_0", WorkGroup=workgroup)[0] == (
        "ResourceNotFoundException"
    )
    assert _error(athena.delete_prepared_statement, StatementName="by_id_0", WorkGroup=workgroup)[0] == (
        "ResourceNotFoundException"
    )
    assert _error(
        athena.update_prepared_statement,
        StatementName="by_id_0",
        WorkGroup=workgroup,
        QueryStatement="SELECT 1",
    )[0] == ("ResourceNotFoundException")
    code, message = _error(
        athena.create_prepared_statement,
        StatementName="by_id_1",
        WorkGroup=workgroup,
        QueryStatement="SELECT 1",
    )
    assert code == "InvalidRequestException" and "already exists" in message
    code, _ = _error(
        athena.create_prepared_statement,
        StatementName="x1",
        WorkGroup=unique("no-wg"),
        QueryStatement="SELECT 1",
    )
    assert code == "InvalidRequestException"


def test_execute_using_values_or_execution_parameters(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    aws("athena").create_prepared_statement(
        StatementName="items_between",
        WorkGroup=lake["workgroup"],
        QueryStatement="SELECT id, item FROM orders WHERE id BETWEEN ? AND ? ORDER BY id",
    )
    execution = _run(aws, lake, "EXECUTE items_between USING 2, 3")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["StatementType"] == "DML"
    assert execution["ResultConfiguration"]["OutputLocation"].endswith(".csv")
    assert rows_of(aws, execution["QueryExecutionId"])[1:] == [["2", "desk"], ["3", "pen"]]
    assert _rows(aws, lake, "EXECUTE items_between", ExecutionParameters=["1", "1"]) == [["1", "lamp"]]
    # A value is one value: SQL in it is never run as SQL.
    execution = _run(aws, lake, "EXECUTE items_between USING 1, 3); DROP TABLE orders; --")
    assert execution["Status"]["State"] == "FAILED"
    assert _rows(aws, lake, "SELECT count(*) FROM orders") == [["3"]]
    execution = _run(aws, lake, "EXECUTE items_between USING 1")
    assert execution["Status"]["StateChangeReason"] == (
        "INVALID_PARAMETER_USAGE: Incorrect number of parameters: expected 2 but found 1"
    )


def test_prepare_execute_and_deallocate_in_sql(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    athena = aws("athena")
    execution = _run(aws, lake, "PREPARE item_of FROM SELECT item FROM orders WHERE id = ?")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    stored = athena.get_prepared_statement(StatementName="item_of", WorkGroup=lake["workgroup"])
    assert stored["PreparedStatement"]["QueryStatement"] == "SELECT item FROM orders WHERE id = ?"
    assert _rows(aws, lake, "EXECUTE item_of USING 3") == [["pen"]]
    assert _run(aws, lake, "DEALLOCATE PREPARE item_of")["Status"]["State"] == "SUCCEEDED"
    assert _error(athena.get_prepared_statement, StatementName="item_of", WorkGroup=lake["workgroup"])[0] == (
        "ResourceNotFoundException"
    )
    status = _run(aws, lake, "EXECUTE item_of USING 3")["Status"]
    assert status["StateChangeReason"] == "NOT_FOUND: Prepared statement not found: item_of"
    status = _run(aws, lake, "PREPARE dropper FROM DROP TABLE orders")["Status"]
    assert status["State"] == "FAILED" and status["StateChangeReason"].startswith("NOT_SUPPORTED: ")
    # PREPARE gates the statement with the sandbox before storing it...
    status = _run(aws, lake, "PREPARE reader FROM SELECT * FROM read_csv('/etc/passwd')")["Status"]
    assert status["State"] == "FAILED" and status["StateChangeReason"].startswith("FUNCTION_NOT_FOUND: "), (
        status
    )
    assert _error(athena.get_prepared_statement, StatementName="reader", WorkGroup=lake["workgroup"])[0] == (
        "ResourceNotFoundException"
    )
    # ...and one stored through the API passes the engine's sandbox when it runs.
    athena.create_prepared_statement(
        StatementName="reader",
        WorkGroup=lake["workgroup"],
        QueryStatement="SELECT * FROM read_csv('/etc/passwd')",
    )
    status = _run(aws, lake, "EXECUTE reader")["Status"]
    assert status["State"] == "FAILED" and status["StateChangeReason"].startswith("FUNCTION_NOT_FOUND: "), (
        status
    )


def test_prepared_statements_survive_a_restart(tmp_path: Any) -> None:
    from tests.local_aws.test_persistence import in_fresh_process

    state_dir = str(tmp_path / "state")
    in_fresh_process(
        """
        athena = client("athena")
        athena.create_work_group(Name="kept")
        athena.create_prepared_statement(
            StatementName="by_id", WorkGroup="kept", QueryStatement="SELECT ? AS x", Description="kept"
        )
        """,
        state_dir,
    )
    seen = in_fresh_process(
        """
        got = client("athena").get_prepared_statement(StatementName="by_id", WorkGroup="kept")
        result = {k: got["PreparedStatement"][k] for k in ("QueryStatement", "Description")}
        """,
        state_dir,
    )
    assert seen == {"QueryStatement": "SELECT ? AS x", "Description": "kept"}
