"""Every IAM document the project generates passes parliament, Duo Labs' IAM policy linter.

Linted: the deployer policy for a few settings (prefixes, regions, partitions), the permissions
boundary, and every pipeline's service roles (inline policy and trust policy), with parliament's
community auditors on (privilege escalation, permissions management, credential exposure).

The bar: no finding at all, of any severity (LOW included), except those in ACCEPTED, each with the
reason it is accepted. A finding that is not listed fails the test, so a new action with the wrong
resource type (parliament knows each action's resource types from AWS's Service Authorization
Reference), a mistyped action or condition key, or a new escalation combination is caught where it
is written.

Beside the linter, AWS's own facts: every "Permissions management" action (the access level AWS
gives it) the deployer may perform on a role is conditioned on the boundary, apart from a short
list argued in `cdc_pipeline.deployer_policy`.
"""

from __future__ import annotations

import importlib.resources
import json
import sys
import types
from typing import Any

import pytest
import yaml

from cdc_pipeline.definitions import PIPELINES, Topology
from cdc_pipeline.deployer_policy import deployer_policy
from cdc_pipeline.iam_policies import boundary_policy, role_specs
from cdc_pipeline.provision.consumer import consumer_role_spec
from cdc_pipeline.settings import Settings


def _import_parliament() -> types.ModuleType:
    """parliament 1.6 reads its data files with pkg_resources, which setuptools >= 81 no longer ships.

    Its only use is `resource_filename`, which importlib.resources answers the same way.
    """
    try:
        import pkg_resources  # noqa: F401
    except ModuleNotFoundError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    import parliament

    return parliament


parliament = _import_parliament()
_COMMUNITY_CONFIG: dict[str, Any] = yaml.safe_load(
    (importlib.resources.files("parliament") / "community_auditors" / "config_override.yaml").read_text()
)

SETTINGS = [
    {"CDC_LAKE_PREFIX": "cdc-lake", "CDC_LAKE_ACCOUNT_ID": "111122223333"},
    {"CDC_LAKE_PREFIX": "acme-cdc", "CDC_LAKE_ACCOUNT_ID": "444455556666", "CDC_LAKE_REGION": "eu-west-1"},
    {
        "CDC_LAKE_PREFIX": "gov-lake",
        "CDC_LAKE_ACCOUNT_ID": "777788889999",
        "CDC_LAKE_REGION": "us-gov-west-1",
    },
]

#: (document kind, parliament issue, what its detail must contain) -> why the finding is accepted.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("deployer", "PERMISSIONS_MANAGEMENT_ACTIONS", ""): (
        "a deployer manages service roles, bucket policies and a topic's attributes by definition; each is "
        "scoped to the prefix's resources, and the role writes are conditioned on the boundary "
        "(test_deployer_policy proves what they do not allow)"
    ),
    ("deployer", "PRIVILEGE_ESCALATION", "EditExistingLambdaFunctionWithRole"): (
        "deploying the transform and consumer code is the deployer's job; the code runs under a role "
        "inside the boundary (no IAM, no STS, only the prefix's data resources)"
    ),
    ("deployer", "PRIVILEGE_ESCALATION", "PassExistingRoleToNewLambdaThenTriggerWithNewDynamo"): (
        "same: a new function can only get a transform or consumer role (PassRole to lambda only), and "
        "those roles are inside the boundary"
    ),
    ("deployer", "PRIVILEGE_ESCALATION", "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo"): (
        "same as above"
    ),
    ("trust", "MALFORMED", "neither Resource nor NotResource"): (
        "parliament lints identity policies; a role's trust policy is a resource policy, which names a "
        "Principal and, as AWS requires, no Resource"
    ),
}

# Role actions AWS classes as permissions management that take no iam:PermissionsBoundary condition.
UNCONDITIONABLE = {"iam:UpdateAssumeRolePolicy", "iam:PassRole"}


