"""The policy the README tells a team to give Airflow on real AWS."""

from __future__ import annotations

import json

from cdc_pipeline.deployer_policy import deployer_policy
from cdc_pipeline.settings import Settings


def policy() -> dict:
    return deployer_policy(
        Settings.from_env({"CDC_LAKE_PREFIX": "acme-cdc", "CDC_LAKE_ACCOUNT_ID": "111122223333"})
    )


def test_every_statement_names_its_actions_and_resources():
    for statement in policy()["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and statement["Resource"]
        for action in statement["Action"]:
            service, _, name = action.partition(":")
            assert service and name and "*" not in action, action


def test_only_unscopable_actions_get_every_resource():
    unscoped = [s for s in policy()["Statement"] if "*" in s["Resource"]]
    assert [s["Sid"] for s in unscoped] == ["Unscoped"]
    assert set(unscoped[0]["Action"]) == {"sts:GetCallerIdentity", "lambda:ListEventSourceMappings"}


def test_resources_are_the_prefixed_ones_in_the_account():
    for statement in policy()["Statement"]:
        for resource in statement["Resource"]:
            if resource == "*":
                continue
            assert (
                "acme-cdc" in resource
                or "acme_cdc" in resource
                or resource.endswith(":catalog")
                or ("event-source-mapping" in resource)
            ), resource
            if not resource.startswith("arn:aws:s3:::"):
                assert ":111122223333:" in resource, resource


def test_fits_in_an_inline_role_policy():
    assert len(json.dumps(policy(), separators=(",", ":"))) < 10_240
