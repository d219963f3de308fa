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


def settings_in_region_of(settings: Settings, client: Any) -> Settings:
    """`settings` in the region ``client`` calls (boto3's ``meta.region_name``), when it has one."""
    region = getattr(getattr(client, "meta", None), "region_name", None)
    if isinstance(region, str) and region and region != settings.region:
        return settings.replace(region=region)
    return settings


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
        """Resolve the account id (asking STS only when the settings do not name it) and the region.

        The region is the clients' (the Airflow connection's): every resource is made there, so every
        ARN must name it too. A `CDC_LAKE_REGION` that disagrees would put other regions in the
        ARNs (the Pipe's target, the roles' policies) of resources that live in the clients' region.
        """
        factory = client_factory(session, settings.region)
        sts = factory("sts")
        settings = settings_in_region_of(settings, sts)
        if not settings.account_id:
            settings = settings.with_account_id(sts.get_caller_identity()["Account"])
        return cls(definition, settings, definition.resources(settings), factory)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.factory(service)
        return self._clients[service]
