"""Athena's limits as a boto3 user meets them: per-query data cutoff, query timeout, no starvation, query size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_aws.components.athena import ENV_QUERY_TIMEOUT, AthenaComponent
from tests.local_aws.athena_helpers import add_partition, create_table, new_lake, put_object
from tests.local_aws.test_athena import SLOW_QUERY, finish
from tests.support import unique, wait_until

CUTOFF = 10_000_000  # the smallest BytesScannedCutoffPerQuery Athena accepts
OBJECT_BYTES = 6_000_000  # one partition's object: one is under the cutoff, two are over it


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A text table with two partitions of ~6 MB each, and a workgroup with a 10 MB cutoff per query."""
    lake = new_lake(aws, "wg")
    create_table(aws, lake, "events", [("id", "int"), ("kind", "string")], partition_keys=[("day", "string")])
    line = b"1,click\n"
    for day in ("d1", "d2"):
        prefix = add_partition(aws, lake, "events", "day", day)
        put_object(aws, lake, prefix + "part-0.csv", line * (OBJECT_BYTES // len(line)))
    workgroup = unique("capped")
    aws("athena").create_work_group(
        Name=workgroup,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{lake['results']}/capped/"},
            "BytesScannedCutoffPerQuery": CUTOFF,
        },
    )
    return {**lake, "workgroup": workgroup}


def start(aws: Callable[..., Any], lake: dict[str, Any], sql: str, workgroup: str | None = None) -> str:
    kwargs: dict[str, Any] = {"QueryExecutionContext": {"Database": lake["database"]}}
    if workgroup:
        kwargs["WorkGroup"] = workgroup
    else:
        kwargs["ResultConfiguration"] = {"OutputLocation": f"s3://{lake['results']}/plain/"}
    return aws("athena").start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"]


def state_of(aws: Callable[..., Any], execution_id: str) -> str:
    return aws("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"][
        "State"
    ]


# -- BytesScannedCutoffPerQuery --------------------------------------------------------------------
def test_a_query_that_scans_past_the_cutoff_fails_as_athena_words_it(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    execution = finish(aws, start(aws, lake, "SELECT count(*) FROM events", lake["workgroup"]))
    status = execution["Status"]
    assert status["State"] == "FAILED", status
    assert status["StateChangeReason"] == "Bytes scanned limit was exceeded"
    assert status["AthenaError"]["ErrorCategory"] == 2  # USER: the workgroup's own limit
    assert status["AthenaError"]["ErrorMessage"] == "Bytes scanned limit was exceeded"
    assert status["AthenaError"]["Retryable"] is False
    assert execution["Statistics"]["DataScannedInBytes"] > CUTOFF


def test_a_query_under_the_cutoff_runs(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    # One partition is under the cutoff: pruning keeps the query inside it.
    execution = finish(
        aws, start(aws, lake, "SELECT count(*) FROM events WHERE day = 'd1'", lake["workgroup"])
    )
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert 0 < execution["Statistics"]["DataScannedInBytes"] <= CUTOFF


def test_without_a_cutoff_the_same_query_runs(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    execution = finish(aws, start(aws, lake, "SELECT count(*) FROM events"))
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["Statistics"]["DataScannedInBytes"] > CUTOFF


def test_a_cutoff_set_and_removed_by_update_work_group_applies_to_the_next_query(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    athena = aws("athena")
    name = unique("updated")
    athena.create_work_group(
        Name=name,
        Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{lake['results']}/updated/"}},
    )
    assert (
        finish(aws, start(aws, lake, "SELECT count(*) FROM events", name))["Status"]["State"] == "SUCCEEDED"
    )
    athena.update_work_group(WorkGroup=name, ConfigurationUpdates={"BytesScannedCutoffPerQuery": CUTOFF})
    configuration = athena.get_work_group(WorkGroup=name)["WorkGroup"]["Configuration"]
    assert configuration["BytesScannedCutoffPerQuery"] == CUTOFF
    assert configuration["ResultConfiguration"]["OutputLocation"] == f"s3://{lake['results']}/updated/"
    failed = finish(aws, start(aws, lake, "SELECT count(*) FROM events", name))["Status"]
    assert (failed["State"], failed["StateChangeReason"]) == ("FAILED", "Bytes scanned limit was exceeded")
    athena.update_work_group(WorkGroup=name, ConfigurationUpdates={"RemoveBytesScannedCutoffPerQuery": True})
    assert (
        "BytesScannedCutoffPerQuery"
        not in athena.get_work_group(WorkGroup=name)["WorkGroup"]["Configuration"]
    )
    assert (
        finish(aws, start(aws, lake, "SELECT count(*) FROM events", name))["Status"]["State"] == "SUCCEEDED"
    )


def test_a_cutoff_under_athenas_minimum_is_refused(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    unvalidated = aws("athena", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as error:
        unvalidated.update_work_group(
            WorkGroup=lake["workgroup"], ConfigurationUpdates={"BytesScannedCutoffPerQuery": 1024}
        )
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert (
        "Member must have value greater than or equal to 10000000" in error.value.response["Error"]["Message"]
    )
    configuration = aws("athena").get_work_group(WorkGroup=lake["workgroup"])["WorkGroup"]["Configuration"]
    assert configuration["BytesScannedCutoffPerQuery"] == CUTOFF


def test_an_unknown_work_group_is_refused(aws: Callable[..., Any]) -> None:
    name = unique("nowhere")
    for call in (
        lambda: aws("athena").get_work_group(WorkGroup=name),
        lambda: aws("athena").update_work_group(WorkGroup=name, State="DISABLED"),
    ):
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == "InvalidRequestException"
        assert error.value.response["Error"]["Message"] == f"WorkGroup {name} is not found."


def test_a_disabled_work_group_takes_no_query(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    athena = aws("athena")
    name = unique("paused")
    athena.create_work_group(
        Name=name,
        Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{lake['results']}/paused/"}},
    )
    athena.update_work_group(WorkGroup=name, State="DISABLED")
    assert athena.get_work_group(WorkGroup=name)["WorkGroup"]["State"] == "DISABLED"
    with pytest.raises(ClientError) as error:
        start(aws, lake, "SELECT 1", name)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert error.value.response["Error"]["Message"] == f"WorkGroup {name} is disabled."
    athena.update_work_group(WorkGroup=name, State="ENABLED")
    assert finish(aws, start(aws, lake, "SELECT 1", name))["Status"]["State"] == "SUCCEEDED"


# -- query timeout ---------------------------------------------------------------------------------
@pytest.fixture
def athena_component(local_aws: Any) -> Iterator[AthenaComponent]:
    component = local_aws.world.component(AthenaComponent.name)
    assert isinstance(component, AthenaComponent)
    timeout = component.query_timeout
    yield component
    component.query_timeout = timeout


def test_a_query_past_the_timeout_fails_with_athenas_words(
    aws: Callable[..., Any], lake: dict[str, Any], athena_component: AthenaComponent
) -> None:
    athena_component.query_timeout = 1.0
    execution_id = start(aws, lake, SLOW_QUERY)
    execution = wait_until(
        lambda: (
            e
            if (e := aws("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"])[
                "Status"
            ]["State"]
            in ("SUCCEEDED", "FAILED", "CANCELLED")
            else None
        ),
        timeout=120,
        interval=0.1,
        what="the slow query to time out",
    )
    status = execution["Status"]
    assert status["State"] == "FAILED", status
    assert status["StateChangeReason"] == "Query timeout"
    assert status["AthenaError"]["ErrorMessage"] == "Query timeout"
    assert status["AthenaError"]["ErrorCategory"] == 2


def test_the_timeout_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_QUERY_TIMEOUT, "45")
    assert AthenaComponent().query_timeout == 45.0
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv(ENV_QUERY_TIMEOUT, bad)
        with pytest.raises(ValueError, match=f"{ENV_QUERY_TIMEOUT} must be a positive number, not '{bad}'"):
            AthenaComponent()


# -- runaway queries do not starve the rest --------------------------------------------------------
RUNAWAYS = 4  # as many as the old fixed pool had workers


def test_runaway_queries_do_not_keep_a_trivial_one_queued(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    athena = aws("athena")
    runaways = [start(aws, lake, SLOW_QUERY) for _ in range(RUNAWAYS)]
    try:
        for execution_id in runaways:
            wait_until(
                lambda e=execution_id: state_of(aws, e) == "RUNNING", timeout=60, what="a runaway to run"
            )
        trivial = finish(aws, start(aws, lake, "SELECT 1"))
        assert trivial["Status"]["State"] == "SUCCEEDED", trivial["Status"]
        assert [state_of(aws, e) for e in runaways] == ["RUNNING"] * RUNAWAYS
    finally:
        for execution_id in runaways:
            athena.stop_query_execution(QueryExecutionId=execution_id)
    for execution_id in runaways:
        stopped = finish(aws, execution_id)
        assert stopped["Status"]["State"] == "CANCELLED"
        assert stopped["Status"]["StateChangeReason"] == "Query cancelled by user"


# -- QueryString -------------------------------------------------------------------------------------
LIMIT = 262_144
TOO_LONG = (
    "at 'queryString' failed to satisfy constraint: Member must have length less than or equal to 262144"
)


def _padded(size: int, filler: str = "x") -> str:
    """A valid query of exactly ``size`` bytes of UTF-8 (a comment pads it)."""
    head = "SELECT 1 -- "
    unit = len(filler.encode())
    return head + filler * ((size - len(head)) // unit)


def test_a_query_string_of_the_limit_is_accepted(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    sql = _padded(LIMIT)
    assert len(sql.encode()) == LIMIT
    assert finish(aws, start(aws, lake, sql))["Status"]["State"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "sql",
    [_padded(LIMIT + 1), _padded(300_000), _padded(LIMIT + 2, "é")],
    ids=["one byte over", "300 KB", "under the limit in characters, over it in bytes"],
)
def test_a_query_string_over_the_limit_is_refused(
    aws: Callable[..., Any], lake: dict[str, Any], sql: str
) -> None:
    assert len(sql.encode()) > LIMIT
    with pytest.raises(ClientError) as error:
        start(aws, lake, sql)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert TOO_LONG in error.value.response["Error"]["Message"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.fixture
def unvalidated(aws: Callable[..., Any]) -> Any:
    """An Athena client that sends what it is given, as a client other than boto3 may."""
    return aws("athena", config=Config(parameter_validation=False))


def test_a_missing_or_empty_query_string_is_refused(
    aws: Callable[..., Any], unvalidated: Any, lake: dict[str, Any]
) -> None:
    output = {"OutputLocation": f"s3://{lake['results']}/bad/"}
    with pytest.raises(ClientError) as error:
        unvalidated.start_query_execution(ResultConfiguration=output)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert (
        "Value null at 'queryString' failed to satisfy constraint: Member must not be null"
        in (error.value.response["Error"]["Message"])
    )
    with pytest.raises(ClientError) as error:
        unvalidated.start_query_execution(QueryString="", ResultConfiguration=output)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert (
        "at 'queryString' failed to satisfy constraint: Member must have length greater than or equal to 1"
        in error.value.response["Error"]["Message"]
    )
    # A blank query has a length: it is queued, and fails as the statement it is not.
    execution_id = unvalidated.start_query_execution(QueryString="  \n ", ResultConfiguration=output)[
        "QueryExecutionId"
    ]
    status = finish(aws, execution_id)["Status"]
    assert (status["State"], status["StateChangeReason"]) == (
        "FAILED",
        "SYNTAX_ERROR: line 1:1: empty statement",
    )


def test_a_query_string_that_is_not_a_string_is_refused(unvalidated: Any, lake: dict[str, Any]) -> None:
    output = {"OutputLocation": f"s3://{lake['results']}/bad/"}
    for value in (42, ["SELECT 1"], {"sql": "SELECT 1"}):
        with pytest.raises(ClientError) as error:
            unvalidated.start_query_execution(QueryString=value, ResultConfiguration=output)
        assert error.value.response["Error"]["Code"] == "SerializationException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    "sql",
    ["SELECT " + "(" * 3000 + "1" + ")" * 3000, "SELECT " + "upper(" * 500 + "'a'" + ")" * 500],
    ids=["3000 parentheses", "500 nested calls"],
)
def test_a_statement_nested_too_deep_is_refused_in_trinos_words(
    aws: Callable[..., Any], lake: dict[str, Any], sql: str
) -> None:
    status = finish(aws, start(aws, lake, sql))["Status"]
    assert status["State"] == "FAILED"
    assert (
        status["StateChangeReason"]
        == "SYNTAX_ERROR: line 1:1: statement is too large (stack overflow while parsing)"
    )
    assert status["AthenaError"]["ErrorCategory"] == 2
