"""How a component patches moto: each original kept once, and the running component found from a patch.

A patch replaces a method on one of moto's model classes for the whole process (moto's backends
are module globals), so it must call through to the original when no local_aws server runs in
this process, and must never wrap itself when a second server installs it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from local_aws.world import current

C = TypeVar("C")

#: (moto class, method name, replacement)
Patch = tuple[type, str, Callable[..., Any]]


def install(originals: dict[str, Callable[..., Any]], patches: Iterable[Patch]) -> None:
    """Replace each method once per process; ``originals["Class.method"]`` keeps what was there."""
    if originals:
        return
    for owner, name, replacement in patches:
        originals[f"{owner.__name__}.{name}"] = getattr(owner, name)
        setattr(owner, name, replacement)


def running(component_class: type[C]) -> C | None:
    """The component of that class in this process's running server, or None (moto used alone)."""
    try:
        component = current().components.get(component_class.name)  # type: ignore[attr-defined]
    except RuntimeError:
        return None
    return component if isinstance(component, component_class) else None
