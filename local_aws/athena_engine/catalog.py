"""The Glue catalog and the S3 bytes a query needs, read from moto under the world lock.

Every method takes the lock for as long as it touches moto and returns plain data, so the
engine can run DuckDB with the lock set down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from local_aws.world import World


class CatalogError(Exception):
    """A name the catalog does not know; ``code`` is Athena's error name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Partition:
    values: list[str]
    location: str


@dataclass
class TableDef:
    """One Glue table or view, as plain data."""

    database: str
    name: str
    table_type: str
    columns: list[tuple[str, str]]
    partition_keys: list[tuple[str, str]]
    location: str
    serde_library: str
    serde_parameters: dict[str, str]
    input_format: str
    parameters: dict[str, str]
    view_original_text: str
    partitions: list[Partition] = field(default_factory=list)
    output_format: str = ""
    column_comments: dict[str, str] = field(default_factory=dict)  # Glue's column Comment, by name

    @property
    def is_view(self) -> bool:
        return self.table_type == "VIRTUAL_VIEW" or bool(self.view_original_text)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    if not uri.startswith(("s3://", "s3a://", "s3n://")):
        raise CatalogError("INVALID_LOCATION", f"Location {uri!r} is not an S3 location")
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _find_table(db: Any, name: str) -> str | None:
    """The stored name of table ``name`` in Glue database ``db`` (names are case-insensitive)."""
    return next((n for n in db.tables if n.lower() == name.lower()), None)


def _table_named(db: Any, database: str, name: str) -> str:
    """`_find_table`, or Athena's TABLE_NOT_FOUND."""
    existing = _find_table(db, name)
    if existing is None:
        raise CatalogError("TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{database}.{name}' does not exist")
    return existing


