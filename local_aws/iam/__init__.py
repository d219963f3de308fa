"""IAM enforced in local_aws: who signed a request, and whether AWS would let them do it.

Public API (everything else in this package may change):

- ``authorize(world, request) -> AccessDenied | None``: the gateway's check, before moto runs.
  A request signed with an IAM user's access key (CreateAccessKey) or a role session's temporary
  credentials (AssumeRole, including the execution-role credentials Lambda handlers get) is
  evaluated against that identity's policies; ``None`` means allowed. Any other key (moto's
  ``testing``, the project's ``local``) is the account's own and unrestricted, as the root user is.
  AssumeRole also needs the role's trust policy; a function role Lambda cannot assume is refused
  at CreateFunction / UpdateFunctionConfiguration whoever signs (`passed_roles`).
- ``check_service_role(world, role_arn, action, resource, context=None, service_principal=...,
  source_arn=None) -> AccessDenied | None``: a data-plane step that AWS performs with a customer's
  role: the role's trust policy must let ``service_principal`` assume it, with the condition keys
  that service sends (`TRUST_CONTEXT`), then the role's policies, its boundary and (for S3) the
  bucket's policy must allow the action. `service_steps` lists what each step needs (Pipes,
  Firehose's Kinesis source, the crawler, event source mappings); Firehose's S3 writes and
  processor invocations call this directly.
- ``AccessDenied``: ``.code`` (``AccessDeniedException``, S3/IAM/STS ``AccessDenied``, SNS
  ``AuthorizationError``), ``.message`` in AWS's words, ``.as_error()`` for the gateway.
- ``ENFORCE``: ``LOCAL_AWS_IAM=off`` in the server's environment switches all of it off.
- `audit`: an opt-in record of every decision above (``LOCAL_AWS_IAM_AUDIT=<path>`` for a server
  in another process, ``audit.recording()`` in process), and ``audit.replay`` to evaluate a
  recorded request again with other policies; one branch per decision when off.

How a decision is made: `evaluation` (AWS's evaluation logic), `policy` (the policy language),
`actions` (resource types of every action, from parliament's copy of AWS's Service Authorization
Reference), `requests` and `s3_operations` (from an HTTP request to actions and resource ARNs),
`principals` (from an access key to a user or role session). Parsed policies and compiled
patterns are cached by their text; a decision for the project's deployer policy costs about
0.1 ms (``python -m bench.bench_iam``). The check reads moto's state without the world lock.

LIMITATIONS: keys moto did not mint are the account root's (backwards compatible: the tests' and
the project's default keys), where AWS answers an unknown key with UnrecognizedClientException /
InvalidClientTokenId / InvalidAccessKeyId: signatures are not verified, and expired sessions and
inactive keys still work. GetSessionToken / GetFederationToken credentials (moto hands everyone
the same documentation key) allow nothing, since they cannot be tied to their caller.
AssumeRoleWithWebIdentity / AssumeRoleWithSAML need a trust statement with a Federated principal
(`federation`), but neither the token nor the statement's conditions are verified. Likewise a service role ARN that names no role in IAM is not checked
(moto accepts such ARNs at CreatePipe / CreateDeliveryStream / CreateFunction, where AWS refuses a
role it cannot assume). Service control policies, resource control policies, session policies
(AssumeRole's Policy / PolicyArns), ABAC (``aws:ResourceTag``, ``aws:PrincipalTag``,
``aws:RequestTag``), MFA and source-IP / VPC keys are not modelled: a condition on such a key sees
it absent. Resource-based policies take part only for S3 buckets and role trust policies (SNS
topic, Lambda function, KMS key and queue policies do not). moto has no user permissions
boundaries (PutUserPermissionsBoundary), so only roles have boundaries. Every request counts as
``aws:SecureTransport`` true (loopback; see `local_aws.components.s3_moto_policy_check`). A
resource the request's parameters do not name (a required resource type whose ARN cannot be
built) is checked as "no resource", which only ``"Resource": "*"`` grants: stricter than AWS,
never more lenient; the resource types are parliament's (its copy lists, for example, no
resource type for kinesis:UpdateShardCount or glue:CreateCrawler, so only ``*`` grants those).
Which condition keys a service sends when it assumes a role is taken from each service's
documented trust policy (`TRUST_CONTEXT`); service sessions have fixed names (``PipesSession``...).
Firehose reports a delivery role it cannot assume as S3.AccessDenied, and a source role that may
not read the stream as Kinesis.AccessDenied. IAM changes take effect at once (AWS: seconds later).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_aws.iam import audit, policy
from local_aws.iam.errors import AccessDenied
from local_aws.iam.evaluation import (
    RESOURCE,
    Decision,
    effect_of,
    evaluate,
    names_caller_itself,
    trust_allows,
)
from local_aws.iam.federation import check_federated_assume
from local_aws.iam.passed_roles import check_lambda_role
from local_aws.iam.principals import ROLE, Principal, account_of, find_role, principal_for_key, role_session
from local_aws.iam.requests import UNCHECKED, describe

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest
    from local_aws.world import World

__all__ = [
    "ENFORCE",
    "TRUST_CONTEXT",
    "AccessDenied",
    "authorize",
    "check_service_role",
    "principal_of",
]

ENFORCE = os.environ.get("LOCAL_AWS_IAM", "on").lower() not in ("off", "0", "false", "no")

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")

# The condition keys each service puts in the request context when it assumes a customer's role,
# from the trust policy each service documents: EventBridge Pipes shows aws:SourceArn (the pipe)
# and aws:SourceAccount; Firehose shows sts:ExternalId set to the account; Glue (crawlers) and
# Lambda (execution roles) show none, so a condition on those keys fails for them, as on AWS.
TRUST_CONTEXT: dict[str, tuple[str, ...]] = {
    "pipes.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
    "firehose.amazonaws.com": ("sts:ExternalId",),
    "glue.amazonaws.com": (),
    "lambda.amazonaws.com": (),
}


def access_key_of(request: AwsRequest) -> str:
    """The access key id a request was signed with ('' for an unsigned request)."""
    from urllib.parse import parse_qs

    found = _CREDENTIAL.search(request.headers.get("Authorization", ""))
    if found:
        return found.group(1)
    credential = parse_qs(request.query_string).get("X-Amz-Credential", [""])[0]
    return credential.split("/", 1)[0]


def principal_of(world: World, request: AwsRequest) -> Principal | None:
    """The IAM user or role session that signed ``request``; None for the account's own keys."""
    key = access_key_of(request)
    if not key:
        return None
    # Read without the world lock: a request must not wait for a data-plane step or a snapshot
    # holding it, and moto's dicts are only read here (lookups and copies, atomic under the GIL).
    return principal_for_key(key)


