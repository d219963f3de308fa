"""S3 bucket policies, evaluated for one request: who, what action, which resource, what context.

A bucket policy is a resource-based policy: each statement names who it is about (``Principal``
or ``NotPrincipal``), which actions (``Action`` / ``NotAction``), which resources (``Resource`` /
``NotResource``) and under which ``Condition``. `evaluate` applies the policy to one `Request`
and says whether a statement explicitly denies it, explicitly allows it, or none applies; `decide`
adds what S3 does with that answer for the bucket's owner: an explicit Deny always wins; within
the bucket owner's account, no matching statement leaves the decision to the caller's identity
policies; a principal of another account needs an explicit Allow here (cross-account access).

The policy language itself (wildcards, ARN segments, condition operators, policy variables) is
`local_aws.iam.policy`'s, shared with the IAM enforcement; this module adds the principals of one
role session and the bucket owner's rule, for callers (Firehose's writes) that have no signed
request to hand to `local_aws.iam` (moto's own check is neutralised: `s3_moto_policy_check`).

LIMITATIONS: principals are matched as an assumed-role session carries them (its account, its
role ARN, its session ARN), so ``Service``, ``Federated`` and ``CanonicalUser`` principals never
match a role's request; an operator the policy language does not know makes its statement not
apply (AWS rejects such a policy at PutBucketPolicy). ACLs, Object Ownership, S3 Block Public
Access, access points, VPC endpoint policies, SCPs / RCPs, session policies and KMS key policies
are not part of the decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from local_aws.iam import policy as language
from local_aws.iam.policy import PolicyError, UnknownOperator

ALLOW = "Allow"
DENY = "Deny"


class Effect(Enum):
    """What a policy says about one request."""

    ALLOW = "Allow"  # an Allow statement applies and no Deny does
    DENY = "Deny"  # an explicit Deny applies
    NONE = "None"  # no statement applies (an implicit deny unless something else allows)


@dataclass(frozen=True)
class Request:
    """One request as a policy sees it.

    :param principal_arn: the caller's IAM identity: a role ARN for a role session
    :param account_id: the caller's account
    :param action: ``service:Operation``, e.g. ``s3:PutObject``
    :param resource: the resource ARN, e.g. ``arn:aws:s3:::bucket/key``
    :param context: condition keys and their values (names are matched case-insensitively)
    :param session_arn: ``arn:aws:sts::<account>:assumed-role/<role>/<session>`` for a role session
    """

    principal_arn: str
    account_id: str
    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    session_arn: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome for one request, with the statement that decided it (for error messages)."""

    allowed: bool
    effect: Effect
    statement_id: str | None = None
    reason: str = ""


