"""S3 bucket policies: evaluate the `aws:SecureTransport` condition instead of ignoring it.

moto checks bucket policies on object requests but skips condition operators it does not know
(everything except StringEquals), so a statement conditioned on `Bool aws:SecureTransport` always
applies. The usual TLS-only policy (Deny s3:* when aws:SecureTransport is "false") then denies
every object request, including DeleteObjects on teardown. Here a statement whose only
condition is `Bool aws:SecureTransport` applies only when its value matches this endpoint's
transport, which counts as secure (see LIMITATIONS).

LIMITATIONS: the embedded AWS serves plain HTTP on loopback and treats every request as
`aws:SecureTransport = true`: the traffic never leaves the machine, and the same TLS-only policy
must work here and on AWS. Other condition keys keep moto's behaviour (not evaluated).
"""

from __future__ import annotations

import json
from typing import Any

from moto.s3.models import FakeBucket

from local_aws import bucket_policies
from local_aws.components.base import Component
from local_aws.world import World

_ORIGINAL = "_local_aws_original_get_permission"


def _applies_over_tls(statement: dict[str, Any]) -> bool:
    """False for a statement that only applies to requests without TLS."""
    condition = statement.get("Condition") or {}
    if set(condition) != {"Bool"} or set(condition["Bool"]) != {"aws:SecureTransport"}:
        return True
    return bucket_policies.conditions_hold(condition, {"aws:SecureTransport": "true"})


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return getattr(FakeBucket, _ORIGINAL)(self, action, resource)
    from moto.iam.access_control import IAMPolicy

    kept = [s for s in bucket_policies.statements(self.policy) if _applies_over_tls(s)]
    policy = bucket_policies.with_statements(self.policy, kept)
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)


class S3SecureTransport(Component):
    name = "s3_secure_transport"
    order = 5

    def install(self, world: World) -> None:
        super().install(world)
        if not hasattr(FakeBucket, _ORIGINAL):
            setattr(FakeBucket, _ORIGINAL, FakeBucket.get_permission)
            FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]
