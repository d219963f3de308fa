"""Which AWS service a request is for, from botocore's own service models.

The models are what the SDKs serialise from, so they name each service's protocol, its JSON target
prefix and every operation it has: enough to tell an unknown operation from a known one without a
list of our own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from local_aws.validation.errors import JSON
from local_aws.world import SERVICES

# The services local_aws serves (DynamoDB Streams among them: it signs as "dynamodb" but has a
# model of its own): one list, kept in world.py.
_MODEL_NAMES: tuple[str, ...] = SERVICES


@dataclass(frozen=True)
class Service:
    """One service's wire protocol and operations, as its botocore model states them."""

    name: str
    model: Any  # botocore.model.ServiceModel

    @property
    def protocol(self) -> str:
        return str(self.model.protocol)

    @property
    def target_prefix(self) -> str:
        return str(self.model.metadata.get("targetPrefix", ""))

    @cached_property
    def operations(self) -> frozenset[str]:
        return frozenset(self.model.operation_names)


class _Registry:
    """The models, loaded once on first use (about 0.2 s) and shared by every request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_signing_name: dict[str, Service] = {}
        self._by_target_prefix: dict[str, Service] = {}
        self._loaded = False

    def _load(self) -> None:
        import botocore.session

        session = botocore.session.get_session()
        for name in _MODEL_NAMES:
            service = Service(name, session.get_service_model(name))
            self._by_signing_name.setdefault(service.model.signing_name or name, service)
            if service.target_prefix:
                self._by_target_prefix[service.target_prefix] = service
        self._loaded = True

    def ensure_loaded(self) -> None:
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._load()

    def by_signing_name(self, name: str) -> Service | None:
        self.ensure_loaded()
        return self._by_signing_name.get(name)

    def by_target_prefix(self, prefix: str) -> Service | None:
        self.ensure_loaded()
        return self._by_target_prefix.get(prefix)


registry = _Registry()


def resolve(signing_name: str | None, target: str) -> Service | None:
    """The service of a request: by its ``X-Amz-Target`` prefix first, else by its signature."""
    if target:
        prefix = target.rsplit(".", 1)[0] if "." in target else target
        service = registry.by_target_prefix(prefix)
        if service is not None:
            return service
    if signing_name:
        return registry.by_signing_name(signing_name)
    return None


def protocol_of(service: Service | None) -> str:
    """The protocol to answer in; JSON when the request names no service we know."""
    return service.protocol if service is not None else JSON
