"""How a crawl groups one target's classified objects into tables and partitions."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from local_aws.components import glue_schema as gs
from local_aws.components.glue_crawler_model import (
    SIMILARITY_THRESHOLD,
    CrawlerConfig,
    ObjectRef,
    PartitionPlan,
    TablePlan,
    catalog_name,
    hive_pair,
)

# A folder named like a value (``2026``, ``11``, ``2026-11-30``), as Firehose's default
# ``YYYY/MM/DD/HH/`` prefix writes them: a partition level of the include path's table, not a table.
VALUE_FOLDER = re.compile(r"\d[\d_:.-]*")


def plan_tables(config: CrawlerConfig, bucket: str, prefix: str, refs: list[ObjectRef]) -> list[TablePlan]:
    """Group one target's classified objects into tables and partitions."""
    groups: dict[str, list[ObjectRef]] = {}
    if config.table_level:
        depth = max(config.table_level - 1, 0)  # level 1 is the bucket
        for ref in refs:
            parts = ref.key.split("/")
            if len(parts) - 1 < depth:
                continue
            root = "/".join(parts[:depth]) + "/" if depth else ""
            groups.setdefault(root, []).append(ref)
    else:
        firsts = [ref.rel.split("/", 1)[0] if "/" in ref.rel else None for ref in refs]
        if (
            any(first is None or hive_pair(first) for first in firsts)
            or all(VALUE_FOLDER.fullmatch(str(first)) for first in firsts)
            or (config.combine_compatible and compatible_folders(refs))
            or similar_folders(refs)
        ):
            groups[prefix] = list(refs)
        else:
            for ref, first in zip(refs, firsts, strict=True):
                groups.setdefault(f"{prefix}{first}/", []).append(ref)
    return [plan for root, members in groups.items() if (plan := plan_table(config, bucket, root, members))]


def compatible_folders(refs: list[ObjectRef]) -> bool:
    """CombineCompatibleSchemas: one format and compression under the include path, whatever the
    columns (the schemas are merged into one table)."""
    kinds = {(ref.info.classification, ref.info.compression) for ref in refs if ref.info is not None}
    return len(kinds) == 1


def similar_folders(refs: list[ObjectRef]) -> bool:
    """Two or more folders under the include path that look like partitions of one table."""
    by_folder: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {}
    for ref in refs:
        assert ref.info is not None
        first = ref.rel.split("/", 1)[0]
        kind, fields = by_folder.get(first, (ref.info.classification, ()))
        if kind != ref.info.classification:
            return False
        by_folder[first] = (kind, gs.merge_fields(fields, ref.info.fields))
    if len(by_folder) < 2:
        return False
    schemas = list(by_folder.values())
    if len({kind for kind, _ in schemas}) != 1:
        return False
    return all(
        gs.similarity(left[1], right[1]) >= SIMILARITY_THRESHOLD
        for i, left in enumerate(schemas)
        for right in schemas[i + 1 :]
    )


def plan_table(config: CrawlerConfig, bucket: str, root: str, refs: list[ObjectRef]) -> TablePlan | None:
    if not refs:
        return None
    classification = Counter(ref.info.classification for ref in refs if ref.info).most_common(1)[0][0]
    refs = [ref for ref in refs if ref.info and ref.info.classification == classification]
    compression = Counter(ref.info.compression for ref in refs if ref.info).most_common(1)[0][0]
    base = root.rstrip("/").rsplit("/", 1)[-1] if root else bucket
    plan = TablePlan(
        name=catalog_name(config.table_prefix + base),
        bucket=bucket,
        root=root,
        classification=classification,
        compression=compression,
        json_path=config.json_path if classification == "json" else None,
    )
    folders_of = {ref.key: ref.key[len(root) :].split("/")[:-1] for ref in refs}
    depth = max(len(folders) for folders in folders_of.values())
    full = [folders for folders in folders_of.values() if len(folders) == depth]
    for level in range(depth):
        hive_keys = {(hive_pair(folders[level]) or ("", ""))[0] for folders in full}
        if len(hive_keys) == 1 and "" not in hive_keys:
            plan.partition_keys.append(catalog_name(hive_keys.pop()))
        else:
            plan.partition_keys.append(f"partition_{level}")
    for ref in refs:
        assert ref.info is not None
        plan.fields = gs.merge_fields(plan.fields, ref.info.fields)
        plan.objects += 1
        plan.size += ref.size
        plan.records += ref.info.records
        folders = folders_of[ref.key]
        if len(folders) != depth or depth == 0:
            continue
        values = tuple(
            hive[1] if (hive := hive_pair(folder)) and plan.partition_keys[i] != f"partition_{i}" else folder
            for i, folder in enumerate(folders)
        )
        partition = plan.partitions.get(values)
        if partition is None:
            partition = plan.partitions[values] = PartitionPlan(
                list(values), f"s3://{bucket}/{root}{'/'.join(folders)}/"
            )
        partition.objects += 1
        partition.size += ref.size
        partition.records += ref.info.records
        partition.fields = gs.merge_fields(partition.fields, ref.info.fields)
    keys = set(plan.partition_keys)
    plan.fields = tuple((name, kind) for name, kind in plan.fields if name not in keys)
    for partition in plan.partitions.values():
        partition.fields = tuple((name, kind) for name, kind in partition.fields if name not in keys)
    return plan
