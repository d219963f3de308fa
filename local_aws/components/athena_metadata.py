"""Athena's metadata APIs answered from the Glue catalog (wire format only; moto keeps its own list).

GetDatabase, ListDatabases, GetTableMetadata, ListTableMetadata (Expression, MaxResults, NextToken),
ListDataCatalogs and GetDataCatalog: ``AwsDataCatalog`` (type GLUE) is the account's Glue catalog,
always present, as in Athena; catalogs made with CreateDataCatalog are still listed from moto.

LIMITATIONS: only AwsDataCatalog is read (a catalog of another type or a cross-account GLUE catalog
answers MetadataException); CreateTime/LastAccessTime are Glue's CreateTime/UpdateTime;
ListTableMetadata's Expression is read as SHOW TABLES reads its pattern (``*`` and ``|``); paging
tokens are plain offsets; the error wording for a missing catalog is ours. A missing database or
table is a MetadataException carrying Glue's EntityNotFoundException in Athena's words (its Request ID
is random).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from local_aws.world import World

DEFAULT_CATALOG = "AwsDataCatalog"
MAX_PAGE = 50


class MetadataError(Exception):
    def __init__(self, message: str, error_type: str = "MetadataException") -> None:
        super().__init__(message)
        self.error_type = error_type


def _answer(handler: Any) -> Any:
    """Run a handler; a MetadataError is Athena's typed 400."""

    def respond(self: Any) -> Any:
        try:
            return json.dumps(handler(self))
        except MetadataError as error:
            headers = {
                "status": 400,
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-ErrorType": error.error_type,
            }
            return json.dumps({"__type": error.error_type, "Message": str(error)}), headers

    return respond


def _glue(self: Any, catalog: str | None) -> Any:
    if (catalog or "").lower() != DEFAULT_CATALOG.lower():
        raise MetadataError(f"Catalog {catalog} is not a Glue catalog local_aws can read")
    return World.backend("glue", self.current_account, self.region)


def _not_found(what: str) -> MetadataError:
    """Athena's answer for a name Glue does not have: Glue's error inside a MetadataException.

    Clients (PyAthena's SQLAlchemy dialect) read the Glue error code from this suffix.
    """
    return MetadataError(
        f"{what} (Service: AmazonDataCatalog; Status Code: 400; Error Code: EntityNotFoundException; "
        f"Request ID: {uuid.uuid4()}; Proxy: null)"
    )


def _database(glue: Any, name: str | None) -> Any:
    for key, database in glue.databases.items():
        if key.lower() == (name or "").lower():
            return database
    raise _not_found(f"Database {name} not found.")


def _page(self: Any, items: list[Any]) -> tuple[list[Any], str | None]:
    limit = int(self._get_param("MaxResults") or MAX_PAGE)
    if not 1 <= limit <= MAX_PAGE:
        raise MetadataError(
            f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_PAGE}",
            "InvalidRequestException",
        )
    try:
        offset = int(self._get_param("NextToken") or 0)
    except ValueError as error:
        raise MetadataError("The NextToken is not valid.", "InvalidRequestException") from error
    token = str(offset + limit) if offset + limit < len(items) else None
    return items[offset : offset + limit], token


def _database_shape(database: Any) -> dict[str, Any]:
    data = database.as_dict()
    shape: dict[str, Any] = {"Name": data["Name"], "Parameters": data.get("Parameters") or {}}
    if data.get("Description"):
        shape["Description"] = data["Description"]
    return shape


def _column(column: dict[str, Any]) -> dict[str, Any]:
    """Athena's Column: Name, Type and, when Glue has one, Comment."""
    shape = {"Name": column["Name"], "Type": column["Type"]}
    if column.get("Comment"):
        shape["Comment"] = column["Comment"]
    return shape


