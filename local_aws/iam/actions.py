"""Facts about IAM actions, read from parliament's database of AWS's Service Authorization Reference.

``parliament/iam_definition.json`` (installed with parliament, kept up to date by its maintainers)
lists, for each service prefix, every action with the resource types it applies to, and each
resource type's ARN template (``arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}``).
A resource type marked ``*`` is required; an action whose only resource type is the empty string
has no resource type, so a policy can grant it only with ``"Resource": "*"``.

The file is read with json (parliament's own import needs setuptools' pkg_resources) once per
process, on first use.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class ResourceType:
    """One resource type an action applies to."""

    name: str
    arn_template: str
    required: bool


@dataclass(frozen=True)
class Action:
    """One action: its resource types, empty when it has none (only ``"*"`` grants it)."""

    prefix: str
    name: str
    resource_types: tuple[ResourceType, ...]

    @property
    def full_name(self) -> str:
        return f"{self.prefix}:{self.name}"


def _definition_path() -> Path:
    spec = importlib.util.find_spec("parliament")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("parliament is not installed: local_aws's IAM needs its iam_definition.json")
    return Path(next(iter(spec.submodule_search_locations))) / "iam_definition.json"


@functools.cache
def _database() -> dict[str, dict[str, Any]]:
    """Each prefix's privileges (by lower-case name) and ARN templates (by resource type)."""
    services: dict[str, dict[str, Any]] = {}
    for service in json.loads(_definition_path().read_text()):
        entry = services.setdefault(service["prefix"], {"privileges": {}, "arns": {}})
        for resource in service.get("resources", []):
            entry["arns"].setdefault(resource["resource"], resource["arn"])
        for privilege in service.get("privileges", []):
            entry["privileges"].setdefault(privilege["privilege"].lower(), privilege)
    return services


@functools.lru_cache(maxsize=2048)
def lookup(full_name: str) -> Action | None:
    """The action ``prefix:Name`` (case-insensitive), or None when AWS's reference has no such action."""
    prefix, _, name = full_name.partition(":")
    service = _database().get(prefix.lower())
    if service is None:
        return None
    privilege = service["privileges"].get(name.lower())
    if privilege is None:
        return None
    types = []
    for entry in privilege["resource_types"]:
        raw = entry["resource_type"]
        if not raw:
            continue  # the "" row carries the action's condition keys, not a resource type
        required = raw.endswith("*")
        type_name = raw.rstrip("*")
        template = service["arns"].get(type_name)
        if template is not None:
            types.append(ResourceType(type_name, template, required))
    return Action(prefix.lower(), privilege["privilege"], tuple(types))


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def fill(template: str, values: dict[str, str]) -> str | None:
    """The ARN of a template with every ``${Name}`` from ``values``; None when one is missing."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(match.group(1))
        if value is None:
            missing = True
            return ""
        return value

    arn = _PLACEHOLDER.sub(replace, template)
    return None if missing else arn


def known_prefixes() -> frozenset[str]:
    return frozenset(_database())
