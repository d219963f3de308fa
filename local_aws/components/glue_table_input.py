"""Glue's constraint on the parameter maps of a table: CreateTable and UpdateTable refuse a key that is
empty or longer than 255 characters, in ``TableInput.Parameters``, ``StorageDescriptor.Parameters``
and ``SerdeInfo.Parameters`` (the API's ``KeyString``: length 1-255).

moto stores whatever it is given, so a table that Glue would refuse (such as one with an empty key)
could be made here and work, then fail on AWS. The check sits on moto's backend, so it covers the
Glue API and local_aws's own writers (Athena DDL, the crawler) alike.

LIMITATIONS: values are not checked against their 512,000-character limit, nor keys against the
API's character pattern; partitions' parameter maps are not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.glue.exceptions import GlueClientError

from local_aws.components.base import Component
from local_aws.world import World

MAX_KEY = 255


class GlueTableInput(Component):
    """Patches moto's Glue backend to refuse parameter keys Glue refuses."""

    name = "glue_table_input"

    def install(self, world: World) -> None:
        super().install(world)
        install_parameter_check()


class ValidationException(GlueClientError):
    """Glue's answer to input that breaks the API's constraints."""

    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


def check_table_input(table_input: dict[str, Any]) -> None:
    """Raise ValidationException, as Glue words it, for a parameter key outside 1-255 characters."""
    descriptor = table_input.get("StorageDescriptor") or {}
    maps = {
        "tableInput.parameters": table_input.get("Parameters"),
        "tableInput.storageDescriptor.parameters": descriptor.get("Parameters"),
        "tableInput.storageDescriptor.serdeInfo.parameters": (descriptor.get("SerdeInfo") or {}).get(
            "Parameters"
        ),
    }
    for where, parameters in maps.items():
        for key in parameters or {}:
            if not 1 <= len(str(key)) <= MAX_KEY:
                raise ValidationException(
                    f"1 validation error detected: Value '{key}' at '{where}' failed to satisfy constraint: "
                    f"Map keys must satisfy constraint: [Member must have length less than or equal to "
                    f"{MAX_KEY}, Member must have length greater than or equal to 1]"
                )


def _checked(original: Callable[..., Any]) -> Callable[..., Any]:
    def method(
        self: Any, database_name: str, table_name: str, table_input: dict[str, Any], *a: Any, **k: Any
    ) -> Any:
        check_table_input(table_input)
        return original(self, database_name, table_name, table_input, *a, **k)

    method.la_original = original  # type: ignore[attr-defined]
    return method


def install_parameter_check() -> None:
    """Wrap moto's GlueBackend.create_table and update_table once (idempotent)."""
    from moto.glue.models import GlueBackend

    for name in ("create_table", "update_table"):
        if not hasattr(getattr(GlueBackend, name), "la_original"):
            setattr(GlueBackend, name, _checked(getattr(GlueBackend, name)))
