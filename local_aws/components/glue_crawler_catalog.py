"""Writing a crawl to the Data Catalog (under the world's lock): tables created or updated, partitions
added, vanished tables deleted or deprecated, as the SchemaChangePolicy and RecrawlPolicy say."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from local_aws.components import glue_schema as gs
from local_aws.components.glue_crawler_model import (
    JSON_FORMAT,
    PARQUET_FORMAT,
    CrawlerConfig,
    CrawlFailed,
    PartitionPlan,
    TablePlan,
)
from local_aws.world import World


def commit(
    world: World,
    config: CrawlerConfig,
    plans: list[TablePlan],
    roots: list[tuple[str, str]],
    counts: dict[str, int],
    log_lines: list[str],
) -> None:
    glue = world.backend("glue", config.account, config.region)
    database = glue.databases.get(config.database)
    if database is None:
        raise CrawlFailed(
            f"Database {config.database} does not exist or principal is not authorized to create tables."
        )
    produced: set[str] = set()
    for plan in plans:
        name = plan.name
        existing = database.tables.get(name)
        if existing is not None and _location_of(existing) != plan.location and name not in produced:
            # Another dataset already owns the name: keep both, as the crawler does, with a hash.
            name = f"{name}_{hashlib.md5(plan.location.encode()).hexdigest()[:8]}"
            existing = database.tables.get(name)
        if name in produced:
            log_lines.append(f"WARN : two tables map to {name}; {plan.location} was skipped")
            continue
        produced.add(name)
        if existing is None:
            glue.create_table(config.database, name, _table_input(name, plan, plan.fields, config.name))
            counts["created"] += 1
            log_lines.append(f"INFO : Created table {name} in database {config.database}")
            add_partitions(config, glue, name, plan, log_lines)
            continue
        update_table(config, glue, existing, plan, counts, log_lines)
        add_partitions(config, glue, name, plan, log_lines)
    if not config.new_folders_only:
        handle_vanished(config, glue, database, roots, produced, counts, log_lines)


def update_table(
    config: CrawlerConfig,
    glue: Any,
    table: Any,
    plan: TablePlan,
    counts: dict[str, int],
    log_lines: list[str],
) -> None:
    current_input = table.get_version(str(table._current_version))
    current_columns = tuple(
        (column["Name"], gs.parse_type_name(column["Type"]))
        for column in (current_input.get("StorageDescriptor") or {}).get("Columns", [])
    )
    merged = gs.merge_fields(current_columns, plan.fields)
    desired = _table_input(table.name, plan, merged, config.name)
    deprecated = "DEPRECATED_BY_CRAWLER" in (current_input.get("Parameters") or {})
    if _schema_signature(desired) == _schema_signature(current_input) and not deprecated:
        return
    if config.update_behavior == "LOG" or config.new_folders_only:
        log_lines.append(f"INFO : Schema change detected for table {table.name}; not updated (LOG)")
        return
    glue.update_table(config.database, table.name, desired)
    counts["updated"] += 1
    log_lines.append(f"INFO : Updated table {table.name} in database {config.database}")
    if not config.inherit_partitions:
        return  # each partition keeps its own schema (add_partitions updates those whose data changed)
    # InheritFromTable: existing partitions follow the table's new columns.
    for partition in list(table.partitions.values()):
        part_input = json.loads(json.dumps(partition.partition_input, default=str))
        part_input.setdefault("StorageDescriptor", {})["Columns"] = desired["StorageDescriptor"]["Columns"]
        glue.update_partition(config.database, table.name, part_input, part_input["Values"])


def add_partitions(
    config: CrawlerConfig, glue: Any, name: str, plan: TablePlan, log_lines: list[str]
) -> None:
    table = glue.get_table(config.database, name)
    current_input = table.get_version(str(table._current_version))
    columns = (current_input.get("StorageDescriptor") or {}).get("Columns", [])
    new_inputs = [
        _partition_input(partition, plan, _partition_columns(config, partition, columns), config.name)
        for values, partition in plan.partitions.items()
        if str(list(values)) not in table.partitions
    ]
    if new_inputs:
        glue.batch_create_partition(config.database, name, new_inputs)
        log_lines.append(f"INFO : Added {len(new_inputs)} partition(s) to table {name}")
    if not config.inherit_partitions and config.update_behavior != "LOG" and not config.new_folders_only:
        _update_changed_partitions(config, glue, table, plan, log_lines)
    if config.new_folders_only:
        return
    wanted = {str(list(values)) for values in plan.partitions}
    for key, partition in list(table.partitions.items()):
        if key in wanted or not _under(_partition_location(partition), plan.location):
            continue
        if config.delete_behavior == "DELETE_FROM_DATABASE":
            glue.delete_partition(config.database, name, partition.values)
            log_lines.append(f"INFO : Deleted partition {partition.values} of table {name}")
        else:
            log_lines.append(f"INFO : Partition {partition.values} of table {name} has no data any more")


def _partition_columns(
    config: CrawlerConfig, partition: PartitionPlan, table_columns: list[dict[str, str]]
) -> list[dict[str, str]]:
    """InheritFromTable: the table's columns; otherwise the partition's own schema, as Glue's default."""
    return list(table_columns) if config.inherit_partitions else _columns(partition.fields)


