"""Everything a provisioning step needs: the definition, resolved settings, names and AWS clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cdc_pipeline.definitions import PipelineDefinition, ResourceNames
from cdc_pipeline.settings import Settings

#: `factory("s3")` returns a boto3 client. The DAGs build clients from the Airflow connection's hook
#: (so the endpoint lives in the connection); tests build them for the embedded AWS.
ClientFactory = Callable[[str], Any]


def client_factory(session: Any, region: str) -> ClientFactory:
    """Accept a boto3 `Session` (or anything with `.client(service, region_name=...)`) or a factory.

    A Session's clients honour `AWS_ENDPOINT_URL`, which is how a local run points them at the
    embedded AWS without a code branch.
    """
    if hasattr(session, "client"):
        return lambda service: session.client(service, region_name=region)
    if callable(session):
        return session
    raise TypeError(f"expected a boto3 Session or a client factory, got {type(session).__name__}")


@dataclass
class Deployment:
    """One dataset's pipeline under one set of settings, with a client per service (made once)."""

    definition: PipelineDefinition
    settings: Settings
    names: ResourceNames
    factory: ClientFactory
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, definition: PipelineDefinition, settings: Settings, session: Any) -> Deployment:
        """Resolve the account id (asking STS only when the settings do not name it)."""
        factory = client_factory(session, settings.region)
        if not settings.account_id:
            settings = settings.with_account_id(factory("sts").get_caller_identity()["Account"])
        return cls(definition, settings, definition.resources(settings), factory)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.factory(service)
        return self._clients[service]
