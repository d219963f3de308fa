"""Hive/Glue type names of declared columns, read as far as the pipeline needs: a struct's fields.

Glue writes complex types without spaces (``struct<street:string,unit:string>``,
``array<struct<sku:string>>``); `normal_type` brings a declaration to that form before it is read.
"""

from __future__ import annotations

from typing import Any

from cdc_pipeline.definitions.model import normal_type


def _split_top_level(text: str) -> list[str]:
    """``a:int,b:struct<c:int,d:int>`` split on the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += char in "<("
        depth -= char in ">)"
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part for part in parts if part]


def struct_field_types(kind: str) -> list[tuple[str, str]]:
    """The (name, type) of each field of ``struct<...>``, one level deep; [] for any other type."""
    text = normal_type(kind)
    if not text.startswith("struct<") or not text.endswith(">"):
        return []
    fields = []
    for part in _split_top_level(text[len("struct<") : -1]):
        name, _, field_type = part.partition(":")
        fields.append((name, field_type))
    return fields


def array_element(kind: str) -> str | None:
    """The element type of ``array<...>``; None for any other type."""
    text = normal_type(kind)
    if text.startswith("array<") and text.endswith(">"):
        return text[len("array<") : -1]
    return None


def shape(kind: str) -> Any:
    """What a value of ``kind`` may hold by name: a struct's fields (a dict of their shapes), an array of
    structs' element shape (a one-element list), or None (a scalar or map: any keys are its own)."""
    fields = struct_field_types(kind)
    if fields:
        return {name: shape(field_type) for name, field_type in fields}
    element = array_element(kind)
    if element is not None:
        inner = shape(element)
        return [inner] if inner is not None else None
    return None


def declared_tree(columns: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> dict[str, Any]:
    """The declared columns as the transform's ``DECLARED_COLUMNS`` tree: each name with its shape."""
    return {name: shape(kind) for name, kind in columns}
