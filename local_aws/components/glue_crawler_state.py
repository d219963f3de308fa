"""Patches on moto's Glue models: a crawler's state (READY -> RUNNING -> STOPPING -> READY) is the
crawl worker's to move, StartCrawler wakes the worker, and crawler creation takes Glue's default
policies and refuses a new-folders-only crawl that may change the schema, a Configuration Glue
would refuse and a classifier that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local_aws.components.glue_crawler_config import check_classifiers, parse_configuration
from local_aws.components.glue_crawler_model import NAME, NEW_FOLDERS_ONLY_MESSAGE, READY, RUNNING, STOPPING
from local_aws.world import current


def _crawler_error(code: str, message: str) -> Exception:
    from moto.glue.exceptions import GlueClientError

    return GlueClientError(code, message)


def crawler_state(self: Any) -> str:
    return getattr(self, "la_state", READY)


def _start_crawler(self: Any) -> None:
    from moto.glue.exceptions import CrawlerRunningException
    from moto.glue.models import FakeCrawl

    if crawler_state(self) != READY:
        raise CrawlerRunningException(f"Crawler with name {self.name} has already started")
    crawl = FakeCrawl(self.name)
    crawl._transitions = []  # the worker decides when a crawl ends, not moto's state manager
    crawl.status = "RUNNING"
    self.crawls.append(crawl)
    self.la_state = RUNNING
    self.la_cancel = False
    self.la_started = datetime.now(UTC)
    self.la_crawl_id = crawl.crawl_id
    component = current().components.get(NAME)
    if component is not None:
        component.wake()  # type: ignore[attr-defined]


def _stop_crawler(self: Any) -> None:
    from moto.glue.exceptions import CrawlerNotRunningException

    state = crawler_state(self)
    if state == STOPPING:
        raise _crawler_error("CrawlerStoppingException", f"Crawler with name {self.name} is stopping.")
    if state != RUNNING:
        raise CrawlerNotRunningException(f"Crawler with name {self.name} isn't running.")
    self.la_state = STOPPING
    self.la_cancel = True


def _crawler_as_dict(original: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def as_dict(self: Any) -> dict[str, Any]:
        data = original(self)
        state = crawler_state(self)
        data["State"] = state
        last = getattr(self, "la_last_crawl", None)
        if last:
            data["LastCrawl"] = dict(last)
        else:
            data.pop("LastCrawl", None)
        started = getattr(self, "la_started", None)
        if state != READY and started is not None:
            data["CrawlElapsedTime"] = int((datetime.now(UTC) - started).total_seconds() * 1000)
        else:
            data["CrawlElapsedTime"] = 0
        return data

    as_dict.la_original = original  # type: ignore[attr-defined]
    return as_dict


def validate_policies(recrawl: dict[str, Any] | None, schema_change: dict[str, Any] | None) -> None:
    from moto.glue.exceptions import InvalidInputException

    if (recrawl or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY":
        policy = schema_change or {}
        if policy.get("UpdateBehavior") != "LOG" or policy.get("DeleteBehavior") != "LOG":
            raise InvalidInputException("CreateCrawler", NEW_FOLDERS_ONLY_MESSAGE)


DEFAULT_SCHEMA_CHANGE = {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
_DEFAULT_RECRAWL = {"RecrawlBehavior": "CRAWL_EVERYTHING"}
_DEFAULT_LINEAGE = {"CrawlerLineageSettings": "DISABLE"}


def _create_crawler(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_crawler(self: Any, **kwargs: Any) -> Any:
        kwargs["schema_change_policy"] = {
            **DEFAULT_SCHEMA_CHANGE,
            **(kwargs.get("schema_change_policy") or {}),
        }
        kwargs["recrawl_policy"] = kwargs.get("recrawl_policy") or dict(_DEFAULT_RECRAWL)
        kwargs["lineage_configuration"] = kwargs.get("lineage_configuration") or dict(_DEFAULT_LINEAGE)
        validate_policies(kwargs["recrawl_policy"], kwargs["schema_change_policy"])
        parse_configuration(kwargs.get("configuration"), "CreateCrawler")
        check_classifiers(classifiers(self), kwargs.get("classifiers"), "CreateCrawler")
        return original(self, **kwargs)

    create_crawler.la_original = original  # type: ignore[attr-defined]
    return create_crawler


def _delete_crawler(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_crawler(self: Any, name: str) -> None:
        from moto.glue.exceptions import CrawlerRunningException

        crawler = self.crawlers.get(name)
        if crawler is not None and crawler_state(crawler) != READY:
            raise CrawlerRunningException(f"Crawler with name {name} is running; stop it before deleting it.")
        original(self, name)

    delete_crawler.la_original = original  # type: ignore[attr-defined]
    return delete_crawler


def classifiers(backend: Any) -> dict[str, dict[str, Any]]:
    """The backend's classifiers (moto keeps none), by name."""
    if not hasattr(backend, "la_classifiers"):
        backend.la_classifiers = {}
    return backend.la_classifiers


def install_patches() -> None:
    """Patch moto's crawler model and backend once per process (idempotent)."""
    from moto.glue.models import FakeCrawler, GlueBackend

    if not getattr(FakeCrawler, "la_patched", False):
        FakeCrawler.status = property(crawler_state)  # type: ignore[method-assign,assignment]
        FakeCrawler.start_crawler = _start_crawler  # type: ignore[method-assign]
        FakeCrawler.stop_crawler = _stop_crawler  # type: ignore[method-assign]
        FakeCrawler.as_dict = _crawler_as_dict(FakeCrawler.as_dict)  # type: ignore[method-assign]
        FakeCrawler.la_patched = True  # type: ignore[attr-defined]
    if not hasattr(GlueBackend.create_crawler, "la_original"):
        GlueBackend.create_crawler = _create_crawler(GlueBackend.create_crawler)  # type: ignore[method-assign]
    if not hasattr(GlueBackend.delete_crawler, "la_original"):
        GlueBackend.delete_crawler = _delete_crawler(GlueBackend.delete_crawler)  # type: ignore[method-assign]
