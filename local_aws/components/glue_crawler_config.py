"""A crawler's ``Configuration`` JSON and its ``Classifiers``, checked at Create/UpdateCrawler as Glue
checks them, and read into the settings a crawl uses.

Glue documents these keys (crawler configuration options): ``Version``; ``Grouping`` with
``TableGroupingPolicy`` (``CombineCompatibleSchemas``), ``TableLevelConfiguration`` (a positive
integer, the absolute level of the table from the bucket, the bucket being level 1); and
``CrawlerOutput`` with ``Partitions.AddOrUpdateBehavior`` and ``Tables.AddOrUpdateBehavior``
(``InheritFromTable`` and ``MergeNewColumns`` respectively). Anything else is refused with
InvalidInputException, worded as Glue words an unsupported key ("X contains unsupported keys: Y.").

LIMITATIONS: the wording for an unsupported *value* and for a missing classifier is ours (Glue's own is not documented);
``CreatePartitionIndex`` and ``Tables.AddOrUpdateBehavior: MergeNewColumns`` are accepted and
stored but do not change a crawl.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_KEYS: dict[str, set[str]] = {
    "": {"Version", "Grouping", "CrawlerOutput", "CreatePartitionIndex"},
    "Grouping": {"TableGroupingPolicy", "TableLevelConfiguration"},
    "CrawlerOutput": {"Partitions", "Tables"},
    "CrawlerOutput.Partitions": {"AddOrUpdateBehavior"},
    "CrawlerOutput.Tables": {"AddOrUpdateBehavior"},
}
_VALUES: dict[str, set[str]] = {
    "Grouping.TableGroupingPolicy": {"CombineCompatibleSchemas"},
    "CrawlerOutput.Partitions.AddOrUpdateBehavior": {"InheritFromTable"},
    "CrawlerOutput.Tables.AddOrUpdateBehavior": {"MergeNewColumns"},
}


@dataclass(frozen=True)
class CrawlerSettings:
    """What a crawl takes from the crawler's Configuration."""

    table_level: int | None = None
    combine_compatible: bool = False
    inherit_partitions: bool = False


def _invalid(operation: str, message: str) -> Exception:
    from moto.glue.exceptions import InvalidInputException

    return InvalidInputException(operation, message)


def _check_object(operation: str, path: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _invalid(operation, f"{path or 'Configuration'} must be a JSON object.")
    unsupported = sorted(set(value) - _KEYS[path])
    if unsupported:
        raise _invalid(
            operation, f"{path or 'Configuration'} contains unsupported keys: {', '.join(unsupported)}."
        )
    for key, child in value.items():
        child_path = f"{path}.{key}" if path else key
        if child_path in _KEYS:
            _check_object(operation, child_path, child)
        elif child_path in _VALUES and child not in _VALUES[child_path]:
            allowed = ", ".join(sorted(_VALUES[child_path]))
            raise _invalid(
                operation, f"{child_path} has an unsupported value: {child!r}; supported: {allowed}."
            )


def _table_level(operation: str, grouping: dict[str, Any]) -> int | None:
    if "TableLevelConfiguration" not in grouping:
        return None
    level = grouping["TableLevelConfiguration"]
    if isinstance(level, bool) or not isinstance(level, int | float | str):
        level = None
    try:
        number = int(str(level)) if level is not None else 0
    except ValueError:
        number = 0
    if number < 1 or str(level).strip() not in {str(number), f"{number}.0"}:
        raise _invalid(
            operation, f"Grouping.TableLevelConfiguration must be a positive integer, got {level!r}."
        )
    return number


def parse_configuration(text: str | None, operation: str = "CreateCrawler") -> CrawlerSettings:
    """Check a crawler's Configuration as Glue does; the settings a crawl uses."""
    if not text:
        return CrawlerSettings()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _invalid(operation, f"Crawler configuration is not valid JSON: {exc}.") from exc
    _check_object(operation, "", document)
    grouping = document.get("Grouping") or {}
    partitions = (document.get("CrawlerOutput") or {}).get("Partitions") or {}
    return CrawlerSettings(
        table_level=_table_level(operation, grouping),
        combine_compatible=grouping.get("TableGroupingPolicy") == "CombineCompatibleSchemas",
        inherit_partitions=partitions.get("AddOrUpdateBehavior") == "InheritFromTable",
    )


def check_classifiers(known: dict[str, Any], names: list[str] | None, operation: str) -> None:
    """A crawler may name only classifiers that exist: InvalidInputException, the one error both
    CreateCrawler and UpdateCrawler declare for their input."""
    missing = [name for name in names or [] if name not in known]
    if missing:
        raise _invalid(
            operation,
            f"Classifier(s) not found: {', '.join(missing)}. Create them with CreateClassifier first.",
        )