class Catalog:
    """Glue and S3 of one account and region, seen by one query."""

    def __init__(self, world: World, account_id: str, region: str) -> None:
        self.world = world
        self.account_id = account_id
        self.region = region

    def _glue(self) -> Any:
        return self.world.backend("glue", self.account_id, self.region)

    def _s3(self) -> Any:
        return self.world.backend("s3", self.account_id, self.region)

    def _database(self, glue: Any, database: str) -> Any:
        for name, db in glue.databases.items():
            if name.lower() == database.lower():
                return db
        raise CatalogError("SCHEMA_NOT_FOUND", f"Schema '{database}' does not exist")

    # -- reading ----------------------------------------------------------------------------
    def database_names(self) -> list[str]:
        with self.world.lock:
            return sorted(self._glue().databases)

    def table_names(self, database: str) -> list[str]:
        with self.world.lock:
            return sorted(self._database(self._glue(), database).tables)

    def get_table(self, database: str, name: str) -> TableDef:
        """The table or view, with its registered partitions; raises CatalogError if unknown."""
        with self.world.lock:
            db = self._database(self._glue(), database)
            table = db.tables[_table_named(db, database.lower(), name.lower())]
            data = table.as_dict()
            storage = data.get("StorageDescriptor") or {}
            serde = storage.get("SerdeInfo") or {}
            partitions = [
                Partition(
                    values=[str(v) for v in p.partition_input.get("Values", [])],
                    location=((p.partition_input.get("StorageDescriptor") or {}).get("Location") or ""),
                )
                for p in table.partitions.values()
            ]
            return TableDef(
                database=db.name,
                name=table.name,
                table_type=data.get("TableType") or "",
                columns=[(c["Name"].lower(), c["Type"]) for c in storage.get("Columns") or []],
                partition_keys=[(c["Name"].lower(), c["Type"]) for c in data.get("PartitionKeys") or []],
                location=storage.get("Location") or "",
                serde_library=serde.get("SerializationLibrary") or "",
                serde_parameters=dict(serde.get("Parameters") or {}),
                input_format=storage.get("InputFormat") or "",
                parameters=dict(data.get("Parameters") or {}),
                view_original_text=data.get("ViewOriginalText") or "",
                partitions=partitions,
                output_format=storage.get("OutputFormat") or "",
                column_comments={
                    c["Name"].lower(): c["Comment"]
                    for c in (storage.get("Columns") or []) + (data.get("PartitionKeys") or [])
                    if c.get("Comment")
                },
            )

    def list_objects(self, location: str) -> list[tuple[str, int, str]]:
        """The data objects under a table or partition location: (s3 uri, size, ETag)."""
        bucket_name, prefix = split_s3_uri(location)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        from moto.s3.models import FakeKey

        with self.world.lock:
            try:
                bucket = self._s3().get_bucket(bucket_name)
            except Exception as error:  # moto's MissingBucket
                raise CatalogError("HIVE_PATH_NOT_FOUND", f"Bucket {bucket_name} does not exist") from error
            found = []
            for key_name, key in bucket.keys.items():
                if not isinstance(key, FakeKey) or not key_name.startswith(prefix):
                    continue
                base = key_name.rsplit("/", 1)[-1]
                # Hive (and Athena) skip folder markers and hidden files such as _SUCCESS.
                if not base or base.startswith(("_", ".")):
                    continue
                # moto computes an ETag once per object version and keeps it.
                found.append((f"s3://{bucket_name}/{key_name}", key.size, key.etag))
            return sorted(found)

    def read_object(self, uri: str) -> bytes:
        return self.read_object_version(uri)[0]

    def read_object_version(self, uri: str) -> tuple[bytes, str, int]:
        """The object's bytes with the ETag and size of the version read (it may have changed since listing)."""
        bucket_name, key_name = split_s3_uri(uri)
        with self.world.lock:
            key = self._s3().get_object(bucket_name, key_name)
            if key is None:
                raise CatalogError(
                    "HIVE_CANNOT_OPEN_SPLIT", f"Error opening Hive split {uri}: object is gone"
                )
            return bytes(key.value), key.etag, key.size

    # -- writing ----------------------------------------------------------------------------
    def put_object(self, uri: str, body: bytes) -> None:
        bucket_name, key_name = split_s3_uri(uri)
        with self.world.lock:
            self._s3().put_object(bucket_name, key_name, body)
            self.world.mark_dirty()

    def write_object(self, uri: str, body: bytes) -> None:
        """Write a table's data object durably (journalled, as a delivery service writes)."""
        bucket_name, key_name = split_s3_uri(uri)
        with self.world.lock:
            try:
                self.world.put_s3_object(self.account_id, bucket_name, key_name, body)
            except Exception as error:  # moto's MissingBucket
                raise CatalogError("HIVE_PATH_NOT_FOUND", f"Bucket {bucket_name} does not exist") from error
            self.world.mark_dirty()

    def add_partitions(self, database: str, name: str, partitions: list[tuple[list[str], str]]) -> None:
        """Register partitions (values, location) not yet in Glue, in the table's storage shape."""
        with self.world.lock:
            glue = self._glue()
            db = self._database(glue, database)
            existing = _table_named(db, database, name)
            table = db.tables[existing]
            storage = dict(table.as_dict().get("StorageDescriptor") or {})
            known = {
                tuple(str(v) for v in p.partition_input.get("Values", [])) for p in table.partitions.values()
            }
            for values, location in partitions:
                if tuple(values) in known:
                    continue
                partition_input = {
                    "Values": list(values),
                    "StorageDescriptor": {**storage, "Location": location},
                }
                glue.create_partition(db.name, existing, partition_input)
                known.add(tuple(values))
            self.world.mark_dirty()

    def bucket_exists(self, uri: str) -> bool:
        bucket_name, _ = split_s3_uri(uri)
        with self.world.lock:
            return bucket_name in self._s3().buckets

    def put_table(self, database: str, name: str, table_input: dict[str, Any], replace: bool) -> None:
        """Create a table (or view); with ``replace`` an existing one gets a new version."""
        with self.world.lock:
            glue = self._glue()
            db = self._database(glue, database)
            existing = _find_table(db, name)
            if existing is not None:
                if not replace:
                    raise CatalogError(
                        "ALREADY_EXISTS", f"Table 'awsdatacatalog.{db.name}.{name}' already exists"
                    )
                glue.update_table(db.name, existing, table_input)
            else:
                glue.create_table(db.name, name, table_input)
            self.world.mark_dirty()

    def drop_table(self, database: str, name: str) -> bool:
        """Delete a table or view; False when it did not exist."""
        with self.world.lock:
            glue = self._glue()
            db = self._database(glue, database)
            existing = _find_table(db, name)
            if existing is None:
                return False
            glue.delete_table(db.name, existing)
            self.world.mark_dirty()
            return True

    def create_database(self, name: str, parameters: dict[str, str], location: str | None) -> bool:
        """Create a Glue database; False when one of that name exists."""
        with self.world.lock:
            glue = self._glue()
            if any(n.lower() == name.lower() for n in glue.databases):
                return False
            database_input: dict[str, Any] = {"Name": name, "Parameters": parameters}
            if location:
                database_input["LocationUri"] = location
            glue.create_database(name, database_input)
            self.world.mark_dirty()
            return True

    def drop_database(self, name: str, cascade: bool) -> None:
        """Delete a Glue database; without ``cascade`` only an empty one (Hive's rule)."""
        with self.world.lock:
            glue = self._glue()
            db = self._database(glue, name)
            if db.tables and not cascade:
                raise CatalogError("SCHEMA_NOT_EMPTY", f"Cannot drop non-empty schema '{db.name}'")
            for table in list(db.tables):
                glue.delete_table(db.name, table)
            glue.delete_database(db.name)
            self.world.mark_dirty()

    def drop_partitions(self, database: str, name: str, partitions: list[list[str]]) -> None:
        """Remove partitions from Glue (their objects stay, as in Athena)."""
        with self.world.lock:
            glue = self._glue()
            db = self._database(glue, database)
            existing = _table_named(db, database, name)
            for values in partitions:
                glue.delete_partition(db.name, existing, list(values))
            self.world.mark_dirty()

    def set_columns(self, database: str, name: str, columns: list[dict[str, str]]) -> None:
        """Give a table new data columns (a new table version, as Glue's UpdateTable makes)."""
        with self.world.lock:
            glue = self._glue()
            db = self._database(glue, database)
            existing = _table_named(db, database, name)
            data = db.tables[existing].as_dict()
            table_input = {
                k: v
                for k, v in data.items()
                if k
                in (
                    "Name",
                    "Description",
                    "Owner",
                    "Retention",
                    "StorageDescriptor",
                    "PartitionKeys",
                    "TableType",
                    "Parameters",
                    "ViewOriginalText",
                    "ViewExpandedText",
                )
            }
            table_input["StorageDescriptor"] = {**(data.get("StorageDescriptor") or {}), "Columns": columns}
            glue.update_table(db.name, existing, table_input)
            self.world.mark_dirty()