def _update_changed_partitions(
    config: CrawlerConfig, glue: Any, table: Any, plan: TablePlan, log_lines: list[str]
) -> None:
    """Existing partitions whose own data now has another schema get it (Glue's default output)."""
    for values, partition_plan in plan.partitions.items():
        existing = table.partitions.get(str(list(values)))
        if existing is None:
            continue
        columns = _columns(partition_plan.fields)
        current = (existing.partition_input.get("StorageDescriptor") or {}).get("Columns") or []
        if [(c["Name"], c["Type"]) for c in current] == [(c["Name"], c["Type"]) for c in columns]:
            continue
        part_input = json.loads(json.dumps(existing.partition_input, default=str))
        part_input.setdefault("StorageDescriptor", {})["Columns"] = columns
        glue.update_partition(config.database, table.name, part_input, part_input["Values"])
        log_lines.append(f"INFO : Updated the schema of partition {list(values)} of table {table.name}")


def handle_vanished(
    config: CrawlerConfig,
    glue: Any,
    database: Any,
    roots: list[tuple[str, str]],
    produced: set[str],
    counts: dict[str, int],
    log_lines: list[str],
) -> None:
    """Tables this crawler made under its include paths that have no data any more."""
    for table in list(database.tables.values()):
        if table.name in produced:
            continue
        current_input = table.get_version(str(table._current_version))
        params = current_input.get("Parameters") or {}
        if params.get("UPDATED_BY_CRAWLER") != config.name or "DEPRECATED_BY_CRAWLER" in params:
            continue
        location = _location_of(table)
        if not any(_under(location, f"s3://{bucket}/{prefix}") for bucket, prefix in roots):
            continue
        if config.delete_behavior == "DELETE_FROM_DATABASE":
            glue.delete_table(config.database, table.name)
            counts["deleted"] += 1
            log_lines.append(f"INFO : Deleted table {table.name}: its data is gone")
        elif config.delete_behavior == "DEPRECATE_IN_DATABASE":
            deprecated = json.loads(json.dumps(current_input, default=str))
            deprecated["Parameters"] = {**params, "DEPRECATED_BY_CRAWLER": str(int(time.time() * 1000))}
            for key in ("DatabaseName", "CreateTime", "UpdateTime", "VersionId", "CatalogId"):
                deprecated.pop(key, None)
            glue.update_table(config.database, table.name, deprecated)
            counts["deleted"] += 1
            log_lines.append(f"INFO : Deprecated table {table.name}: its data is gone")
        else:
            log_lines.append(f"INFO : Table {table.name} has no data any more (LOG)")


def remember(
    config: CrawlerConfig,
    store: dict[str, Any],
    pending: dict[str, tuple[str, int, str, dict[str, Any]]],
    roots: list[tuple[str, str]],
    listed: dict[str, set[str]],
) -> None:
    """Keep this crawl's per-object schemas; forget objects under the include paths that are gone."""
    for bucket, prefix in roots:
        head = f"{config.account}/{bucket}/{prefix}"
        for cache_key in [key for key in store if key.startswith(head)]:
            if cache_key[len(f"{config.account}/{bucket}/") :] not in listed.get(bucket, set()):
                del store[cache_key]
    store.update(pending)