def _base_context(principal: Principal, region: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    context: dict[str, Any] = {
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": region,
        "aws:PrincipalArn": principal.arn,
        "aws:PrincipalAccount": principal.account_id,
        "aws:PrincipalType": "AssumedRole" if principal.kind == ROLE else "User",
        "aws:userid": principal.user_id,
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
    }
    if principal.kind != ROLE:
        context["aws:username"] = principal.name
    return context


def _bucket_policy(world: World, bucket_name: str | None) -> tuple[str | None, str | None]:
    """(policy text, owner account) of an S3 bucket; (None, None) when there is no such bucket."""
    if not bucket_name:
        return None, None
    from moto.s3.models import s3_backends

    for account_id, account in list(s3_backends.items()):
        bucket = account["aws"].buckets.get(bucket_name)
        if bucket is not None:
            text = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
            return text, account_id
    return None, None


def _decide(
    world: World,
    principal: Principal,
    action: str,
    resource: str | None,
    context: Mapping[str, Any],
    bucket: str | None,
) -> Decision:
    if action.lower() == "sts:assumerole" and resource:
        return _assume_role(principal, resource, context)
    resource_policy, owner = _bucket_policy(world, bucket) if bucket else (None, None)
    return evaluate(principal, action, resource, context, resource_policy, owner)


def _assume_role(principal: Principal, role_arn: str, context: Mapping[str, Any]) -> Decision:
    """AssumeRole: the role's trust policy must allow the caller; within the account, the caller's
    identity policies must allow it too unless the trust policy names the caller itself."""
    role = find_role(role_arn)
    trust = role.assume_role_policy_document if role is not None else None
    if not trust:
        return Decision(False, RESOURCE)
    effect, sid = effect_of((trust,), "sts:AssumeRole", role_arn, context, principal=principal)
    if effect == policy.DENY:
        return Decision(False, RESOURCE, True, sid)
    if effect != policy.ALLOW:
        return Decision(False, RESOURCE)
    owner = account_of(role_arn)
    if owner == principal.account_id and names_caller_itself(
        (trust,), principal, "sts:AssumeRole", role_arn, context
    ):
        return evaluate(principal, "sts:AssumeRole", role_arn, context, trust, owner)
    return evaluate(principal, "sts:AssumeRole", role_arn, context)


def authorize(world: World, request: AwsRequest) -> AccessDenied | None:
    """The AccessDenied AWS would answer ``request`` with, or None when it is allowed.

    Raises `AwsError` for a role handed to Lambda that Lambda cannot assume (`passed_roles`), once
    the caller is authorized (iam:PassRole is checked first, as on AWS).
    """
    if not ENFORCE:
        return None
    check_federated_assume(request)
    denied = _authorize(world, request)
    if denied is None:
        check_lambda_role(request)
    return denied


def _authorize(world: World, request: AwsRequest) -> AccessDenied | None:
    principal = principal_of(world, request)
    if principal is None:
        return None
    described = describe(request, principal.account_id)
    if described is None:
        return None
    base = _base_context(principal, described.region)
    for check in described.checks:  # without the world lock, as in principal_of
        if check.action in UNCHECKED:
            continue
        context = {**base, **check.context}
        decision = _decide(world, principal, check.action, check.resource, context, check.bucket)
        if audit.RECORDING:
            _audit(world, principal, "", check.action, check.resource, context, check.bucket, decision)
        if not decision.allowed:
            return AccessDenied(
                principal.caller_arn, check.action, check.resource, decision, described.service
            )
    return None


def _audit(
    world: World,
    principal: Principal,
    service: str,
    action: str,
    resource: str | None,
    context: Mapping[str, Any],
    bucket: str | None,
    decision: Decision,
) -> None:
    """Record one decision (`audit`), with the bucket policy that took part, for a later replay."""
    resource_policy, owner = _bucket_policy(world, bucket) if bucket else (None, None)
    audit.record(
        audit.AuditRecord(
            principal=principal,
            service=service,
            action=action,
            resource=resource,
            context=dict(context),
            allowed=decision.allowed,
            reason=audit.reason_of(decision),
            resource_policy=resource_policy,
            resource_account=owner,
        )
    )


def _session_name(service_principal: str) -> str:
    # Services name their sessions after themselves; the exact names are not documented.
    return service_principal.split(".", 1)[0].capitalize() + "Session"


def check_service_role(
    world: World,
    role_arn: str,
    action: str,
    resource: str | None,
    context: Mapping[str, Any] | None = None,
    service_principal: str = "",
    source_arn: str | None = None,
) -> AccessDenied | None:
    """Whether ``service_principal`` may act as ``role_arn`` and do ``action`` on ``resource``.

    :param resource: the ARN AWS checks (None for an action without resource type); an S3 object
        or bucket ARN brings in that bucket's policy
    :param context: extra condition keys of the request the service makes
    :param source_arn: the resource on whose behalf the service acts (the pipe, the delivery
        stream), sent as aws:SourceArn to services that send it
    :returns: None when allowed; the AccessDenied (trust or permission) otherwise
    """
    if not ENFORCE:
        return None
    account = account_of(role_arn)
    with world.lock:
        role = find_role(role_arn)
        if role is None:
            return None  # a role IAM does not know: unrestricted, see LIMITATIONS
        trust_context: dict[str, Any] = {
            "aws:SecureTransport": "true",
            "aws:PrincipalServiceName": service_principal,
        }
        sent = TRUST_CONTEXT.get(service_principal, ("aws:SourceAccount", "aws:SourceArn"))
        if "aws:SourceAccount" in sent:
            trust_context["aws:SourceAccount"] = account_of(source_arn or "") or account
        if "aws:SourceArn" in sent and source_arn:
            trust_context["aws:SourceArn"] = source_arn
        if "sts:ExternalId" in sent:
            trust_context["sts:ExternalId"] = account
        trust = trust_allows(
            role.assume_role_policy_document, service_principal, "sts:AssumeRole", trust_context
        )
        if not trust.allowed:
            if audit.RECORDING:
                refused = role_session(account, role_arn, _session_name(service_principal))
                _audit(
                    world, refused, service_principal, "sts:AssumeRole", role_arn, trust_context, None, trust
                )
            return AccessDenied(service_principal, "sts:AssumeRole", role_arn, trust, "sts")
        principal = role_session(account, role_arn, _session_name(service_principal))
        full_context = {**_base_context(principal, _region_of(resource)), **(context or {})}
        bucket = _bucket_of(resource)
        decision = _decide(world, principal, action, resource, full_context, bucket)
        if audit.RECORDING:
            _audit(world, principal, service_principal, action, resource, full_context, bucket, decision)
    if decision.allowed:
        return None
    return AccessDenied(principal.caller_arn, action, resource, decision, action.split(":", 1)[0])


def _region_of(arn: str | None) -> str:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


def _bucket_of(arn: str | None) -> str | None:
    if arn and arn.startswith("arn:aws:s3:::"):
        return arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    return None
