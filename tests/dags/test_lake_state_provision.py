"""The current-state Iceberg table (issue #10 item 2): declared in the definition, created by provisioning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cdc_pipeline.definitions import SALES_ORDERS, get_pipeline
from cdc_pipeline.definitions.errors import PipelineDefinitionError
from cdc_pipeline.definitions.parsing import parse_definition
from cdc_pipeline.provision import provision, teardown
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.state_table import StateTableError, ensure_state_table, run_statement
from cdc_pipeline.settings import Settings
from tests.local_aws.test_athena import rows_of
from tests.support import unique

CDC_FIELDS = {
    "name": "orders_x",
    "topology": "cdc",
    "table": "orders-x",
    "key_attribute": "orderid",
    "transform_folder": "cdc_transform",
    "generator": "cdc_pipeline.generators.orders:OrderDataset",
    "count_noun": "orders",
}


def test_columns_are_read_in_file_order_with_their_types() -> None:
    columns = {"orderid": "string", "price": "decimal(12, 2)", "address": "struct<city:string,zip:string>"}
    definition = parse_definition(
        {**CDC_FIELDS, "columns": {**columns, "placed": "string"}, "state_partition": "placed"}
    )
    assert definition.state_partition == "placed"
    assert get_pipeline("sales_orders").state_partition == "order_time"
    assert get_pipeline("user_profiles").state_partition == "created_at"
    definition = parse_definition({**CDC_FIELDS, "columns": columns, "state_partition": "orderid"})
    assert definition.columns == (
        ("orderid", "string"),
        ("price", "decimal(12, 2)"),
        ("address", "struct<city:string,zip:string>"),
    )
    assert dict(get_pipeline("user_profiles").columns)["address"].startswith("struct<")


@pytest.mark.parametrize(
    ("columns", "field", "says"),
    [
        ({"orderid": "varchar2"}, "columns.orderid", "not a type"),
        ({"orderid": "struct<a:string"}, "columns.orderid", "unbalanced"),
        ({"orderid": 3}, "columns.orderid", "must be an Athena type"),
        ({"orderid": "string", "is_deleted": "boolean"}, "columns.is_deleted", "state table adds"),
        ({"price": "double"}, "columns", "key attribute 'orderid'"),
        ({"Order": "string"}, "columns.Order", "lower-case"),
    ],
)
def test_a_wrong_column_is_named(columns: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(PipelineDefinitionError) as caught:
        parse_definition(
            {**CDC_FIELDS, "columns": columns, "state_partition": "orderid"}, "pipelines/orders_x.toml"
        )
    message = str(caught.value)
    assert field in message and says in message and "orders_x.toml" in message


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"columns": {"orderid": "string"}}, "is required with [columns]"),
        (
            {"columns": {"orderid": "string"}, "state_partition": "placed"},
            "'placed' is not one of the columns",
        ),
        (
            {"columns": {"orderid": "string", "n": "bigint"}, "state_partition": "n"},
            "'n' is declared 'bigint'",
        ),
        ({"columns": {"orderid": "string"}, "state_partition": 3}, "must be a string"),
        ({"columns": {"orderid": "string"}, "state_partition": "Placed"}, "lower-case"),
        ({"state_partition": "orderid"}, "is not one of the columns"),
    ],
)
def test_a_wrong_state_partition_is_named(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(PipelineDefinitionError) as caught:
        parse_definition({**CDC_FIELDS, **fields}, "pipelines/orders_x.toml")
    message = str(caught.value)
    assert "state_partition" in message and says in message and "orders_x.toml" in message


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(
        {
            "CDC_LAKE_PREFIX": unique("st"),
            "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "1",
            "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
        }
    )


def test_provisioning_creates_the_iceberg_state_table_once(
    settings: Settings, aws: Callable[..., Any]
) -> None:
    clients = lambda service: aws(service)  # noqa: E731
    try:
        first = {o.resource: o.action for o in provision(SALES_ORDERS, settings, clients)}
        assert first["state_table"] == "created"
        glue = aws("glue")
        table = glue.get_table(DatabaseName=settings.glue_database, Name="sales_orders_state")["Table"]
        assert table["Parameters"]["table_type"].upper() == "ICEBERG"
        columns = [(c["Name"], c["Type"].replace(" ", "")) for c in table["StorageDescriptor"]["Columns"]]
        declared = [(name, kind.replace(" ", "")) for name, kind in SALES_ORDERS.columns]
        assert columns == [
            *declared,
            ("sequence_number", "string"),
            ("is_deleted", "boolean"),
            ("valid_from", "timestamp"),
            ("valid_to", "timestamp"),
            ("partition_time", "timestamp"),
        ]
        # Versions of a key share one partition: the day of its order_time, then the key's bucket.
        shown = run_statement(
            Deployment.build(SALES_ORDERS, settings, clients), "SHOW CREATE TABLE sales_orders_state"
        )
        lines = [row[0] or "" for row in rows_of(aws, shown["QueryExecutionId"])]
        assert "PARTITIONED BY (day(partition_time), bucket(16, orderid))" in lines
        assert "/iceberg/sales_orders_state" in table["StorageDescriptor"]["Location"]
        second = {o.resource: o.action for o in provision(SALES_ORDERS, settings, clients)}
        assert second["state_table"] == "unchanged"

        deployment = Deployment.build(SALES_ORDERS, settings, clients)
        run_statement(deployment, "ALTER TABLE sales_orders_state ADD COLUMNS (coupon string)")
        with pytest.raises(StateTableError, match="coupon is not declared"):
            ensure_state_table(deployment)
    finally:
        outcomes = {o.resource: o.action for o in teardown(SALES_ORDERS, settings, clients)}
    assert outcomes["state_table"] == "deleted"
    with pytest.raises(aws("glue").exceptions.EntityNotFoundException):
        aws("glue").get_table(DatabaseName=settings.glue_database, Name="sales_orders_state")
