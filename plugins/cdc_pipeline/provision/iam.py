"""IAM roles with one least-privilege inline policy each (documents in `cdc_pipeline.iam_policies`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from cdc_pipeline.iam_policies import RoleSpec
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "iam:role"


def _document(value: Any) -> Any:
    """IAM returns documents URL-encoded; boto3 usually decodes them, but not every endpoint does."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


def _get_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def _get_inline_policy(iam: Any, role: str, policy: str) -> Any:
    try:
        return _document(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def ensure_role(deployment: Deployment, spec: RoleSpec) -> Outcome:
    """Create the role, or update its trust policy and inline policy where they differ (as parsed JSON)."""
    iam = deployment.client("iam")
    role = _get_role(iam, spec.name)
    if role is None:
        iam.create_role(
            RoleName=spec.name,
            AssumeRolePolicyDocument=json.dumps(spec.trust),
            Description=f"cdc-lake {deployment.definition.name}: {spec.service}",
            Tags=[{"Key": "cdc-lake:dataset", "Value": deployment.definition.name}],
        )
        iam.put_role_policy(
            RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=json.dumps(spec.policy)
        )
        return Outcome(spec.resource, KIND, spec.name, "created")
    changed = False
    if _document(role["AssumeRolePolicyDocument"]) != spec.trust:
        iam.update_assume_role_policy(RoleName=spec.name, PolicyDocument=json.dumps(spec.trust))
        changed = True
    if _get_inline_policy(iam, spec.name, spec.policy_name) != spec.policy:
        iam.put_role_policy(
            RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=json.dumps(spec.policy)
        )
        changed = True
    # Inline policies we no longer define would keep permissions alive: remove them.
    for name in iam.list_role_policies(RoleName=spec.name)["PolicyNames"]:
        if name != spec.policy_name:
            iam.delete_role_policy(RoleName=spec.name, PolicyName=name)
            changed = True
    return Outcome(spec.resource, KIND, spec.name, "updated" if changed else "unchanged")


def delete_role(deployment: Deployment, spec: RoleSpec) -> Outcome:
    """Remove inline and attached policies (IAM refuses to delete a role that has any), then the role."""
    iam = deployment.client("iam")
    if _get_role(iam, spec.name) is None:
        return Outcome(spec.resource, KIND, spec.name, "absent")
    for name in iam.list_role_policies(RoleName=spec.name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=spec.name, PolicyName=name)
    for attached in iam.list_attached_role_policies(RoleName=spec.name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=spec.name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=spec.name)
    return Outcome(spec.resource, KIND, spec.name, "deleted")