def _table_shape(table: Any) -> dict[str, Any]:
    data = table.as_dict()
    storage = data.get("StorageDescriptor") or {}
    parameters = dict(data.get("Parameters") or {})
    for key, value in (
        ("location", storage.get("Location")),
        ("inputformat", storage.get("InputFormat")),
        ("outputformat", storage.get("OutputFormat")),
        ("serde.serialization.lib", (storage.get("SerdeInfo") or {}).get("SerializationLibrary")),
    ):
        if value:
            parameters[key] = value
    shape: dict[str, Any] = {
        "Name": data["Name"],
        "TableType": data.get("TableType") or "",
        "Columns": [_column(c) for c in storage.get("Columns") or []],
        "PartitionKeys": [_column(c) for c in data.get("PartitionKeys") or []],
        "Parameters": parameters,
    }
    for ours, glues in (("CreateTime", "CreateTime"), ("LastAccessTime", "UpdateTime")):
        value = data.get(glues)
        if value is not None:
            # boto3 reads a timestamp as epoch seconds; moto keeps a datetime or a string.
            shape[ours] = value.timestamp() if hasattr(value, "timestamp") else value
    return shape


@_answer
def _list_data_catalogs(self: Any) -> dict[str, Any]:
    ours = [{"CatalogName": DEFAULT_CATALOG, "Type": "GLUE"}]
    others = [c for c in self.athena_backend.list_data_catalogs() if c["CatalogName"] != DEFAULT_CATALOG]
    return {"DataCatalogsSummary": ours + others}


@_answer
def _get_data_catalog(self: Any) -> dict[str, Any]:
    name = self._get_param("Name")
    if (name or "").lower() == DEFAULT_CATALOG.lower():
        return {
            "DataCatalog": {
                "Name": DEFAULT_CATALOG,
                "Description": "AWS Glue Data Catalog",
                "Type": "GLUE",
                "Parameters": {"catalog-id": self.current_account},
            }
        }
    found = self.athena_backend.get_data_catalog(name)
    if found is None:
        raise MetadataError(f"DataCatalog {name} was not found.", "InvalidRequestException")
    return {"DataCatalog": found}


@_answer
def _get_database(self: Any) -> dict[str, Any]:
    glue = _glue(self, self._get_param("CatalogName"))
    return {"Database": _database_shape(_database(glue, self._get_param("DatabaseName")))}


@_answer
def _list_databases(self: Any) -> dict[str, Any]:
    glue = _glue(self, self._get_param("CatalogName"))
    databases = [glue.databases[k] for k in sorted(glue.databases)]
    page, token = _page(self, databases)
    answer: dict[str, Any] = {"DatabaseList": [_database_shape(d) for d in page]}
    if token:
        answer["NextToken"] = token
    return answer


@_answer
def _get_table_metadata(self: Any) -> dict[str, Any]:
    database = _database(_glue(self, self._get_param("CatalogName")), self._get_param("DatabaseName"))
    name = (self._get_param("TableName") or "").lower()
    for key, table in database.tables.items():
        if key.lower() == name:
            return {"TableMetadata": _table_shape(table)}
    raise _not_found("Entity Not Found")


@_answer
def _list_table_metadata(self: Any) -> dict[str, Any]:
    database = _database(_glue(self, self._get_param("CatalogName")), self._get_param("DatabaseName"))
    pattern = _expression(self._get_param("Expression"))
    names = [n for n in sorted(database.tables) if pattern is None or pattern.fullmatch(n)]
    page, token = _page(self, names)
    answer: dict[str, Any] = {"TableMetadataList": [_table_shape(database.tables[n]) for n in page]}
    if token:
        answer["NextToken"] = token
    return answer


def _expression(text: str | None) -> re.Pattern[str] | None:
    if not text:
        return None
    alternatives = [re.escape(p).replace(r"\*", ".*") for p in text.split("|")]
    return re.compile("|".join(alternatives), re.IGNORECASE)


PATCHES = {
    "list_data_catalogs": _list_data_catalogs,
    "get_data_catalog": _get_data_catalog,
    "get_database": _get_database,
    "list_databases": _list_databases,
    "get_table_metadata": _get_table_metadata,
    "list_table_metadata": _list_table_metadata,
}
