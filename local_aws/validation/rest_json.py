"""REST-JSON requests (Lambda, Pipes): the operation from method and path, the body from its shape.

botocore's model gives each operation's method and URI template (``/2015-03-31/functions/
{FunctionName}/invocations``); a request matching none is an unknown operation, as AWS answers it.
The JSON body is then checked like a JSON-protocol body, against the input members that travel in
the body (not those bound to the URI, query string or headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")


@dataclass
class BodyShape:
    """The part of an input shape that is serialised in the JSON body, keyed by wire name."""

    members: dict[str, Any]
    required_members: list[str]
    type_name: str = "structure"
    metadata: dict[str, Any] = field(default_factory=dict)


@cache
def _routes(model: Any) -> list[tuple[str, re.Pattern[str], int, str]]:
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].split("?", 1)[0].rstrip("/")
        pattern = ""
        last = 0
        for label in _LABEL.finditer(path):
            pattern += re.escape(path[last : label.start()]) + (".+" if label.group(2) else "[^/]+")
            last = label.end()
        pattern += re.escape(path[last:])
        literal = len(_LABEL.sub("", path))
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), literal, name))
    # The most literal template wins: /functions/{F}/invocations over /functions/{F}.
    routes.sort(key=lambda route: -route[2])
    return routes


def operation_for(model: Any, method: str, path: str) -> Any | None:
    """The operation model a REST request addresses, or None when no route matches."""
    for route_method, pattern, _, name in _routes(model):
        if route_method == method and pattern.match(path):
            return model.operation_model(name)
    return None


def body_shape(operation: Any) -> BodyShape | None:
    """The body members of an operation's input; None when the body is a raw payload."""
    shape = operation.input_shape
    if shape is None or shape.serialization.get("payload"):
        return None
    members = {}
    required = []
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue
        wire = member.serialization.get("name", name)
        members[wire] = member
        if name in shape.required_members:
            required.append(wire)
    return BodyShape(members, required)
