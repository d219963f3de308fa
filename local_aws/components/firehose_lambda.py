"""Firehose's Lambda processor: one batch invoked through the Lambda runtime component with
Firehose's transformation contract (`firehose_processing`), retried NumberOfRetries times.

The delivery role must be allowed ``lambda:InvokeFunction`` on the processor (`local_aws.iam`);
a denial is ``Lambda.InvokeAccessDenied`` for every record of the batch once the retries are spent,
as is a function error (``Lambda.FunctionError``) or a function the runtime cannot find
(``Lambda.ResourceNotFound``).

LIMITATIONS: Lambda invocation retries back off for a fraction of a second, not AWS's schedule.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from local_aws import iam
from local_aws.components import firehose_processing as processing
from local_aws.components.firehose_model import Outcome, Settings, SourceRecord
from local_aws.world import World


def _event(settings: Settings, batch: list[SourceRecord]) -> bytes:
    records = []
    for record in batch:
        item: dict[str, Any] = {
            "recordId": record.record_id,
            "approximateArrivalTimestamp": record.arrival_ms,
            "data": base64.b64encode(record.data).decode("ascii"),
        }
        if record.kinesis is not None:
            item["kinesisRecordMetadata"] = record.kinesis
        records.append(item)
    return processing.build_event(
        str(uuid.uuid4()), settings.arn, settings.region, records, settings.kinesis_arn
    )


def invoke(world: World, log: logging.Logger, settings: Settings, batch: list[SourceRecord]) -> Outcome:
    """Invoke the processor for one batch, with Firehose's retries; touches no shared state."""
    procs = settings.processors
    assert procs.lambda_arn is not None
    payload = _event(settings, batch)
    ids = [record.record_id for record in batch]
    outcome = Outcome()
    while outcome.attempts <= procs.retries and not world.stopping.is_set():
        outcome.attempts += 1
        if _attempt(world, log, settings, payload, ids, outcome):
            return outcome
        if outcome.attempts <= procs.retries:
            world.stopping.wait(min(0.05 * outcome.attempts, 0.5))
    return outcome


def _attempt(
    world: World, log: logging.Logger, settings: Settings, payload: bytes, ids: list[str], outcome: Outcome
) -> bool:
    """One invocation: True with ``outcome.answered`` set, or False with ``outcome.failure`` set."""
    lambda_arn = settings.processors.lambda_arn
    assert lambda_arn is not None
    try:
        runtime: Any = world.components.get("lambda")
        if runtime is None:
            raise RuntimeError("the Lambda runtime component is not installed")
        denied = settings.role_arn and iam.check_service_role(
            world,
            settings.role_arn,
            "lambda:InvokeFunction",
            lambda_arn,
            service_principal="firehose.amazonaws.com",
            source_arn=settings.arn,
        )
        if denied:  # the delivery role may not invoke the processor
            raise processing.TransformError(("Lambda.InvokeAccessDenied", denied.message))
        result = runtime.invoke(lambda_arn, payload, settings.account_id, settings.region)
        if result.function_error or not 200 <= int(result.status_code) < 300:
            outcome.failure = processing.FUNCTION_ERROR
            log.info(
                "firehose %s: %s returned an error (attempt %d): %r",
                settings.name,
                lambda_arn,
                outcome.attempts,
                (result.payload or b"")[:500],
            )
            return False
        outcome.answered = processing.parse_response(result.payload, ids)
        return True
    except processing.TransformError as exc:
        outcome.failure = (exc.code, exc.message)
        log.info("firehose %s: %s (attempt %d): %s", settings.name, exc.code, outcome.attempts, exc.detail)
    except Exception as exc:  # the runtime could not run the function at all
        name = type(exc).__name__
        outcome.failure = (
            "Lambda.ResourceNotFound" if "NotFound" in name else "Lambda.ServiceException",
            str(exc) or name,
        )
        log.warning("firehose %s: invoking %s failed: %s", settings.name, lambda_arn, exc)
    return False
