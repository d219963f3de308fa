"""Firehose record format conversion against local_aws: JSON in, Parquet out, with a Glue table's schema."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.orc as pa_orc
import pyarrow.parquet as pq
import pytest

from local_aws.components import firehose_conversion
from tests.local_aws.firehose_helpers import (
    CONVERSION_HINTS,
    ROLE,
    STAMP,
    UUID,
    athena_rows,
    bucket,
    conversion,
    create_stream,
    error_code,
    glue_database,
    kinesis_stream,
    lines,
    metadata_extraction,
    objects,
    parquet_table,
    processing,
    put_object_role,
    send,
    wait_objects,
)

__all__ = ["bucket", "create_stream", "glue_database", "kinesis_stream"]  # fixtures

COLUMNS = [
    ("id", "bigint"),
    ("name", "string"),
    ("qty", "int"),
    ("price", "decimal(10,2)"),
    ("ratio", "double"),
    ("paid", "boolean"),
    ("created", "timestamp"),
    ("day", "date"),
    ("tags", "array<string>"),
    ("attrs", "map<string,int>"),
    ("address", "struct<city:string,zip:string>"),
]
RECORDS = [
    {"id": 1, "Name": "Lamp", "qty": 2, "price": 19.99, "ratio": 0.5, "paid": True,
     "created": "2026-11-30 10:00:00", "day": "2026-11-30", "tags": ["home"],
     "attrs": {"w": 3}, "address": {"City": "Oslo", "zip": "0150"}, "ignored": "not a column"},
    {"id": 2, "name": "Desk", "qty": "7", "price": "0.1", "paid": False,
     "created": 1764500000000, "tags": [], "attrs": {}, "address": None},
]  # fmt: skip


def stream_with_conversion(
    create_stream: Callable[..., str], bucket: str, database: str, table: str, **options: Any
) -> str:
    extra = options.pop("destination", {})
    destination = {
        "Prefix": options.pop("prefix", "data/"),
        "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
        "BufferingHints": CONVERSION_HINTS,
        "DataFormatConversionConfiguration": conversion(database, table, **options),
    }
    destination.update(extra)
    return create_stream(bucket, destination=destination)


def test_json_records_become_one_parquet_object_with_the_tables_schema_and_compression(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(aws, glue_database, "orders", COLUMNS, f"s3://{bucket}/data/")
    name = stream_with_conversion(
        create_stream, bucket, glue_database, "orders", serializer={"ParquetSerDe": {"Compression": "GZIP"}}
    )
    send(aws, name, [json.dumps(record).encode() for record in RECORDS])
    [(key, body)] = wait_objects(aws, bucket, prefix="data/").items()
    # Converted objects are named as the others, with no extension (FileExtension is not set).
    assert re.fullmatch(rf"data/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{name}-1-{STAMP}-{UUID}", key), key
    parquet = pq.ParquetFile(io.BytesIO(body))
    assert parquet.metadata.row_group(0).column(0).compression == "GZIP"
    table = parquet.read()
    assert table.schema.names == [column for column, _ in COLUMNS]
    for column, kind in COLUMNS:
        assert table.schema.field(column).type.equals(firehose_conversion.hive_type(kind)), column
    rows = table.to_pylist()
    assert rows[0] == {
        "id": 1, "name": "Lamp", "qty": 2, "price": decimal.Decimal("19.99"), "ratio": 0.5, "paid": True,
        "created": dt.datetime(2026, 11, 30, 10), "day": dt.date(2026, 11, 30), "tags": ["home"],
        "attrs": [("w", 3)], "address": {"city": "Oslo", "zip": "0150"},
    }  # fmt: skip
    assert rows[1]["qty"] == 7 and rows[1]["price"] == decimal.Decimal("0.10")
    assert rows[1]["created"] == dt.datetime(2025, 11, 30, 10, 53, 20) and rows[1]["ratio"] is None
    assert objects(aws, bucket, "errors/") == {}


def test_local_athena_reads_the_converted_objects_through_the_glue_parquet_table(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(aws, glue_database, "orders", COLUMNS, f"s3://{bucket}/data/")
    name = stream_with_conversion(create_stream, bucket, glue_database, "orders")
    send(aws, name, [json.dumps(record).encode() for record in RECORDS])
    [body] = wait_objects(aws, bucket, prefix="data/").values()
    footer = pq.ParquetFile(io.BytesIO(body)).metadata
    assert footer.row_group(0).column(0).compression == "SNAPPY"
    # Firehose's writer keeps no Arrow schema in the footer, which every query of the file is billed for.
    assert b"ARROW:schema" not in (footer.metadata or {})
    rows = athena_rows(
        aws,
        glue_database,
        f"s3://{bucket}/results/",
        "SELECT id, name, price, paid, address.city, cardinality(tags) FROM orders ORDER BY id",
    )
    assert rows == [
        ["id", "name", "price", "paid", "city", "_col5"],
        ["1", "Lamp", "19.99", "true", "Oslo", "1"],
        ["2", "Desk", "0.10", "false", None, "0"],
    ]


def test_a_record_that_does_not_fit_goes_to_the_error_prefix_and_the_rest_is_delivered(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(
        aws, glue_database, "orders", [("id", "bigint"), ("name", "string")], f"s3://{bucket}/data/"
    )
    name = stream_with_conversion(create_stream, bucket, glue_database, "orders")
    bad = [b"not json", b'{"id": "seven", "name": "x"}', b'[{"id": 3}]', b'{"id": 2.5}']
    send(aws, name, [b'{"id": 1, "name": "a"}', *bad, b'{"id": 4}{"id": 5, "name": "e"}'])
    [errors] = wait_objects(aws, bucket, prefix="errors/format-conversion-failed/").values()
    documents = lines(errors)
    assert [base64.b64decode(doc["rawData"]) for doc in documents] == bad
    for doc in documents:
        assert set(doc) == {
            "attemptsMade", "arrivalTimestamp", "ErrorCode", "ErrorMessage", "attemptEndingTimestamp",
            "rawData", "dataCatalogTable",
        }  # fmt: skip
        assert doc["ErrorCode"] == "DataFormatConversion.MalformedData"
        assert doc["attemptEndingTimestamp"] >= doc["arrivalTimestamp"]
        assert doc["dataCatalogTable"]["databaseName"] == glue_database
        assert doc["dataCatalogTable"]["tableName"] == "orders"
        assert doc["dataCatalogTable"]["versionId"] == "LATEST"
    assert "'id'" in documents[1]["ErrorMessage"] and "seven" in documents[1]["ErrorMessage"]
    [body] = wait_objects(aws, bucket, prefix="data/").values()
    assert pq.read_table(io.BytesIO(body)).to_pylist() == [
        {"id": 1, "name": "a"},
        {"id": 4, "name": None},
        {"id": 5, "name": "e"},
    ]


def test_dynamic_partitioning_writes_one_parquet_object_per_partition(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(
        aws, glue_database, "events", [("id", "bigint"), ("tenant", "string")], f"s3://{bucket}/data/",
        partition_keys=[("t", "string")],
    )  # fmt: skip
    name = stream_with_conversion(
        create_stream,
        bucket,
        glue_database,
        "events",
        prefix="data/t=!{partitionKeyFromQuery:tenant}/",
        destination={
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": processing(metadata_extraction("{tenant: .tenant}")),
        },
    )
    send(aws, name, [json.dumps({"id": n, "tenant": "ab"[n % 2]}).encode() for n in range(6)])
    found = wait_objects(aws, bucket, count=2, prefix="data/")
    by_tenant = {
        key.split("/")[1]: pq.read_table(io.BytesIO(body)).column("id").to_pylist()
        for key, body in found.items()
    }
    assert by_tenant == {"t=a": [0, 2, 4], "t=b": [1, 3, 5]}
    rows = athena_rows(aws, glue_database, f"s3://{bucket}/results/", "MSCK REPAIR TABLE events")
    rows = athena_rows(
        aws, glue_database, f"s3://{bucket}/results/", "SELECT t, count(*) FROM events GROUP BY t ORDER BY t"
    )
    assert rows[1:] == [["a", "3"], ["b", "3"]]


def test_orc_serializer_and_hive_deserializer_with_timestamp_formats(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(aws, glue_database, "stamps", [("id", "int"), ("at", "timestamp")], f"s3://{bucket}/data/")
    name = stream_with_conversion(
        create_stream,
        bucket,
        glue_database,
        "stamps",
        serializer={"OrcSerDe": {"Compression": "ZLIB"}},
        deserializer={"HiveJsonSerDe": {"TimestampFormats": ["dd/MM/yyyy' at 'HH:mm", "millis"]}},
    )
    send(aws, name, [b'{"id": 1, "at": "30/11/2026 at 10:15"}', b'{"id": 2, "at": "1764500000000"}'])
    [body] = wait_objects(aws, bucket, prefix="data/").values()
    orc = pa_orc.ORCFile(io.BytesIO(body))
    assert orc.compression == "ZLIB"
    assert orc.read().to_pylist() == [
        {"id": 1, "at": dt.datetime(2026, 11, 30, 10, 15)},
        {"id": 2, "at": dt.datetime(2025, 11, 30, 10, 53, 20)},
    ]


def test_openx_options_map_json_keys_onto_columns():
    config = conversion(
        "db",
        "t",
        deserializer={
            "OpenXJsonSerDe": {
                "CaseInsensitive": False,
                "ColumnToJsonKeyMappings": {"ts": "timestamp"},
                "ConvertDotsInJsonKeysToUnderscores": True,
            }
        },
    )
    parsed = firehose_conversion.parse({"DataFormatConversionConfiguration": config}, "1", "us-east-1")
    assert parsed is not None
    columns = [("ts", pa.string()), ("a_b", pa.int32()), ("name", pa.string())]
    document = {"timestamp": "x", "a.b": 3, "Name": "case matters"}
    assert firehose_conversion.row(parsed, columns, document) == {"ts": "x", "a_b": 3, "name": None}


def test_a_decimal_is_rounded_half_up_to_its_scale_as_hive_rounds():
    parsed = firehose_conversion.parse(
        {"DataFormatConversionConfiguration": conversion("db", "t")}, "1", "us-east-1"
    )
    assert parsed is not None
    columns = [("price", pa.decimal128(12, 2))]
    rounded = [firehose_conversion.row(parsed, columns, {"price": p})["price"] for p in ("12.345", "12.355")]
    assert rounded == [decimal.Decimal("12.35"), decimal.Decimal("12.36")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": "missing"}, "does not exist"),
        ({"serializer": {"ParquetSerDe": {"Compression": "LZO"}}}, "ParquetSerDe.Compression"),
        ({"serializer": {"ParquetSerDe": {}, "OrcSerDe": {}}}, "exactly one of ParquetSerDe or OrcSerDe"),
        ({"serializer": {"ParquetSerDe": {"WriterVersion": "V3"}}}, "WriterVersion"),
        ({"deserializer": {}}, "exactly one of OpenXJsonSerDe or HiveJsonSerDe"),
        ({"hints": {"SizeInMBs": 5, "IntervalInSeconds": 0}}, "at least 64"),
        ({"compression": "GZIP"}, "CompressionFormat must be UNCOMPRESSED"),
        ({"drop": "SchemaConfiguration"}, "SchemaConfiguration is required"),
    ],
)
def test_create_refuses_a_conversion_aws_refuses(
    aws: Callable[..., Any],
    bucket: str,
    create_stream,
    glue_database: str,
    change: dict[str, Any],
    message: str,
):
    parquet_table(aws, glue_database, "orders", [("id", "bigint")], f"s3://{bucket}/data/")
    options = {key: change[key] for key in ("serializer", "deserializer") if key in change}
    config = conversion(glue_database, change.get("table", "orders"), **options)
    if change.get("deserializer") == {}:
        config["InputFormatConfiguration"] = {"Deserializer": {}}
    config.pop(change.get("drop", ""), None)
    destination = {
        "BufferingHints": change.get("hints", CONVERSION_HINTS),
        "CompressionFormat": change.get("compression", "UNCOMPRESSED"),
        "DataFormatConversionConfiguration": config,
    }
    code, text = error_code(lambda: create_stream(bucket, destination=destination))
    assert code == "InvalidArgumentException"
    assert message in text


def test_parquet_block_size_below_64_mib_is_refused():
    # boto3 refuses it before sending (the model's minimum); a client that does not check meets this.
    config = conversion("db", "t", serializer={"ParquetSerDe": {"BlockSizeBytes": 1024}})
    with pytest.raises(Exception, match="BlockSizeBytes must be at least 67108864"):
        firehose_conversion.parse({"DataFormatConversionConfiguration": config}, "1", "us-east-1")


def test_create_refuses_a_table_with_a_type_it_cannot_convert(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(aws, glue_database, "odd", [("u", "uniontype<int,string>")], f"s3://{bucket}/data/")
    destination = {
        "BufferingHints": CONVERSION_HINTS,
        "DataFormatConversionConfiguration": conversion(glue_database, "odd"),
    }
    code, text = error_code(lambda: create_stream(bucket, destination=destination))
    assert code == "InvalidArgumentException"
    assert "column 'u'" in text and "uniontype" in text


def test_update_destination_checks_the_conversion_too(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    name = create_stream(bucket, destination={"BufferingHints": CONVERSION_HINTS})
    described = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    code, text = error_code(
        lambda: aws("firehose").update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId=described["VersionId"],
            DestinationId=described["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate={
                "DataFormatConversionConfiguration": conversion(glue_database, "nope")
            },
        )
    )
    assert (code, "does not exist" in text) == ("InvalidArgumentException", True)


def test_a_role_that_may_not_read_the_table_fails_the_records_until_allowed(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str
):
    parquet_table(aws, glue_database, "orders", [("id", "bigint")], f"s3://{bucket}/data/")
    role = put_object_role(aws, "fh-convert")
    name = stream_with_conversion(
        create_stream, bucket, glue_database, "orders", role=role["Arn"], destination={"RoleARN": role["Arn"]}
    )
    send(aws, name, [b'{"id": 1}'])
    [errors] = wait_objects(aws, bucket, prefix="errors/format-conversion-failed/").values()
    [document] = lines(errors)
    assert document["ErrorCode"] == "DataFormatConversion.AccessDenied"
    assert "glue:GetTable" in document["ErrorMessage"]
    # The same flush wrote the error object after any data object: there is none.
    assert objects(aws, bucket, "data/") == {}
    table_arn = f"arn:aws:glue:us-east-1:123456789012:table/{glue_database}/orders"
    reads = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["glue:GetTable", "glue:GetTableVersion*"], "Resource": table_arn}
        ],
    }
    aws("iam").put_role_policy(
        RoleName=role["RoleName"], PolicyName="reads", PolicyDocument=json.dumps(reads)
    )
    send(aws, name, [b'{"id": 2}'])
    [body] = wait_objects(aws, bucket, prefix="data/").values()
    assert pq.read_table(io.BytesIO(body)).to_pylist() == [{"id": 2}]


def test_a_kinesis_sourced_record_that_does_not_fit_carries_its_sequence_number(
    aws: Callable[..., Any], bucket: str, create_stream, glue_database: str, kinesis_stream: tuple[str, str]
):
    stream_name, stream = kinesis_stream
    parquet_table(aws, glue_database, "orders", [("id", "bigint")], f"s3://{bucket}/data/")
    create_stream(
        bucket,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream, "RoleARN": ROLE},
        destination={
            "Prefix": "data/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": CONVERSION_HINTS,
            "DataFormatConversionConfiguration": conversion(glue_database, "orders"),
        },
    )
    kinesis = aws("kinesis")
    kinesis.put_record(StreamName=stream_name, Data=b'{"id": 1}', PartitionKey="a")
    kinesis.put_record(StreamName=stream_name, Data=b'{"id": "one"}', PartitionKey="a")
    [errors] = wait_objects(aws, bucket, prefix="errors/format-conversion-failed/").values()
    [document] = lines(errors)
    assert base64.b64decode(document["rawData"]) == b'{"id": "one"}'
    assert document["sequenceNumber"] and document["subSequenceNumber"] == 0
    [body] = wait_objects(aws, bucket, prefix="data/").values()
    assert pq.read_table(io.BytesIO(body)).to_pylist() == [{"id": 1}]
