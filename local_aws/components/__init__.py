"""The data-plane components, found by scanning this package.

A component is a `Component` subclass with a ``name``; modules are imported in name order and
components installed by ascending ``order`` (the Lambda runtime first: others invoke it).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from local_aws.components.base import Component


def discover() -> list[type[Component]]:
    found: dict[str, type[Component]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name == "base" or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, Component)
                and obj is not Component
                and obj.name
                and obj.__module__ == module.__name__
            ):
                found[obj.name] = obj
    return sorted(found.values(), key=lambda cls: (getattr(cls, "order", 100), cls.name))
