"""AssumeRoleWithWebIdentity / AssumeRoleWithSAML: only into a role whose trust policy lets a
federated principal do it.

These calls are unsigned, so no identity policy applies; on AWS the role's trust policy must allow
the identity provider (``"Principal": {"Federated": ...}``) and the token must verify. Here the
trust policy must hold an Allow statement for the action with a Federated principal, or the call
is refused with STS's ``AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity``;
the token itself and the statement's conditions (its claims) are not checked (see LIMITATIONS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from local_aws.iam import policy
from local_aws.iam.principals import find_role
from local_aws.validation.errors import AwsError

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest

_FEDERATED = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}


def check_federated_assume(request: AwsRequest) -> None:
    """Raise STS's AccessDenied for a federated AssumeRole the role's trust does not allow."""
    if request.service not in (None, "sts") or request.operation not in _FEDERATED:
        return
    text = request.query_string
    if request.body:
        text = f"{text}&{request.body.decode('utf-8', 'replace')}"
    role_arn = parse_qs(text).get("RoleArn", [""])[0]
    action = f"sts:{request.operation}"
    role = find_role(role_arn)
    if role is None or not _trusts_federation(role.assume_role_policy_document, action):
        raise AwsError("AccessDenied", f"Not authorized to perform {action}", 403)


def _trusts_federation(trust: Any, action: str) -> bool:
    try:
        statements, _ = policy.document_statements(trust or "{}")
    except policy.PolicyError:
        return False
    for statement in statements:
        principal = statement.get("Principal")
        federated = isinstance(principal, dict) and principal.get("Federated")
        if statement.get("Effect") == policy.ALLOW and federated and policy.action_in(statement, action):
            return True
    return False
