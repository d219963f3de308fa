"""AWS's policy evaluation logic for one request: identity policies, boundary, resource policy.

Following https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
for one principal, one action and one resource:

1. an explicit Deny in any policy that applies (identity, permissions boundary, resource) denies;
2. a permissions boundary must allow the action (an implicit deny there denies), except for a
   same-account resource policy that names the user or the role session itself;
3. within one account, an Allow in an identity policy or in the resource policy allows;
4. across accounts, both the caller's identity policies and the resource policy must allow;
5. otherwise the request is implicitly denied.

`Decision.reason` says which kind of policy decided, in AWS's words ("no identity-based policy
allows", "an explicit deny in a permissions boundary"...), for the AccessDenied message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_aws.iam import policy
from local_aws.iam.principals import Principal

IDENTITY = "identity-based policy"
BOUNDARY = "permissions boundary"
RESOURCE = "resource-based policy"


@dataclass(frozen=True)
class Decision:
    """Allowed or not, and when not, which kind of policy said so and whether explicitly."""

    allowed: bool
    policy_type: str = ""
    explicit: bool = False
    statement_id: str | None = None

    def because(self, action: str) -> str:
        """AWS's ending of an AccessDenied message for this decision."""
        if self.explicit:
            article = "an" if self.policy_type[0] in "aeiou" else "a"
            return f"with an explicit deny in {article} {self.policy_type}"
        return f"because no {self.policy_type} allows the {action} action"


ALLOWED = Decision(True)

# -- one statement ----------------------------------------------------------------------------


def _statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str | None,
    context: policy.Context,
    variables: bool,
) -> bool:
    if not policy.action_in(statement, action):
        return False
    if not policy.resource_matches(statement, resource, context, variables):
        return False
    try:
        return policy.conditions_hold(statement.get("Condition"), context, variables)
    except policy.UnknownOperator:
        return False  # AWS refuses such a policy when it is stored; here it never applies


def effect_of(
    documents: tuple[str, ...] | list[Any],
    action: str,
    resource: str | None,
    context: policy.Context,
    principal: Principal | None = None,
    service: str | None = None,
) -> tuple[str | None, str | None]:
    """("Deny" | "Allow" | None, deciding Sid) of a set of policies for one request.

    With ``principal`` or ``service`` given, statements must name the caller in Principal /
    NotPrincipal (resource and trust policies); without, they are identity policies.
    """
    allowed_by: str | None = None
    allowed = False
    for document in documents:
        try:
            statements, variables = policy.document_statements(document)
        except policy.PolicyError:
            continue  # IAM refuses such a document when it is stored: it grants and denies nothing
        for index, statement in enumerate(statements):
            if (principal is not None or service is not None) and not principal_matches(
                statement, principal, service
            ):
                continue
            if not _statement_applies(statement, action, resource, context, variables):
                continue
            sid = str(statement.get("Sid") or f"statement {index + 1}")
            if statement.get("Effect") == policy.DENY:
                return policy.DENY, sid
            if statement.get("Effect") == policy.ALLOW and not allowed:
                allowed, allowed_by = True, sid
    return (policy.ALLOW, allowed_by) if allowed else (None, None)


# -- principals in resource and trust policies -------------------------------------------------
def _names(principal: Principal | None, service: str | None) -> dict[str, set[str]]:
    """The names under which the caller may be listed, one set per identity it carries.

    IAM checks the account and the caller separately: a NotPrincipal that exempts a role session
    must name both (AWS's documentation shows the account ARN beside the role or session ARN).
    """
    if principal is None:
        return {"service": {str(service)}}
    account = {principal.account_id, f"arn:aws:iam::{principal.account_id}:root"}
    caller = {principal.arn, principal.caller_arn}
    return {"account": account, "caller": caller}


def _listed(element: Any, principal: Principal | None) -> tuple[bool, set[str]]:
    """(everyone?, the principals named) of a Principal / NotPrincipal element."""
    if element == "*":
        return True, set()
    if not isinstance(element, Mapping):
        return False, set()
    kind = "Service" if principal is None else "AWS"
    named = {str(name) for name in policy.as_list(element.get(kind))}
    return "*" in named, named


def principal_matches(statement: Mapping[str, Any], principal: Principal | None, service: str | None) -> bool:
    """Whether a resource or trust policy statement is about this caller."""
    names = _names(principal, service)
    every = set().union(*names.values())
    if "Principal" in statement:
        everyone, named = _listed(statement["Principal"], principal)
        # Naming an account delegates to every identity in it; naming the role covers its sessions.
        return everyone or bool(named & every)
    if "NotPrincipal" in statement:
        everyone, named = _listed(statement["NotPrincipal"], principal)
        if everyone:
            return False
        return not all(group & named for group in names.values())
    return False  # a resource policy statement without a principal applies to no one


def names_caller_itself(
    documents: tuple[str, ...],
    principal: Principal,
    action: str,
    resource: str | None,
    context: policy.Context,
) -> bool:
    """Whether an allowing resource-policy statement names the user or the session (not the role)."""
    for document in documents:
        statements, variables = policy.document_statements(document)
        for statement in statements:
            if statement.get("Effect") != policy.ALLOW or "Principal" not in statement:
                continue
            _, named = _listed(statement["Principal"], principal)
            itself = principal.caller_arn in named
            if itself and _statement_applies(statement, action, resource, context, variables):
                return True
    return False


# -- the whole decision -----------------------------------------------------------------------
def evaluate(
    principal: Principal,
    action: str,
    resource: str | None,
    context: policy.Context,
    resource_policy: str | None = None,
    resource_account: str | None = None,
) -> Decision:
    """AWS's answer for ``principal`` doing ``action`` on ``resource`` (None: no resource type)."""
    resource_documents = (resource_policy,) if resource_policy else ()
    identity, identity_sid = effect_of(principal.identity_policies, action, resource, context)
    if identity == policy.DENY:
        return Decision(False, IDENTITY, True, identity_sid)
    if resource_documents:
        effect, sid = effect_of(resource_documents, action, resource, context, principal=principal)
        if effect == policy.DENY:
            return Decision(False, RESOURCE, True, sid)
        resource_allows = effect == policy.ALLOW
    else:
        resource_allows = False
    boundary_allows = True
    if principal.boundary is not None:
        bounded, sid = effect_of((principal.boundary,), action, resource, context)
        if bounded == policy.DENY:
            return Decision(False, BOUNDARY, True, sid)
        boundary_allows = bounded == policy.ALLOW
    same_account = resource_account is None or resource_account == principal.account_id
    if same_account:
        if resource_allows and (
            boundary_allows or names_caller_itself(resource_documents, principal, action, resource, context)
        ):
            return ALLOWED
        if identity == policy.ALLOW and boundary_allows:
            return ALLOWED
    elif identity == policy.ALLOW and boundary_allows and resource_allows:
        return ALLOWED
    if identity == policy.ALLOW and not boundary_allows:
        return Decision(False, BOUNDARY)
    if not same_account and identity == policy.ALLOW:
        return Decision(False, RESOURCE)
    return Decision(False, IDENTITY)


def trust_allows(trust_policy: str | None, service: str, action: str, context: policy.Context) -> Decision:
    """Whether a role's trust policy lets ``service`` (``pipes.amazonaws.com``...) assume it."""
    if not trust_policy:
        return Decision(False, RESOURCE)
    effect, sid = effect_of((trust_policy,), action, None, context, service=service)
    if effect == policy.DENY:
        return Decision(False, RESOURCE, True, sid)
    if effect == policy.ALLOW:
        return ALLOWED
    return Decision(False, RESOURCE)
