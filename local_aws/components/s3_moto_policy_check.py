"""moto's own S3 bucket-policy check, neutralised: `local_aws.iam` decides every S3 request.

moto's S3 responses ask ``FakeBucket.get_permission(action, resource)`` before serving an object
request (GetObject, PutObject, DeleteObject, and each key of DeleteObjects) and answer a bare 403
when a statement denies it. That check ignores ``Principal`` / ``NotPrincipal`` and most condition
operators, so a Deny that names one role refuses everybody: the account's own keys, every other
user, and the journal's replay of an object Firehose wrote before a kill (the object then
vanished after a restart, though its write had been acknowledged).

Bucket policies are evaluated where the caller is known: the gateway's ``local_aws.iam.authorize``
for every signed request (identity policies, role boundaries and the bucket's policy with its
principals and conditions), and Firehose's writes as its delivery role (`local_aws.bucket_policies`).
Here ``get_permission`` always answers NEUTRAL ("the bucket policy says nothing"), so moto never
refuses on its own, and a replayed write, which goes straight to moto and was authorised when it
was first made, is never authorised again.

LIMITATIONS: requests signed with the account's own keys are the root user's and are not checked
against bucket policies (on AWS an explicit Deny naming the account or ``*`` applies to the root
user too); an unsigned (anonymous) request is decided by the object's ACL only, so a bucket policy
that grants public read does not open objects to anonymous callers. Every request counts as
``aws:SecureTransport`` true (the endpoint serves plain HTTP on loopback, and the same TLS-only
policy must work here and on AWS).
"""

from __future__ import annotations

from typing import Any

from moto.s3.models import FakeBucket

from local_aws.components.base import Component
from local_aws.world import World

_ORIGINAL = "_local_aws_original_get_permission"


def _no_opinion(self: FakeBucket, action: str, resource: str) -> Any:
    """What moto's check answers for every request: the bucket policy is not its to apply."""
    from moto.iam.access_control import PermissionResult

    return PermissionResult.NEUTRAL


class S3MotoPolicyCheck(Component):
    name = "s3_moto_policy_check"
    order = 5

    def install(self, world: World) -> None:
        super().install(world)
        if not hasattr(FakeBucket, _ORIGINAL):
            setattr(FakeBucket, _ORIGINAL, FakeBucket.get_permission)
            FakeBucket.get_permission = _no_opinion  # type: ignore[method-assign]
