"""AccessDenied as each service writes it: the code, the HTTP status and AWS's message.

The message is the one AWS documents for access denied errors:
``User: <caller> is not authorized to perform: <action> on resource: <arn> because no
identity-based policy allows the <action> action`` (or ``with an explicit deny in an
identity-based policy``, ``because no permissions boundary allows ...``...). S3 quotes the
resource ARN. An action without a resource type has no "on resource" part.

Codes: JSON and REST-JSON services (DynamoDB, Kinesis, Firehose, Glue, Athena, Logs, Lambda,
Pipes...) answer ``AccessDeniedException``; S3, IAM and STS ``AccessDenied``; SNS
``AuthorizationError``. Always HTTP 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from local_aws.iam.evaluation import Decision
from local_aws.validation.errors import AwsError

_CODES = {"s3": "AccessDenied", "iam": "AccessDenied", "sts": "AccessDenied", "sns": "AuthorizationError"}


@dataclass(frozen=True)
class AccessDenied:
    """One refused authorization: who, what, on what, and which policy decided."""

    caller_arn: str
    action: str
    resource: str | None
    decision: Decision
    service: str = ""

    @property
    def code(self) -> str:
        return _CODES.get(self.service, "AccessDeniedException")

    @property
    def message(self) -> str:
        on = ""
        if self.resource is not None:
            shown = f'"{self.resource}"' if self.service == "s3" else self.resource
            on = f" on resource: {shown}"
        return (
            f"User: {self.caller_arn} is not authorized to perform: {self.action}{on} "
            f"{self.decision.because(self.action)}"
        )

    def as_error(self) -> AwsError:
        return AwsError(self.code, self.message, 403)

    def __str__(self) -> str:
        return self.message
