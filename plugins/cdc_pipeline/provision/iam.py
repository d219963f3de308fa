"""IAM roles with one least-privilege inline policy each, all inside the prefix's permissions boundary.

Documents come from `cdc_pipeline.iam_policies`. The boundary (`<prefix>-boundary`) is a managed
policy shared by every pipeline under the prefix; it is created before any role, and every role is
created with it (a role made by an older version without it gets it put before its policy is
written, since the deployer may write policies only on roles inside the boundary). On real AWS the
boundary belongs to the administrator (`cdc_pipeline.deployer_policy` explains why): a deployer
that may not create or update it gets an error naming the command that prints it, and teardown
leaves it in place.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from cdc_pipeline.iam_policies import RoleSpec, boundary_policy, boundary_policy_arn, boundary_policy_name
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "iam:role"
BOUNDARY_KIND = "iam:policy"
log = logging.getLogger(__name__)
BOUNDARY_RESOURCE = "permissions_boundary"
# IAM keeps at most five versions of a managed policy.
_MAX_POLICY_VERSIONS = 5
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


class BoundaryNotWritableError(RuntimeError):
    """The boundary is missing or out of date, and this identity may not write it (by design)."""


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


def _role_boundary(role: dict[str, Any]) -> str | None:
    return (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")


def ensure_role(deployment: Deployment, spec: RoleSpec) -> Outcome:
    """Create the role inside the boundary, or update its boundary, trust and inline policy where they differ."""
    iam = deployment.client("iam")
    boundary = boundary_policy_arn(deployment.settings)
    role = _get_role(iam, spec.name)
    if role is None:
        iam.create_role(
            RoleName=spec.name,
            AssumeRolePolicyDocument=json.dumps(spec.trust),
            Description=f"cdc-lake {deployment.definition.name}: {spec.service}",
            PermissionsBoundary=boundary,
            Tags=[{"Key": "cdc-lake:dataset", "Value": deployment.definition.name}],
        )
        iam.put_role_policy(
            RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=json.dumps(spec.policy)
        )
        return Outcome(spec.resource, KIND, spec.name, "created")
    changed = False
    # First: every policy write below is allowed to the deployer only on a role inside the boundary.
    if _role_boundary(role) != boundary:
        iam.put_role_permissions_boundary(RoleName=spec.name, PermissionsBoundary=boundary)
        changed = True
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
    role = _get_role(iam, spec.name)
    if role is None:
        return Outcome(spec.resource, KIND, spec.name, "absent")
    boundary = boundary_policy_arn(deployment.settings)
    if _role_boundary(role) != boundary:
        # The deployer may remove policies only from a role inside the boundary (an older role lacks it).
        iam.put_role_permissions_boundary(RoleName=spec.name, PermissionsBoundary=boundary)
    for name in iam.list_role_policies(RoleName=spec.name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=spec.name, PolicyName=name)
    for attached in iam.list_attached_role_policies(RoleName=spec.name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=spec.name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=spec.name)
    return Outcome(spec.resource, KIND, spec.name, "deleted")


# -- the permissions boundary ------------------------------------------------------------------------


def _get_policy(iam: Any, arn: str) -> dict[str, Any] | None:
    try:
        return iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def _not_writable(deployment: Deployment, what: str, error: ClientError) -> BoundaryNotWritableError:
    settings = deployment.settings
    return BoundaryNotWritableError(
        f"the permissions boundary {boundary_policy_arn(settings)} {what}, and this identity may not write "
        f"it ({error_code(error)}): by design only an administrator may. Have one run "
        "`PYTHONPATH=plugins python -m cdc_pipeline.deployer_policy --boundary > boundary.json` with these "
        f"settings, then `aws iam create-policy --policy-name {boundary_policy_name(settings)} "
        "--policy-document file://boundary.json` (or `aws iam create-policy-version --policy-arn "
        f"{boundary_policy_arn(settings)} --policy-document file://boundary.json --set-as-default`)"
    )


def ensure_boundary(deployment: Deployment) -> Outcome:
    """Create the boundary, or give it a new default version where its document differs."""
    iam = deployment.client("iam")
    settings = deployment.settings
    name, arn, document = (
        boundary_policy_name(settings),
        boundary_policy_arn(settings),
        boundary_policy(settings),
    )
    policy = _get_policy(iam, arn)
    if policy is None:
        try:
            iam.create_policy(
                PolicyName=name,
                PolicyDocument=json.dumps(document),
                Description="cdc-lake: the most any service role under this prefix may do",
            )
        except ClientError as error:
            if error_code(error) in _DENIED:
                raise _not_writable(deployment, "does not exist", error) from error
            raise
        return Outcome(BOUNDARY_RESOURCE, BOUNDARY_KIND, name, "created")
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    if _document(version["Document"]) == document:
        return Outcome(BOUNDARY_RESOURCE, BOUNDARY_KIND, name, "unchanged")
    try:
        _drop_oldest_version_if_full(iam, arn)
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
    except ClientError as error:
        if error_code(error) in _DENIED:
            raise _not_writable(
                deployment, "differs from what this version of the project needs", error
            ) from error
        raise
    return Outcome(BOUNDARY_RESOURCE, BOUNDARY_KIND, name, "updated")


def _drop_oldest_version_if_full(iam: Any, arn: str) -> None:
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= _MAX_POLICY_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])


def delete_boundary(deployment: Deployment) -> Outcome:
    """Delete the boundary (its other versions first, as IAM requires); an administrator's stays in place.

    Teardown runs it after every role it deletes. A deployer may not delete the boundary: that is
    reported as `unchanged` (left as it was), not as a failure of the teardown.
    """
    iam = deployment.client("iam")
    settings = deployment.settings
    name, arn = boundary_policy_name(settings), boundary_policy_arn(settings)
    if _get_policy(iam, arn) is None:
        return Outcome(BOUNDARY_RESOURCE, BOUNDARY_KIND, name, "absent")
    try:
        for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=arn)
    except ClientError as error:
        if error_code(error) in _DENIED:
            log.warning("left the permissions boundary %s in place: %s", arn, error)
            return Outcome(BOUNDARY_RESOURCE, BOUNDARY_KIND, name, "unchanged")
        raise
    return Outcome(BOUNDARY_RESOURCE, BOUNDARY_KIND, name, "deleted")
