"""Decision audit: every evaluated request of an IAM identity, kept so a test can replay it.

Off by default; when off, `authorize` and `check_service_role` pay one branch (``if RECORDING``).
Two ways to turn it on:

- in process (the test session's local_aws runs in the test's process): ``with audit.recording()
  as records:`` collects an `AuditRecord` per decision into a list while the block runs;
- for a server in another process: ``LOCAL_AWS_IAM_AUDIT=<path>`` in the server's environment
  appends one JSON line per decision to that file (``principal``, ``role``, ``service``,
  ``action``, ``resource``, ``context``, ``allowed``, ``reason``) for as long as it runs.

A record is made for each check the gateway evaluates for a user's or role session's request (the
account's own keys are not evaluated, so not recorded) and for each permission check of a service
acting as a customer's role (Pipes, Firehose, a crawler, Lambda polling for a mapping) once the
role's trust policy let the service assume it; a refused assumption is recorded as the action
``sts:AssumeRole`` on the role. `replay` evaluates a record again with other identity policies or
another boundary, through the same `evaluation.evaluate` the decision used, with the same context
and the same bucket policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from local_aws.iam.evaluation import Decision, evaluate
from local_aws.iam.principals import Principal

_PATH = os.environ.get("LOCAL_AWS_IAM_AUDIT", "")
_sinks: list[list[AuditRecord]] = []
_file_lock = threading.Lock()

#: Whether any decision is being recorded: the one branch the checks pay when the audit is off.
RECORDING = bool(_PATH)


@dataclass(frozen=True)
class AuditRecord:
    """One evaluated decision.

    :param principal: the identity as evaluated (its policies and boundary at that moment)
    :param service: the service principal acting as the role, '' for a signed request
    :param resource_policy: the bucket policy that took part (S3 only), with its owner account
    """

    principal: Principal
    service: str
    action: str
    resource: str | None
    context: Mapping[str, Any]
    allowed: bool
    reason: str
    resource_policy: str | None = None
    resource_account: str | None = None

    @property
    def role_arn(self) -> str:
        """The role's (or user's) ARN, whichever session made the request."""
        return self.principal.arn

    def as_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal.caller_arn,
            "role": self.principal.arn,
            "service": self.service,
            "action": self.action,
            "resource": self.resource,
            "context": dict(self.context),
            "allowed": self.allowed,
            "reason": self.reason,
        }


def record(entry: AuditRecord) -> None:
    """Keep ``entry`` in every active recording and in the audit file, if there is one."""
    for sink in list(_sinks):
        sink.append(entry)  # list.append is atomic: no lock for the in-process sinks
    if _PATH:
        line = json.dumps(entry.as_json(), sort_keys=True, default=str)
        with _file_lock, open(_PATH, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@contextlib.contextmanager
def recording() -> Iterator[list[AuditRecord]]:
    """Collect every decision made while the block runs (by any thread of this process)."""
    global RECORDING
    sink: list[AuditRecord] = []
    _sinks.append(sink)
    RECORDING = True
    try:
        yield sink
    finally:
        _sinks.remove(sink)
        RECORDING = bool(_sinks) or bool(_PATH)


def reason_of(decision: Decision) -> str:
    if decision.allowed:
        return "allowed"
    kind = "explicit deny" if decision.explicit else "implicit deny"
    return f"{kind} in {decision.policy_type}" + (
        f" ({decision.statement_id})" if decision.statement_id else ""
    )


def replay(
    entry: AuditRecord, identity_policies: tuple[str, ...] | None = None, boundary: str | None = None
) -> Decision:
    """The decision for ``entry`` had its identity held ``identity_policies`` and ``boundary``.

    Either left None keeps what the identity had when the request was made. Evaluated by
    `evaluation.evaluate`, as the request was, with its context and bucket policy. An
    sts:AssumeRole record (a trust decision) raises ValueError.
    """
    if entry.action.lower() == "sts:assumerole":
        # Decided by the role's trust policy (and the caller's), which replay does not take.
        raise ValueError("an sts:AssumeRole decision is not replayed: it rests on the trust policy")
    principal = entry.principal
    if identity_policies is not None:
        principal = dataclasses.replace(principal, identity_policies=tuple(identity_policies))
    if boundary is not None:
        principal = dataclasses.replace(principal, boundary=boundary)
    return evaluate(
        principal, entry.action, entry.resource, entry.context, entry.resource_policy, entry.resource_account
    )
