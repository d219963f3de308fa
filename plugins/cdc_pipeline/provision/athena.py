"""The Athena workgroup that enforces where query results go."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "athena:workgroup"
RESOURCE = "athena_workgroup"


def _result_configuration(deployment: Deployment) -> dict[str, Any]:
    return {
        "OutputLocation": deployment.settings.athena_output_location,
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }


def _get(athena: Any, name: str) -> dict[str, Any] | None:
    try:
        # The embedded AWS answers null for a missing workgroup; AWS raises InvalidRequestException.
        return athena.get_work_group(WorkGroup=name).get("WorkGroup")
    except ClientError as error:
        if error_code(error) == "InvalidRequestException":
            return None
        raise


def ensure_workgroup(deployment: Deployment) -> Outcome:
    """Create the workgroup with an enforced output location, or update it in place."""
    athena = deployment.client("athena")
    name = deployment.names.athena_workgroup
    results = _result_configuration(deployment)
    current = _get(athena, name)
    if current is None:
        athena.create_work_group(
            Name=name,
            Description=f"cdc-lake queries ({deployment.settings.prefix})",
            Configuration={
                "ResultConfiguration": results,
                # Queries cannot send results elsewhere, so the results bucket is the only place to look.
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
            },
        )
        return Outcome(RESOURCE, KIND, name, "created")
    configuration = current.get("Configuration") or {}
    current_results = configuration.get("ResultConfiguration") or {}
    differs = (
        current_results.get("OutputLocation") != results["OutputLocation"]
        or (current_results.get("EncryptionConfiguration") or {}).get("EncryptionOption")
        != results["EncryptionConfiguration"]["EncryptionOption"]
        or configuration.get("EnforceWorkGroupConfiguration") is not True
        or current.get("State", "ENABLED") != "ENABLED"
    )
    if not differs:
        return Outcome(RESOURCE, KIND, name, "unchanged")
    athena.update_work_group(
        WorkGroup=name,
        State="ENABLED",
        ConfigurationUpdates={"ResultConfigurationUpdates": results, "EnforceWorkGroupConfiguration": True},
    )
    return Outcome(RESOURCE, KIND, name, "updated")


def delete_workgroup(deployment: Deployment) -> Outcome:
    athena = deployment.client("athena")
    name = deployment.names.athena_workgroup
    if _get(athena, name) is None:
        return Outcome(RESOURCE, KIND, name, "absent")
    athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    return Outcome(RESOURCE, KIND, name, "deleted")
