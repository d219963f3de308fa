"""Glue operations moto lacks, on GlueResponse: CreateClassifier / GetClassifier(s) /
UpdateClassifier / DeleteClassifier, UpdateCrawler and GetCrawlerMetrics."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from local_aws.components.glue_crawler_config import check_classifiers, parse_configuration
from local_aws.components.glue_crawler_model import READY
from local_aws.components.glue_crawler_state import classifiers, crawler_state, validate_policies

_CLASSIFIER_KINDS = ("GrokClassifier", "XMLClassifier", "JsonClassifier", "CsvClassifier")


def _classifier_view(entry: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in entry.items() if key != "Kind"}
    return {entry["Kind"]: body}


def _response_create_classifier(self: Any) -> Any:
    from moto.core.responses import EmptyResult
    from moto.glue.exceptions import AlreadyExistsException, InvalidInputException

    params = self.parameters
    kinds = [kind for kind in _CLASSIFIER_KINDS if kind in params]
    if len(kinds) != 1:
        raise InvalidInputException("CreateClassifier", "Exactly one classifier type must be specified.")
    kind = kinds[0]
    body = dict(params[kind])
    store = classifiers(self.glue_backend)
    if body["Name"] in store:
        raise AlreadyExistsException("Classifier")
    now = datetime.now(UTC)
    store[body["Name"]] = {"Kind": kind, **body, "CreationTime": now, "LastUpdated": now, "Version": 1}
    return EmptyResult()


def _get_classifier_entry(backend: Any, name: str) -> dict[str, Any]:
    from moto.glue.exceptions import EntityNotFoundException

    entry = classifiers(backend).get(name)
    if entry is None:
        raise EntityNotFoundException(f"Classifier {name} not found.")
    return entry


def _response_get_classifier(self: Any) -> Any:
    from moto.core.responses import ActionResult

    entry = _get_classifier_entry(self.glue_backend, self.parameters.get("Name"))
    return ActionResult({"Classifier": _classifier_view(entry)})


def _response_get_classifiers(self: Any) -> Any:
    from moto.core.responses import ActionResult

    entries = list(classifiers(self.glue_backend).values())
    return ActionResult({"Classifiers": [_classifier_view(entry) for entry in entries]})


def _response_update_classifier(self: Any) -> Any:
    from moto.core.responses import EmptyResult
    from moto.glue.exceptions import InvalidInputException

    params = self.parameters
    kinds = [kind for kind in _CLASSIFIER_KINDS if kind in params]
    if len(kinds) != 1:
        raise InvalidInputException("UpdateClassifier", "Exactly one classifier type must be specified.")
    update = params[kinds[0]]
    entry = _get_classifier_entry(self.glue_backend, update["Name"])
    if entry["Kind"] != kinds[0]:
        raise InvalidInputException("UpdateClassifier", f"Classifier {update['Name']} is not a {kinds[0]}.")
    entry.update(update)
    entry["LastUpdated"] = datetime.now(UTC)
    entry["Version"] += 1
    return EmptyResult()


def _response_delete_classifier(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    name = self.parameters.get("Name")
    _get_classifier_entry(self.glue_backend, name)
    del classifiers(self.glue_backend)[name]
    return EmptyResult()


_UPDATABLE_CRAWLER_FIELDS = {
    "Role": "role",
    "DatabaseName": "database_name",
    "Description": "description",
    "Targets": "targets",
    "Classifiers": "classifiers",
    "TablePrefix": "table_prefix",
    "SchemaChangePolicy": "schema_change_policy",
    "RecrawlPolicy": "recrawl_policy",
    "LineageConfiguration": "lineage_configuration",
    "Configuration": "configuration",
    "CrawlerSecurityConfiguration": "crawler_security_configuration",
}


def _response_update_crawler(self: Any) -> Any:
    from moto.core.responses import EmptyResult
    from moto.glue.exceptions import CrawlerRunningException

    params = self.parameters
    crawler = self.glue_backend.get_crawler(params.get("Name"))
    if crawler_state(crawler) != READY:
        raise CrawlerRunningException(f"Crawler with name {crawler.name} has already started")
    schema_change = {**(crawler.schema_change_policy or {}), **(params.get("SchemaChangePolicy") or {})}
    recrawl = params.get("RecrawlPolicy") or crawler.recrawl_policy
    validate_policies(recrawl, schema_change)
    if "Configuration" in params:
        parse_configuration(params["Configuration"], "UpdateCrawler")
    if "Classifiers" in params:
        check_classifiers(classifiers(self.glue_backend), params["Classifiers"], "UpdateCrawler")
    for key, attribute in _UPDATABLE_CRAWLER_FIELDS.items():
        if key in params:
            setattr(crawler, attribute, params[key])
    crawler.schema_change_policy = schema_change
    if "Schedule" in params:
        crawler.schedule = params["Schedule"]
    crawler.version += 1
    crawler.last_updated = datetime.now(UTC)
    return EmptyResult()


def _response_get_crawler_metrics(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.glue.exceptions import CrawlerNotFoundException

    names = self.parameters.get("CrawlerNameList") or list(self.glue_backend.crawlers)
    metrics = []
    for name in names:
        crawler = self.glue_backend.crawlers.get(name)
        if crawler is None:
            raise CrawlerNotFoundException(name)
        metrics.append(_metrics_of(crawler))
    return ActionResult({"CrawlerMetricsList": metrics})


def _metrics_of(crawler: Any) -> dict[str, Any]:
    runtimes: list[float] = getattr(crawler, "la_runtimes", [])
    counts: dict[str, int] = getattr(crawler, "la_counts", {})
    running = crawler_state(crawler) != READY
    return {
        "CrawlerName": crawler.name,
        "TimeLeftSeconds": 0.0,
        "StillEstimating": running,
        "LastRuntimeSeconds": float(runtimes[-1]) if runtimes else 0.0,
        "MedianRuntimeSeconds": float(statistics.median(runtimes)) if runtimes else 0.0,
        "TablesCreated": counts.get("created", 0),
        "TablesUpdated": counts.get("updated", 0),
        "TablesDeleted": counts.get("deleted", 0),
    }


_RESPONSE_METHODS = {
    "create_classifier": _response_create_classifier,
    "get_classifier": _response_get_classifier,
    "get_classifiers": _response_get_classifiers,
    "update_classifier": _response_update_classifier,
    "delete_classifier": _response_delete_classifier,
    "update_crawler": _response_update_crawler,
    "get_crawler_metrics": _response_get_crawler_metrics,
}


def install_responses() -> None:
    """Add the operations above to moto's GlueResponse."""
    from moto.glue.responses import GlueResponse

    for method_name, method in _RESPONSE_METHODS.items():
        setattr(GlueResponse, method_name, method)