def _location_of(table: Any) -> str:
    current_input = table.get_version(str(table._current_version))
    return ((current_input.get("StorageDescriptor") or {}).get("Location") or "").rstrip("/") + "/"


def _partition_location(partition: Any) -> str:
    return ((partition.partition_input.get("StorageDescriptor") or {}).get("Location") or "").rstrip(
        "/"
    ) + "/"


def _under(location: str, root: str) -> bool:
    root = root if root.endswith("/") else root + "/"
    return (location.rstrip("/") + "/").startswith(root)


def _formats(classification: str) -> dict[str, str]:
    return PARQUET_FORMAT if classification == "parquet" else JSON_FORMAT


def _columns(fields: tuple[tuple[str, Any], ...]) -> list[dict[str, str]]:
    return [{"Name": name, "Type": gs.type_name(kind)} for name, kind in fields]


def _statistics(plan: TablePlan | PartitionPlan, table: TablePlan, crawler: str) -> dict[str, str]:
    params = {
        "CrawlerSchemaDeserializerVersion": "1.0",
        "CrawlerSchemaSerializerVersion": "1.0",
        "UPDATED_BY_CRAWLER": crawler,
        "averageRecordSize": str(plan.size // plan.records if plan.records else 0),
        "classification": table.classification,
        "compressionType": table.compression,
        "objectCount": str(plan.objects),
        "recordCount": str(plan.records),
        "sizeKey": str(plan.size),
        "typeOfData": "file",
    }
    if table.json_path:
        params["jsonPath"] = table.json_path
    return params


def _storage_descriptor(
    columns: list[dict[str, str]], location: str, table: TablePlan, params: dict[str, str]
) -> dict[str, Any]:
    formats = _formats(table.classification)
    if table.classification == "parquet":
        serde_params = {"serialization.format": "1"}
    else:
        serde_params = {"paths": ",".join(sorted(column["Name"] for column in columns))}
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": formats["InputFormat"],
        "OutputFormat": formats["OutputFormat"],
        "Compressed": table.compression != "none",
        "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": formats["SerializationLibrary"], "Parameters": serde_params},
        "BucketColumns": [],
        "SortColumns": [],
        "Parameters": dict(params),
        "StoredAsSubDirectories": False,
    }


def _table_input(
    name: str, plan: TablePlan, fields: tuple[tuple[str, Any], ...], crawler: str
) -> dict[str, Any]:
    params = _statistics(plan, plan, crawler)
    columns = _columns(fields)
    return {
        "Name": name,
        "Owner": "owner",
        "Retention": 0,
        "StorageDescriptor": _storage_descriptor(columns, plan.location, plan, params),
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in plan.partition_keys],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
    }


def _partition_input(
    partition: PartitionPlan, plan: TablePlan, columns: list[dict[str, str]], crawler: str
) -> dict[str, Any]:
    params = _statistics(partition, plan, crawler)
    return {
        "Values": list(partition.values),
        "StorageDescriptor": _storage_descriptor(list(columns), partition.location, plan, params),
        "Parameters": {},
    }


def _schema_signature(table_input: dict[str, Any]) -> Any:
    """What makes two versions of a table the same table (statistics excluded)."""
    descriptor = table_input.get("StorageDescriptor") or {}
    params = table_input.get("Parameters") or {}
    return (
        [(column.get("Name"), column.get("Type")) for column in descriptor.get("Columns", [])],
        [(key.get("Name"), key.get("Type")) for key in table_input.get("PartitionKeys", [])],
        descriptor.get("Location"),
        descriptor.get("InputFormat"),
        descriptor.get("OutputFormat"),
        (descriptor.get("SerdeInfo") or {}).get("SerializationLibrary"),
        (descriptor.get("SerdeInfo") or {}).get("Parameters"),
        params.get("classification"),
        params.get("compressionType"),
        params.get("jsonPath"),
    )
