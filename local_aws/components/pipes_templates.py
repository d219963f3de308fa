"""The two small languages a pipe's parameters use: JSONPath (``$.a.b[0]``) and input templates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_SIMPLE_PATH = re.compile(r"^\$((\.[A-Za-z0-9_\-]+)|(\[\d+\]))*$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")
MISSING = object()  # what a path finds where the document has nothing


class JsonPath:
    """A compiled JSONPath. Plain dotted paths (the common case) skip jsonpath-ng: it is slow."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._steps: list[str | int] | None = None
        self._expr: Any = None
        if _SIMPLE_PATH.match(text):
            self._steps = [name if name else int(index) for name, index in _STEP.findall(text)]
        else:
            from jsonpath_ng.ext import parse

            try:
                self._expr = parse(text)
            except Exception as err:  # jsonpath-ng raises several types for bad syntax
                raise ValueError(f"invalid JSONPath {text!r}: {err}") from None

    def find(self, document: Any) -> Any:
        """The value at the path, a list when a wildcard matched several, or `MISSING`."""
        if self._steps is not None:
            value = document
            for step in self._steps:
                if isinstance(step, int):
                    if not isinstance(value, list) or step >= len(value):
                        return MISSING
                    value = value[step]
                else:
                    if not isinstance(value, dict) or step not in value:
                        return MISSING
                    value = value[step]
            return value
        found = [match.value for match in self._expr.find(document)]
        if not found:
            return MISSING
        return found[0] if len(found) == 1 else found


_PATH_CACHE: dict[str, JsonPath] = {}


def json_path(text: str) -> JsonPath:
    path = _PATH_CACHE.get(text)
    if path is None:
        path = _PATH_CACHE[text] = JsonPath(text)
    return path


# -- input templates ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<(\$[^<>]*|aws\.pipes\.[A-Za-z.\-]+)>")
_RESERVED = {
    "aws.pipes.pipe-arn",
    "aws.pipes.pipe-name",
    "aws.pipes.source-arn",
    "aws.pipes.enrichment-arn",
    "aws.pipes.target-arn",
    "aws.pipes.event.ingestion-time",
    "aws.pipes.event",
    "aws.pipes.event.json",
}


@dataclass
class InputTemplate:
    """A parsed InputTemplate: literal text and placeholders, each knowing if it sits in quotes.

    As Pipes does, a placeholder inside a JSON string gets the value's text (escaped for JSON);
    outside quotes in a JSON template it gets the value as JSON (strings quoted, objects as
    objects); in a free-text template it gets a string's raw text and anything else as JSON.
    """

    text: str
    parts: list[str | tuple[str, bool]] = field(default_factory=list)  # literal, or (name, quoted)
    json_mode: bool = False

    @classmethod
    def parse(cls, text: str) -> InputTemplate:
        template = cls(text)
        stripped = text.strip()
        template.json_mode = stripped.startswith(("{", "["))
        in_string = False
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            literal = text[position : match.start()]
            in_string = _scan_quotes(literal, in_string) if template.json_mode else False
            template.parts.append(literal)
            name = match.group(1)
            if name.startswith("$"):
                json_path(name)  # raises ValueError for a bad path
            elif name not in _RESERVED:
                raise ValueError(f"unknown reserved variable <{name}>")
            template.parts.append((name, in_string))
            position = match.end()
        template.parts.append(text[position:])
        if template.json_mode:
            try:
                json.loads(template.render({}, {}, missing_as_null=True))
            except ValueError as err:
                raise ValueError(
                    f"InputTemplate is not valid JSON once its placeholders are filled: {err}"
                ) from None
        return template

    def render(self, event: Any, context: dict[str, Any], missing_as_null: bool = False) -> str:
        """The template filled from ``event``; ``context`` holds the reserved variables."""
        pieces: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            name, quoted = part
            if name.startswith("$"):
                value = json_path(name).find(event)
            elif name in ("aws.pipes.event", "aws.pipes.event.json"):
                value = event
            else:
                value = context.get(name, MISSING)
            if quoted:
                if value is MISSING:
                    pieces.append("")
                else:
                    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                    pieces.append(json.dumps(raw)[1:-1])
            elif self.json_mode or (len(self.parts) == 3 and not self.parts[0] and not self.parts[2]):
                if value is MISSING:
                    pieces.append("null")
                elif isinstance(value, str) and not self.json_mode:
                    pieces.append(value)  # a template that is one placeholder yields a string as is
                else:
                    pieces.append(json.dumps(value, separators=(",", ":")))
            elif value is MISSING:
                pieces.append("null" if missing_as_null else "")
            else:
                pieces.append(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        return "".join(pieces)


def _scan_quotes(literal: str, in_string: bool) -> bool:
    """Whether a JSON text is inside a string literal after ``literal``."""
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string