# -- reading a policy -------------------------------------------------------------------------
def statements(policy: str | bytes | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document, always as a list (a single statement may be an object).

    Parsed documents are cached by text: the statements are copies, their nested values are shared
    and must not be changed.
    """
    return language.document_statements(policy)[0]


def conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, str | list[str]]) -> bool:
    """Whether a statement's Condition block is satisfied by the request context.

    Raises `UnknownOperator` for an operator the policy language does not implement.
    """
    return language.conditions_hold(condition, context)


# -- principals -------------------------------------------------------------------------------
def _identities(request: Request) -> dict[str, set[str]]:
    """The names under which the caller may be listed, one set per identity the request carries.

    IAM checks the account and the session separately: a NotPrincipal that exempts a role session
    must name both (AWS's documentation shows the account ARN beside the role or session ARN).
    """
    account = {request.account_id, f"arn:aws:iam::{request.account_id}:root"}
    caller = {request.principal_arn}
    if request.session_arn:
        caller.add(request.session_arn)
    return {"account": account, "caller": caller}


def _listed_principals(principal: Any) -> tuple[bool, set[str]]:
    """(everyone?, the AWS principals named) of a Principal / NotPrincipal element."""
    if principal == "*":
        return True, set()
    if not isinstance(principal, Mapping):
        return False, set()
    aws = {str(name) for name in language.as_list(principal.get("AWS"))}
    return "*" in aws, aws


def _principal_matches(statement: Mapping[str, Any], request: Request) -> bool:
    identities = _identities(request)
    if "Principal" in statement:
        everyone, named = _listed_principals(statement["Principal"])
        # Naming an account delegates to every identity in it; naming the role covers its sessions.
        return everyone or bool(named & (identities["account"] | identities["caller"]))
    if "NotPrincipal" in statement:
        everyone, named = _listed_principals(statement["NotPrincipal"])
        if everyone:
            return False
        exempt = all(names & named for names in identities.values())
        return not exempt
    return False  # a bucket policy statement without a principal applies to no one


# -- statements and policies ------------------------------------------------------------------
def statement_applies(statement: Mapping[str, Any], request: Request, variables: bool = False) -> bool:
    """Whether one statement is about this request (principal, action, resource, condition).

    :param variables: whether the policy's language version has policy variables (2012-10-17)
    """
    if not _principal_matches(statement, request):
        return False
    if ("Action" in statement or "NotAction" in statement) and not language.action_in(
        statement, request.action
    ):
        return False
    if not language.resource_matches(statement, request.resource, request.context, variables):
        return False
    try:
        return language.conditions_hold(statement.get("Condition"), request.context, variables)
    except UnknownOperator:
        return False  # see LIMITATIONS: AWS would not have accepted the policy at all


def evaluate(policy: str | bytes | Mapping[str, Any] | None, request: Request) -> tuple[Effect, str | None]:
    """The policy's effect on the request and the Sid (or index) of the deciding statement."""
    if policy is None:
        return Effect.NONE, None
    allowed_by: str | None = None
    found, variables = language.document_statements(policy)
    for index, statement in enumerate(found):
        if not statement_applies(statement, request, variables):
            continue
        sid = str(statement.get("Sid") or f"statement {index + 1}")
        if statement.get("Effect") == DENY:
            return Effect.DENY, sid  # an explicit Deny overrides every Allow
        if statement.get("Effect") == ALLOW and allowed_by is None:
            allowed_by = sid
    return (Effect.ALLOW, allowed_by) if allowed_by is not None else (Effect.NONE, None)


def decide(
    policy: str | bytes | Mapping[str, Any] | None, owner_account_id: str, request: Request
) -> Decision:
    """S3's answer for a bucket owned by ``owner_account_id``, as far as its bucket policy goes.

    Within the owner's account the caller's identity policies decide what the bucket policy does
    not deny (they are not evaluated here, see LIMITATIONS); from another account the bucket
    policy must allow the request explicitly.
    """
    effect, sid = evaluate(policy, request)
    if effect is Effect.DENY:
        return Decision(False, effect, sid, f"explicitly denied by the bucket policy ({sid})")
    if effect is Effect.ALLOW or request.account_id == owner_account_id:
        return Decision(True, effect, sid)
    return Decision(
        False,
        effect,
        None,
        f"the bucket belongs to account {owner_account_id} and its policy does not allow "
        f"{request.principal_arn} to {request.action}",
    )


def service_role_context(role_arn: str, extra: Mapping[str, str] | None = None) -> dict[str, str | list[str]]:
    """The global condition keys of a request that a service signs with a customer's role over HTTPS."""
    account = _role_account(role_arn)
    now = datetime.now(UTC)
    context: dict[str, str | list[str]] = {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": role_arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "AssumedRole",
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "s3:authType": "REST-HEADER",
        "s3:signatureversion": "AWS4-HMAC-SHA256",
    }
    context.update(extra or {})
    return context


def _role_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def role_request(
    role_arn: str, action: str, resource: str, session_name: str, extra: Mapping[str, str] | None = None
) -> Request:
    """A request signed with a session of ``role_arn`` (as a service acting for a customer makes)."""
    account = _role_account(role_arn)
    role_path_name = role_arn.split(":", 5)[-1].removeprefix("role/")
    role_name = role_path_name.rsplit("/", 1)[-1]
    return Request(
        principal_arn=role_arn,
        account_id=account,
        action=action,
        resource=resource,
        context=service_role_context(role_arn, extra),
        session_arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
    )


def with_statements(
    policy: str | bytes | Mapping[str, Any], keep: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """A copy of ``policy`` whose Statement is ``keep`` (for callers that filter statements)."""
    return language.with_statements(policy, list(keep))


__all__ = [
    "Decision",
    "Effect",
    "PolicyError",
    "Request",
    "UnknownOperator",
    "conditions_hold",
    "decide",
    "evaluate",
    "role_request",
    "service_role_context",
    "statement_applies",
    "statements",
    "with_statements",
]