def _settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def documents(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, document) for every IAM document generated under `settings`."""
    found = [
        ("deployer", "deployer policy", deployer_policy(settings)),
        ("boundary", "boundary", boundary_policy(settings)),
    ]
    for definition in PIPELINES.values():
        names = definition.resources(settings)
        # The Parquet change log's Firehose role is the larger one (it also reads the schema table).
        specs = role_specs(names, converts=True)
        if definition.topology is Topology.DIRECT:
            specs = [consumer_role_spec(names), *(s for s in specs if s.resource == "crawler_role")]
        for spec in specs:
            found.append(("inline", f"{spec.name} inline policy", spec.policy))
            found.append(("trust", f"{spec.name} trust policy", spec.trust))
    return found


def findings(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(issue, severity, detail) of every parliament finding, community auditors included."""
    analysed = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    found = []
    for finding in analysed.findings:
        detail = json.dumps(finding.detail if finding.detail else finding.location, default=str)
        found.append((finding.issue, _severity(finding.issue), detail))
    return found


def _severity(issue: str) -> str:
    """From parliament's config, or its community auditors' (which analyze_policy_string does not merge)."""
    known = parliament.config.get(issue) or _COMMUNITY_CONFIG.get(issue) or {}
    return known.get("severity", "UNKNOWN")


def _accepted(kind: str, issue: str, detail: str) -> bool:
    return any(k == kind and i == issue and fragment in detail for (k, i, fragment) in ACCEPTED)


@pytest.mark.parametrize("env", SETTINGS, ids=lambda env: f"{env['CDC_LAKE_PREFIX']}")
def test_every_generated_policy_passes_parliament(env: dict[str, str]) -> None:
    unexpected = []
    for kind, name, document in documents(_settings(env)):
        for issue, severity, detail in findings(document):
            if not _accepted(kind, issue, detail):
                unexpected.append(f"{name}: {severity} {issue} {detail}")
    assert unexpected == [], "\n".join(unexpected)


def _issues(*statements: dict[str, Any]) -> set[str]:
    return {issue for issue, _, _ in findings({"Version": "2012-10-17", "Statement": list(statements)})}


def test_the_linter_catches_what_it_is_here_for() -> None:
    """A misspelled action, an unknown condition, a wildcard resource and an escalation are findings."""
    role = "arn:aws:iam::111122223333:role/x"
    assert "UNKNOWN_ACTION" in _issues(
        {"Effect": "Allow", "Action": ["s3:GetObjekt"], "Resource": ["arn:aws:s3:::b/*"]}
    )
    assert "UNKNOWN_CONDITION_FOR_ACTION" in _issues(
        {
            "Effect": "Allow",
            "Action": ["iam:PutRolePolicy"],
            "Resource": [role],
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        }
    )
    assert {"RESOURCE_STAR", "PRIVILEGE_ESCALATION"} <= _issues(
        {"Effect": "Allow", "Action": ["iam:CreatePolicyVersion"], "Resource": "*"}
    )


def test_every_role_permissions_management_action_is_held_by_the_boundary() -> None:
    """AWS's access levels (parliament's copy of the Service Authorization Reference) as the judge."""
    levels = {
        f"iam:{p['privilege']}".lower(): p["access_level"]
        for service in parliament.iam_definition
        if service["prefix"] == "iam"
        for p in service["privileges"]
    }
    policy = deployer_policy(_settings(SETTINGS[0]))
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        for action in statement["Action"]:
            if levels.get(action.lower()) != "Permissions management" or action in UNCONDITIONABLE:
                continue
            condition = statement.get("Condition", {})
            assert "iam:PermissionsBoundary" in json.dumps(condition), (
                f"{action} ({statement['Sid']}) unconditioned"
            )
    # PassRole has its own condition: the service the role is passed to.
    for statement in policy["Statement"]:
        if "iam:PassRole" in statement["Action"]:
            assert set(statement["Condition"]["StringEquals"]) == {"iam:PassedToService"}, statement["Sid"]
