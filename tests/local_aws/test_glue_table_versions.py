"""Glue UpdateTable honours VersionId (optimistic locking), as Iceberg catalogs rely on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.support import unique


def _table_input(name: str, location: str) -> dict[str, Any]:
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"metadata_location": location},
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "int"}], "Location": "s3://b/t/"},
    }


def test_update_table_with_a_stale_version_id_is_refused_and_changes_nothing(aws: Callable[..., Any]) -> None:
    glue = aws("glue")
    database = unique("versions").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(DatabaseName=database, TableInput=_table_input("t", "s3://b/m0"))
    version = glue.get_table(DatabaseName=database, Name="t")["Table"]["VersionId"]
    # The first writer commits against the version it read.
    glue.update_table(DatabaseName=database, TableInput=_table_input("t", "s3://b/m1"), VersionId=version)
    # The second writer read the same version: its commit is stale.
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        glue.update_table(DatabaseName=database, TableInput=_table_input("t", "s3://b/m2"), VersionId=version)
    assert caught.value.response["Error"]["Code"] == "ConcurrentModificationException"
    table = glue.get_table(DatabaseName=database, Name="t")["Table"]
    assert table["Parameters"]["metadata_location"] == "s3://b/m1"
    # Without VersionId the update is applied, as Glue does.
    glue.update_table(DatabaseName=database, TableInput=_table_input("t", "s3://b/m3"))
    assert (
        glue.get_table(DatabaseName=database, Name="t")["Table"]["Parameters"]["metadata_location"]
        == "s3://b/m3"
    )
