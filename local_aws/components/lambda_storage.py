"""A patch on moto's Lambda storage (`LambdaStorage`, `LayerStorage`) so that it can be pickled.

moto's function and layer indexes hold a WeakValueDictionary and a lambda-made defaultdict,
which pickle cannot write: without this, ``--state-dir`` snapshots fail on any Lambda state.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from typing import Any

from moto.awslambda.models import LambdaStorage, LayerStorage


def install_storage_pickling() -> None:
    """Give both storages a state pickle can write and read back (idempotent)."""
    for storage in (LambdaStorage, LayerStorage):
        storage.__getstate__ = _storage_getstate  # type: ignore[attr-defined]
        storage.__setstate__ = _storage_setstate  # type: ignore[attr-defined]


def _storage_getstate(self: Any) -> dict[str, Any]:
    state = dict(self.__dict__)
    if "_arns" in state:
        state["_arns"] = dict(state["_arns"])
    if isinstance(state.get("_aliases"), defaultdict):
        state["_aliases"] = dict(state["_aliases"])
    return state


def _storage_setstate(self: Any, state: dict[str, Any]) -> None:
    state = dict(state)
    if "_arns" in state:
        state["_arns"] = weakref.WeakValueDictionary(state["_arns"])
    if "_aliases" in state:
        state["_aliases"] = defaultdict(dict, state["_aliases"])
    self.__dict__.update(state)
