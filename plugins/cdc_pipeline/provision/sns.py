"""The SNS topic that failed checks alert on."""

from __future__ import annotations

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "sns:topic"
RESOURCE = "alerts_topic"


def _exists(deployment: Deployment) -> bool:
    try:
        deployment.client("sns").get_topic_attributes(TopicArn=deployment.names.alerts_topic_arn)
    except ClientError as error:
        if error_code(error) == "NotFound":
            return False
        raise
    return True


def ensure_topic(deployment: Deployment) -> Outcome:
    """CreateTopic is idempotent on AWS; we look first only to report created or unchanged."""
    name = deployment.names.alerts_topic
    if _exists(deployment):
        return Outcome(RESOURCE, KIND, name, "unchanged")
    deployment.client("sns").create_topic(Name=name)
    return Outcome(RESOURCE, KIND, name, "created")


def delete_topic(deployment: Deployment) -> Outcome:
    name = deployment.names.alerts_topic
    if not _exists(deployment):
        return Outcome(RESOURCE, KIND, name, "absent")
    deployment.client("sns").delete_topic(TopicArn=deployment.names.alerts_topic_arn)
    return Outcome(RESOURCE, KIND, name, "deleted")
