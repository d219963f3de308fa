"""A Parquet change log (CDC_LAKE_CHANGE_LOG_FORMAT=parquet): the declared Glue table, the Firehose
conversion that names it, and what the provisioning refuses to change in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cdc_pipeline.definitions import SALES_ORDERS
from cdc_pipeline.provision import provision, teardown
from cdc_pipeline.provision.change_table import CHANGE_COLUMNS, PARQUET_SERDE, ChangeTableError
from cdc_pipeline.provision.firehose import DeliveryStreamConflictError
from cdc_pipeline.settings import Settings, SettingsError
from tests.support import unique


def _settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "CDC_LAKE_PREFIX": unique("t"),
            "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "1",
            "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "64",
            "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
            **env,
        }
    )


@pytest.fixture
def clients(aws: Callable[..., Any]) -> Callable[[str], Any]:
    return lambda service: aws(service)


@pytest.fixture
def parquet_settings(aws: Callable[..., Any]) -> Any:
    settings = _settings(CDC_LAKE_CHANGE_LOG_FORMAT="parquet")
    yield settings
    teardown(SALES_ORDERS, settings, lambda service: aws(service))


def _conversion(aws: Callable[..., Any], stream: str) -> dict[str, Any]:
    description = aws("firehose").describe_delivery_stream(DeliveryStreamName=stream)[
        "DeliveryStreamDescription"
    ]
    s3 = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    return s3.get("DataFormatConversionConfiguration") or {}


def _actions(outcomes: list[Any]) -> dict[str, str]:
    return {outcome.resource: outcome.action for outcome in outcomes}


def test_the_change_table_is_declared_before_firehose_converts_into_it(
    parquet_settings: Settings, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    first = provision(SALES_ORDERS, parquet_settings, clients)
    order = [outcome.resource for outcome in first]
    assert order.index("glue_database") < order.index("change_table") < order.index("delivery_stream")
    assert _actions(first)["change_table"] == "created"

    names = SALES_ORDERS.resources(
        parquet_settings.with_account_id(aws("sts").get_caller_identity()["Account"])
    )
    table = aws("glue").get_table(DatabaseName=names.glue_database, Name="sales_orders")["Table"]
    descriptor = table["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert descriptor["Location"] == f"s3://{names.lake_bucket}/sales_orders/"
    columns = [(column["Name"], column["Type"]) for column in descriptor["Columns"]]
    # The metadata first, then the declared columns with their declared types (not a crawl's double).
    assert columns == [*CHANGE_COLUMNS, *SALES_ORDERS.columns]
    assert ("price", "decimal(12,2)") in columns
    assert [key["Name"] for key in table["PartitionKeys"]] == ["year", "month", "day", "hour"]

    conversion = _conversion(aws, names.delivery_stream)
    assert conversion["Enabled"] is True
    schema = conversion["SchemaConfiguration"]
    assert (schema["DatabaseName"], schema["TableName"]) == (names.glue_database, "sales_orders")
    assert schema["RoleARN"] == names.role_arn(names.firehose_role)
    assert "OpenXJsonSerDe" in conversion["InputFormatConfiguration"]["Deserializer"]
    assert conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["Compression"] == "SNAPPY"

    again = provision(SALES_ORDERS, parquet_settings, clients)
    assert set(_actions(again).values()) == {"unchanged"}


def test_a_declared_column_the_table_lacks_is_added_and_a_changed_type_is_refused(
    parquet_settings: Settings, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    provision(SALES_ORDERS, parquet_settings, clients)
    glue = aws("glue")
    database = parquet_settings.glue_database
    table = glue.get_table(DatabaseName=database, Name="sales_orders")["Table"]
    keys = ("Name", "TableType", "Parameters", "PartitionKeys", "StorageDescriptor")
    table_input = {key: table[key] for key in keys}
    columns = table_input["StorageDescriptor"]["Columns"]

    table_input["StorageDescriptor"]["Columns"] = [c for c in columns if c["Name"] != "status"]
    glue.update_table(DatabaseName=database, TableInput=table_input)
    assert _actions(provision(SALES_ORDERS, parquet_settings, clients))["change_table"] == "updated"
    restored = glue.get_table(DatabaseName=database, Name="sales_orders")["Table"]["StorageDescriptor"][
        "Columns"
    ]
    assert {"Name": "status", "Type": "string"} in restored

    table_input["StorageDescriptor"]["Columns"] = [
        {**c, "Type": "double"} if c["Name"] == "price" else c for c in columns
    ]
    glue.update_table(DatabaseName=database, TableInput=table_input)
    with pytest.raises(ChangeTableError, match=r"price is double, declared decimal\(12,2\)"):
        provision(SALES_ORDERS, parquet_settings, clients)


def test_a_json_change_log_is_not_converted_in_place(
    parquet_settings: Settings, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    """A table the crawler made of JSON lines: its files cannot turn into Parquet, so say so."""
    json_settings = parquet_settings.replace(change_log_format="json")
    provision(SALES_ORDERS, json_settings, clients)
    names = SALES_ORDERS.resources(json_settings.with_account_id(aws("sts").get_caller_identity()["Account"]))
    assert _conversion(aws, names.delivery_stream).get("Enabled") in (None, False)
    aws("glue").create_table(
        DatabaseName=names.glue_database,
        TableInput={
            "Name": "sales_orders",
            "StorageDescriptor": {
                "Columns": [{"Name": "orderid", "Type": "string"}],
                "Location": f"s3://{names.lake_bucket}/sales_orders/",
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            },
        },
    )
    with pytest.raises(ChangeTableError, match="JsonSerDe .*not Parquet.*CDC_LAKE_CHANGE_LOG_FORMAT=json"):
        provision(SALES_ORDERS, parquet_settings, clients)


def test_the_format_of_an_existing_delivery_stream_is_never_switched_in_place(
    parquet_settings: Settings, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    """Its objects would mix JSON lines and Parquet under one table: refused both ways, naming the way out."""
    json_settings = parquet_settings.replace(change_log_format="json")
    provision(SALES_ORDERS, json_settings, clients)
    names = SALES_ORDERS.resources(json_settings.with_account_id(aws("sts").get_caller_identity()["Account"]))
    with pytest.raises(
        DeliveryStreamConflictError, match="writes a json change log: switching it to parquet"
    ):
        provision(SALES_ORDERS, parquet_settings, clients)
    assert _conversion(aws, names.delivery_stream).get("Enabled") in (None, False)

    teardown(SALES_ORDERS, json_settings, clients)
    provision(SALES_ORDERS, parquet_settings, clients)
    with pytest.raises(DeliveryStreamConflictError, match="CDC_LAKE_CHANGE_LOG_FORMAT=parquet, or tear"):
        provision(SALES_ORDERS, json_settings, clients)
    assert _conversion(aws, names.delivery_stream)["Enabled"] is True
    # A change that keeps the format is still an update in place.
    bigger = parquet_settings.replace(firehose_buffer_size_mb=128)
    assert _actions(provision(SALES_ORDERS, bigger, clients))["delivery_stream"] == "updated"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"CDC_LAKE_CHANGE_LOG_FORMAT": "orc"},
            "CDC_LAKE_CHANGE_LOG_FORMAT='orc' must be one of json, parquet",
        ),
        (
            {"CDC_LAKE_CHANGE_LOG_FORMAT": "parquet", "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "1"},
            "CDC_LAKE_FIREHOSE_BUFFER_SIZE=1: with CDC_LAKE_CHANGE_LOG_FORMAT=parquet",
        ),
    ],
)
def test_settings_refuse_a_format_or_buffer_firehose_would_refuse(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        _settings(**env)


def test_the_change_columns_are_the_transforms_metadata_fields() -> None:
    """The table Firehose converts with names every field the transform writes before the attributes."""
    import importlib.util

    from cdc_pipeline.settings import REPO_ROOT
    from cdc_pipeline.workflows.hourly.schema_drift import METADATA_COLUMNS

    spec = importlib.util.spec_from_file_location(
        "lake_rows", REPO_ROOT / "lambda" / "shared" / "lake_rows.py"
    )
    assert spec is not None and spec.loader is not None
    lake_rows = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lake_rows)
    assert [name for name, _ in CHANGE_COLUMNS] == list(lake_rows.CHANGE_FIELDS)
    assert dict(CHANGE_COLUMNS) == METADATA_COLUMNS


def test_the_change_log_is_parquet_unless_json_is_asked_for() -> None:
    assert Settings.from_env({}).change_log_format == "parquet"
    assert Settings.from_env({"CDC_LAKE_CHANGE_LOG_FORMAT": " JSON "}).change_log_format == "json"
