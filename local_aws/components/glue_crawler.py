"""The Glue crawler: StartCrawler really crawls its S3 targets and writes the Data Catalog.

moto stores crawlers, but a crawl never ends and never creates a table. Here StartCrawler moves
the crawler to RUNNING and a background worker crawls each S3 target: it lists the objects under
the include path (minus exclusions, hidden and empty files), classifies each one (JSON lines,
GZIP-compressed JSON, Parquet, or the records a JSON classifier's JsonPath selects), infers and
merges the schemas with Glue's type names and widening rules, groups objects into tables and
partitions the way the crawler does (Hive ``key=value`` folders, ``partition_N`` otherwise), and
creates or updates tables and partitions according to the SchemaChangePolicy and RecrawlPolicy.
The crawler then goes through STOPPING back to READY with a LastCrawl, metrics for
GetCrawlerMetrics and log events in ``/aws-glue/crawlers``.

The schema inferred for each object is cached in the component store, keyed by ETag and size, so
an hourly re-crawl of a growing lake reads only the objects that are new or changed.

The crawl reads as the crawler's role (`local_aws.iam.service_steps.crawler_reads`): a role that
does not trust glue.amazonaws.com, or may not list the bucket or read an object, fails the crawl
with Glue's message (catalog writes are not checked against the role).

Also added to moto: CreateClassifier / GetClassifier(s) / UpdateClassifier / DeleteClassifier,
UpdateCrawler and GetCrawlerMetrics.

LIMITATIONS: only S3 targets are crawled (JDBC, DynamoDB and catalog targets fail the crawl);
only JSON and Parquet are classified (CSV, Avro, ORC, XML and Grok classifiers are stored but
objects in those formats are skipped as UNKNOWN); a whole object is read, not its first megabyte,
except that a gzip object is inflated only up to 16 MiB (cut at a line end: a gzip bomb cannot grow
the server), so its schema and record count come from those first records;
the table level is found with a simple rule (the folders under the include path are tables unless
they are Hive-style, or two or more share a format and at least 70% of their column names) rather
than Glue's clustering; partitions reuse the table's columns (as with "update all new and existing
partitions with metadata from the table"); data columns named like a partition key are dropped;
a deprecated table is marked with a ``DEPRECATED_BY_CRAWLER`` parameter holding the epoch
milliseconds; crawls run immediately (no Schedule) and take as long as reading the data takes.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_aws.components import glue_schema as gs
from local_aws.components.base import Component
from local_aws.world import World, current

NAME = "glue_crawler"
LOG_GROUP = "/aws-glue/crawlers"
READY, RUNNING, STOPPING = "READY", "RUNNING", "STOPPING"

JSON_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
}
PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
SIMILARITY_THRESHOLD = 0.7
NEW_FOLDERS_ONLY_MESSAGE = (
    'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can have only LOG '
    "DeleteBehavior value and LOG UpdateBehavior value."
)


# -- paths ---------------------------------------------------------------------------------
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Translate a crawler exclude pattern (relative to the include path) to a regex.

    ``*`` and ``?`` stay within one folder level, ``**`` crosses levels, ``[...]``/``[!...]``
    are character classes, ``{a,b}`` alternatives and a backslash escapes the next character.
    """
    return re.compile(_glob_body(pattern) + r"\Z", re.DOTALL)


def _glob_body(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                out.append("[^/]*")
                i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2) if pattern[i + 1] in "!^" else pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif char == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            choices = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_body(choice) for choice in choices) + ")")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def catalog_name(text: str) -> str:
    """A name as the crawler writes it to the catalog: lower case, other characters as ``_``."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def split_s3_path(path: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    rest = re.sub(r"^s3a?://", "", path.strip())
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix


def _is_hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/"))


def _hive(folder: str) -> tuple[str, str] | None:
    key, sep, value = folder.partition("=")
    return (key, value) if sep and key else None


# -- plans ---------------------------------------------------------------------------------
@dataclass
class CrawlerConfig:
    """What a crawl needs from the crawler, copied under the lock at the start of the crawl."""

    account: str
    region: str
    name: str
    role: str
    database: str
    s3_targets: list[dict[str, Any]]
    other_targets: list[str]
    json_path: str | None
    table_prefix: str
    update_behavior: str
    delete_behavior: str
    new_folders_only: bool
    table_level: int | None


@dataclass
class ObjectRef:
    bucket: str
    key: str
    rel: str  # relative to the include path
    etag: str
    size: int
    info: gs.ObjectInfo | None = None


@dataclass
class PartitionPlan:
    values: list[str]
    location: str
    objects: int = 0
    size: int = 0
    records: int = 0


@dataclass
class TablePlan:
    """One table the crawl found: where it lives, its schema, its partitions, its statistics."""

    name: str
    bucket: str
    root: str  # key prefix of the table, ending in "/" unless it is the bucket root
    classification: str
    compression: str
    json_path: str | None
    fields: tuple[tuple[str, Any], ...] = ()
    partition_keys: list[str] = field(default_factory=list)
    partitions: dict[tuple[str, ...], PartitionPlan] = field(default_factory=dict)
    objects: int = 0
    size: int = 0
    records: int = 0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.root}"


class CrawlCancelled(Exception):
    """StopCrawler was called."""


class CrawlAbandoned(Exception):
    """The server is stopping; the crawl stays RUNNING and is done again after a restart."""


class CrawlFailed(Exception):
    """The crawl cannot complete; the message becomes LastCrawl.ErrorMessage."""


def _crawler_error(code: str, message: str) -> Exception:
    from moto.glue.exceptions import GlueClientError

    return GlueClientError(code, message)


# -- moto patches: crawler state -----------------------------------------------------------
def _crawler_state(self: Any) -> str:
    return getattr(self, "la_state", READY)


def _start_crawler(self: Any) -> None:
    from moto.glue.exceptions import CrawlerRunningException
    from moto.glue.models import FakeCrawl

    if _crawler_state(self) != READY:
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

    state = _crawler_state(self)
    if state == STOPPING:
        raise _crawler_error("CrawlerStoppingException", f"Crawler with name {self.name} is stopping.")
    if state != RUNNING:
        raise CrawlerNotRunningException(f"Crawler with name {self.name} isn't running.")
    self.la_state = STOPPING
    self.la_cancel = True


def _crawler_as_dict(original: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def as_dict(self: Any) -> dict[str, Any]:
        data = original(self)
        state = _crawler_state(self)
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


def _validate_policies(recrawl: dict[str, Any] | None, schema_change: dict[str, Any] | None) -> None:
    from moto.glue.exceptions import InvalidInputException

    if (recrawl or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY":
        policy = schema_change or {}
        if policy.get("UpdateBehavior") != "LOG" or policy.get("DeleteBehavior") != "LOG":
            raise InvalidInputException("CreateCrawler", NEW_FOLDERS_ONLY_MESSAGE)


_DEFAULT_SCHEMA_CHANGE = {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
_DEFAULT_RECRAWL = {"RecrawlBehavior": "CRAWL_EVERYTHING"}
_DEFAULT_LINEAGE = {"CrawlerLineageSettings": "DISABLE"}


def _create_crawler(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_crawler(self: Any, **kwargs: Any) -> Any:
        kwargs["schema_change_policy"] = {
            **_DEFAULT_SCHEMA_CHANGE,
            **(kwargs.get("schema_change_policy") or {}),
        }
        kwargs["recrawl_policy"] = kwargs.get("recrawl_policy") or dict(_DEFAULT_RECRAWL)
        kwargs["lineage_configuration"] = kwargs.get("lineage_configuration") or dict(_DEFAULT_LINEAGE)
        _validate_policies(kwargs["recrawl_policy"], kwargs["schema_change_policy"])
        return original(self, **kwargs)

    create_crawler.la_original = original  # type: ignore[attr-defined]
    return create_crawler


# -- moto patches: new operations on GlueResponse -------------------------------------------
def _delete_crawler(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_crawler(self: Any, name: str) -> None:
        from moto.glue.exceptions import CrawlerRunningException

        crawler = self.crawlers.get(name)
        if crawler is not None and _crawler_state(crawler) != READY:
            raise CrawlerRunningException(f"Crawler with name {name} is running; stop it before deleting it.")
        original(self, name)

    delete_crawler.la_original = original  # type: ignore[attr-defined]
    return delete_crawler


_CLASSIFIER_KINDS = ("GrokClassifier", "XMLClassifier", "JsonClassifier", "CsvClassifier")


def _classifiers(backend: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(backend, "la_classifiers"):
        backend.la_classifiers = {}
    return backend.la_classifiers


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
    store = _classifiers(self.glue_backend)
    if body["Name"] in store:
        raise AlreadyExistsException("Classifier")
    now = datetime.now(UTC)
    store[body["Name"]] = {"Kind": kind, **body, "CreationTime": now, "LastUpdated": now, "Version": 1}
    return EmptyResult()


def _get_classifier_entry(backend: Any, name: str) -> dict[str, Any]:
    from moto.glue.exceptions import EntityNotFoundException

    entry = _classifiers(backend).get(name)
    if entry is None:
        raise EntityNotFoundException(f"Classifier {name} not found.")
    return entry


def _response_get_classifier(self: Any) -> Any:
    from moto.core.responses import ActionResult

    entry = _get_classifier_entry(self.glue_backend, self.parameters.get("Name"))
    return ActionResult({"Classifier": _classifier_view(entry)})


def _response_get_classifiers(self: Any) -> Any:
    from moto.core.responses import ActionResult

    entries = list(_classifiers(self.glue_backend).values())
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
    del _classifiers(self.glue_backend)[name]
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
    if _crawler_state(crawler) != READY:
        raise CrawlerRunningException(f"Crawler with name {crawler.name} has already started")
    schema_change = {**(crawler.schema_change_policy or {}), **(params.get("SchemaChangePolicy") or {})}
    recrawl = params.get("RecrawlPolicy") or crawler.recrawl_policy
    _validate_policies(recrawl, schema_change)
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
    running = _crawler_state(crawler) != READY
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


# -- the component -------------------------------------------------------------------------
class GlueCrawler(Component):
    """Runs crawls in background threads; see the module docstring."""

    name = NAME
    order = 60
    max_parallel_crawls = 4
    scan_interval = 0.5

    def __init__(self) -> None:
        super().__init__()
        self._wake = threading.Event()
        # Cleared only by tests that need a crawl to stay RUNNING (StopCrawler); set otherwise.
        self.crawl_gate = threading.Event()
        self.crawl_gate.set()
        self._inflight: set[tuple[str, str, str]] = set()
        self._inflight_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def install(self, world: World) -> None:
        super().install(world)
        from moto.glue.models import FakeCrawler, GlueBackend
        from moto.glue.responses import GlueResponse

        if not getattr(FakeCrawler, "la_patched", False):
            FakeCrawler.status = property(_crawler_state)  # type: ignore[method-assign,assignment]
            FakeCrawler.start_crawler = _start_crawler  # type: ignore[method-assign]
            FakeCrawler.stop_crawler = _stop_crawler  # type: ignore[method-assign]
            FakeCrawler.as_dict = _crawler_as_dict(FakeCrawler.as_dict)  # type: ignore[method-assign]
            FakeCrawler.la_patched = True  # type: ignore[attr-defined]
        if not hasattr(GlueBackend.create_crawler, "la_original"):
            GlueBackend.create_crawler = _create_crawler(GlueBackend.create_crawler)  # type: ignore[method-assign]
        if not hasattr(GlueBackend.delete_crawler, "la_original"):
            GlueBackend.delete_crawler = _delete_crawler(GlueBackend.delete_crawler)  # type: ignore[method-assign]
        for method_name, method in _RESPONSE_METHODS.items():
            setattr(GlueResponse, method_name, method)

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=self.max_parallel_crawls, thread_name_prefix="local_aws-crawl"
        )
        self.spawn(self._dispatch_loop, "glue-crawler")

    def stop(self) -> None:
        self._wake.set()
        self.crawl_gate.set()
        super().stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def wake(self) -> None:
        """Called under the lock by StartCrawler: look for work now rather than at the next scan."""
        self._wake.set()

    # -- dispatch --------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        assert self.world is not None
        while not self.world.stopping.is_set():
            self._wake.wait(self.scan_interval)
            self._wake.clear()
            if self.world.stopping.is_set():
                return
            try:
                self._dispatch_pending()
            except Exception:
                self.log.exception("scanning for crawls failed")

    def _dispatch_pending(self) -> None:
        assert self.world is not None and self._pool is not None
        pending = []
        with self.world.lock:
            for account, regions in self.world.backend_dicts()["glue"].items():
                for region, backend in regions.items():
                    for crawler in list(backend.crawlers.values()):
                        if _crawler_state(crawler) != READY:
                            pending.append((account, region, crawler.name))
        for key in pending:
            with self._inflight_lock:
                if key in self._inflight:
                    continue
                self._inflight.add(key)
            self._pool.submit(self._run_crawl, key)

    # -- one crawl -------------------------------------------------------------------------
    def _run_crawl(self, key: tuple[str, str, str]) -> None:
        assert self.world is not None
        world = self.world
        account, region, name = key
        try:
            with world.lock:
                backend = world.backend("glue", account, region)
                crawler = backend.crawlers.get(name)
                if crawler is None or _crawler_state(crawler) == READY:
                    return
                config = self._config_of(crawler, backend, account, region)
                crawl_id = getattr(crawler, "la_crawl_id", None) or str(uuid.uuid4())
            started = time.monotonic()
            log_lines = [f"BENCHMARK : Running Start Crawl for Crawler {name}"]
            counts = {"created": 0, "updated": 0, "deleted": 0}
            status, error = "SUCCEEDED", ""
            try:
                self._wait_gate(crawler)
                self._crawl(config, crawler, counts, log_lines)
            except CrawlAbandoned:
                return
            except CrawlCancelled:
                status = "CANCELLED"
                log_lines.append("INFO : Crawler was stopped by a StopCrawler request")
            except CrawlFailed as exc:
                status, error = "FAILED", str(exc)
                log_lines.append(f"ERROR : {error}")
            except Exception as exc:  # a bug must fail the crawl, not kill the worker
                self.log.exception("crawl of %s failed", name)
                status, error = "FAILED", f"Internal Service Exception: {exc}"
                log_lines.append(f"ERROR : {error}")
            elapsed = time.monotonic() - started
            log_lines.append(f"BENCHMARK : Crawler has finished running and is in state {status}")
            self._finish(key, crawler, crawl_id, status, error, counts, elapsed, log_lines)
        finally:
            with self._inflight_lock:
                self._inflight.discard(key)

    def _wait_gate(self, crawler: Any) -> None:
        """Hold the crawl (RUNNING, or STOPPING once stopped) while a test keeps the gate shut."""
        assert self.world is not None
        while not self.crawl_gate.wait(0.05):
            if self.world.stopping.is_set():
                raise CrawlAbandoned()
        self._check_interrupt(crawler)

    def _check_interrupt(self, crawler: Any) -> None:
        assert self.world is not None
        if self.world.stopping.is_set():
            raise CrawlAbandoned()
        if getattr(crawler, "la_cancel", False):
            raise CrawlCancelled()

    def _finish(
        self,
        key: tuple[str, str, str],
        crawler: Any,
        crawl_id: str,
        status: str,
        error: str,
        counts: dict[str, int],
        elapsed: float,
        log_lines: list[str],
    ) -> None:
        assert self.world is not None
        account, region, name = key
        with self.world.lock:
            crawler.la_state = STOPPING  # visible between the two lock holds, as in AWS
        with self.world.lock:
            crawler.la_last_crawl = {
                "Status": status,
                "LogGroup": LOG_GROUP,
                "LogStream": name,
                "MessagePrefix": crawl_id,
                "StartTime": getattr(crawler, "la_started", datetime.now(UTC)),
            }
            if error:
                crawler.la_last_crawl["ErrorMessage"] = error
            crawler.la_runtimes = [*getattr(crawler, "la_runtimes", []), round(elapsed, 3)][-100:]
            crawler.la_counts = dict(counts)
            crawler.la_state = READY
            crawler.la_cancel = False
            for crawl in crawler.crawls:
                if crawl.crawl_id == crawl_id:
                    crawl.status = {"SUCCEEDED": "COMPLETED", "CANCELLED": "STOPPED"}.get(status, "FAILED")
                    crawl.end_time = datetime.now()
            self._write_log(account, region, name, crawl_id, log_lines)
            self.world.mark_dirty()

    def _write_log(self, account: str, region: str, stream: str, crawl_id: str, lines: list[str]) -> None:
        assert self.world is not None
        try:
            logs = self.world.backend("logs", account, region)
            if LOG_GROUP not in logs.groups:
                logs.create_log_group(LOG_GROUP, {})
            if stream not in logs.groups[LOG_GROUP].streams:
                logs.create_log_stream(LOG_GROUP, stream)
            now = int(time.time() * 1000)
            events = [{"timestamp": now, "message": f"[{crawl_id}] {line}"} for line in lines]
            logs.put_log_events(LOG_GROUP, stream, events)
        except Exception:  # logs are a courtesy; a crawl never fails for them
            self.log.warning("could not write crawl log for %s", stream, exc_info=True)

    def _config_of(self, crawler: Any, backend: Any, account: str, region: str) -> CrawlerConfig:
        targets = crawler.targets or {}
        json_path = None
        for classifier_name in crawler.classifiers or []:
            entry = _classifiers(backend).get(classifier_name)
            if entry and entry["Kind"] == "JsonClassifier":
                json_path = entry.get("JsonPath")
                break
        schema_change = {**_DEFAULT_SCHEMA_CHANGE, **(crawler.schema_change_policy or {})}
        recrawl = (crawler.recrawl_policy or {}).get("RecrawlBehavior", "CRAWL_EVERYTHING")
        table_level = None
        if crawler.configuration:
            try:
                grouping = json.loads(crawler.configuration).get("Grouping", {})
                if grouping.get("TableLevelConfiguration"):
                    table_level = int(grouping["TableLevelConfiguration"])
            except (ValueError, AttributeError, TypeError):
                table_level = None
        return CrawlerConfig(
            account=account,
            region=region,
            name=crawler.name,
            role=crawler.role or "",
            database=crawler.database_name or "",
            s3_targets=[dict(target) for target in targets.get("S3Targets") or []],
            other_targets=[kind for kind, value in targets.items() if kind != "S3Targets" and value],
            json_path=json_path,
            table_prefix=crawler.table_prefix or "",
            update_behavior=schema_change["UpdateBehavior"],
            delete_behavior=schema_change["DeleteBehavior"],
            new_folders_only=recrawl == "CRAWL_NEW_FOLDERS_ONLY",
            table_level=table_level,
        )

    # -- the crawl itself ------------------------------------------------------------------
    def _crawl(
        self, config: CrawlerConfig, crawler: Any, counts: dict[str, int], log_lines: list[str]
    ) -> None:
        assert self.world is not None
        self._validate(config)
        signature = config.json_path or ""
        store = self.world.store(NAME).setdefault("objects", {})
        pending: dict[str, tuple[str, int, str, dict[str, Any]]] = {}
        plans: list[TablePlan] = []
        seen_roots: list[tuple[str, str]] = []
        listed: dict[str, set[str]] = {}
        for target in config.s3_targets:
            bucket, prefix, refs = self._list_target(config, target)
            _check_role_reads(self.world, config, bucket, refs, prefix)
            seen_roots.append((bucket, prefix))
            listed.setdefault(bucket, set()).update(ref.key for ref in refs)
            if config.new_folders_only:
                refs = self._only_new_folders(config, bucket, refs)
            for ref in refs:
                self._check_interrupt(crawler)
                self._infer(config, ref, store, signature, pending)
            known = [ref for ref in refs if ref.info is not None and ref.info.classification != "UNKNOWN"]
            for ref in refs:
                if ref.info is not None and ref.info.classification == "UNKNOWN":
                    log_lines.append(f"WARN : s3://{bucket}/{ref.key} was not classified: {ref.info.error}")
            plans.extend(self._plan_tables(config, bucket, prefix, known))
        self._check_interrupt(crawler)
        with self.world.lock:
            self._commit(config, plans, seen_roots, counts, log_lines)
            self._remember(config, store, pending, seen_roots, listed)
            self.world.mark_dirty()

    def _validate(self, config: CrawlerConfig) -> None:
        assert self.world is not None
        with self.world.lock:
            iam = self.world.backend("iam", config.account)
            try:
                if config.role.startswith("arn:"):
                    iam.get_role_by_arn(config.role)
                else:
                    iam.get_role(config.role.rsplit("/", 1)[-1])
            except Exception as exc:
                raise CrawlFailed(
                    f"Service is unable to assume provided role {config.role}. Please verify role's TrustPolicy."
                ) from exc
            glue = self.world.backend("glue", config.account, config.region)
            if config.database not in glue.databases:
                raise CrawlFailed(
                    f"Database {config.database} does not exist or principal is not authorized to create tables."
                )
            if config.other_targets:
                raise CrawlFailed(
                    f"local_aws crawls only S3 targets; unsupported targets: {', '.join(config.other_targets)}"
                )
            if not config.s3_targets:
                raise CrawlFailed("The crawler has no S3 targets to crawl.")
            s3 = self.world.backend("s3", config.account)
            for target in config.s3_targets:
                bucket, _ = split_s3_path(target.get("Path", ""))
                if bucket not in s3.buckets:
                    raise CrawlFailed(
                        f"The specified bucket does not exist (Bucket: {bucket}; Service: Amazon S3; "
                        "Status Code: 404; Error Code: NoSuchBucket)"
                    )

    def _list_target(self, config: CrawlerConfig, target: dict[str, Any]) -> tuple[str, str, list[ObjectRef]]:
        """The objects a target crawls: under the include path, not excluded, hidden or empty."""
        from moto.s3.models import FakeKey

        assert self.world is not None
        bucket_name, prefix = split_s3_path(target["Path"])
        exclusions = [glob_to_regex(pattern) for pattern in target.get("Exclusions") or []]
        refs: list[ObjectRef] = []
        with self.world.lock:
            bucket = self.world.backend("s3", config.account).buckets.get(bucket_name)
            if bucket is None:
                raise CrawlFailed(f"The specified bucket does not exist (Bucket: {bucket_name})")
            keys = {name: key for name, key in bucket.keys.items() if isinstance(key, FakeKey)}
            if prefix and not prefix.endswith("/"):
                if prefix in keys:  # the include path is one object: crawl it, in its folder
                    keys = {prefix: keys[prefix]}
                    prefix = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
                else:
                    prefix += "/"
            for name, key in keys.items():
                if not name.startswith(prefix):
                    continue
                rel = name[len(prefix) :]
                if not rel or rel.endswith("/") or name.endswith("_$folder$") or key.size == 0:
                    continue
                if _is_hidden(rel) or any(pattern.match(rel) for pattern in exclusions):
                    continue
                refs.append(ObjectRef(bucket_name, name, rel, key.etag, key.size))
        refs.sort(key=lambda ref: ref.key)
        return bucket_name, prefix, refs

    def _only_new_folders(self, config: CrawlerConfig, bucket: str, refs: list[ObjectRef]) -> list[ObjectRef]:
        """CRAWL_NEW_FOLDERS_ONLY: drop objects in folders the catalog already has as partitions."""
        assert self.world is not None
        known: set[str] = set()
        with self.world.lock:
            glue = self.world.backend("glue", config.account, config.region)
            database = glue.databases.get(config.database)
            for table in list(database.tables.values()) if database else []:
                current_input = table.get_version(str(table._current_version))
                location = (current_input.get("StorageDescriptor") or {}).get("Location")
                if location and not current_input.get("PartitionKeys"):
                    known.add(location.rstrip("/") + "/")
                for partition in table.partitions.values():
                    part_location = (partition.partition_input.get("StorageDescriptor") or {}).get("Location")
                    if part_location:
                        known.add(part_location.rstrip("/") + "/")
        fresh = []
        for ref in refs:
            folder = f"s3://{bucket}/{ref.key.rsplit('/', 1)[0]}/" if "/" in ref.key else f"s3://{bucket}/"
            if folder not in known:
                fresh.append(ref)
        return fresh

    def _infer(
        self,
        config: CrawlerConfig,
        ref: ObjectRef,
        store: dict[str, Any],
        signature: str,
        pending: dict[str, tuple[str, int, str, dict[str, Any]]],
    ) -> None:
        """Set ``ref.info``: from the cache when ETag and size match, else read and classify.

        New results go to ``pending`` and reach the store only with the catalog commit.
        """
        assert self.world is not None
        cache_key = f"{config.account}/{ref.bucket}/{ref.key}"
        cached = store.get(cache_key)
        if cached and cached[0] == ref.etag and cached[1] == ref.size and cached[2] == signature:
            ref.info = gs.ObjectInfo.from_plain(cached[3])
            return
        from moto.s3.models import FakeKey

        with self.world.lock:
            bucket = self.world.backend("s3", config.account).buckets.get(ref.bucket)
            key = bucket.keys.get(ref.key) if bucket is not None else None
            if not isinstance(key, FakeKey):
                return  # deleted since the listing
            body = key.value
            ref.etag, ref.size = key.etag, key.size
        ref.info = gs.classify(body, config.json_path)  # parsing is slow work: outside the lock
        pending[cache_key] = (ref.etag, ref.size, signature, ref.info.as_plain())

    def _plan_tables(
        self, config: CrawlerConfig, bucket: str, prefix: str, refs: list[ObjectRef]
    ) -> list[TablePlan]:
        """Group one target's classified objects into tables and partitions."""
        groups: dict[str, list[ObjectRef]] = {}
        if config.table_level:
            depth = max(config.table_level - 1, 0)  # level 1 is the bucket
            for ref in refs:
                parts = ref.key.split("/")
                if len(parts) - 1 < depth:
                    continue
                root = "/".join(parts[:depth]) + "/" if depth else ""
                groups.setdefault(root, []).append(ref)
        else:
            firsts = [ref.rel.split("/", 1)[0] if "/" in ref.rel else None for ref in refs]
            if any(first is None or _hive(first) for first in firsts) or self._similar_folders(refs):
                groups[prefix] = list(refs)
            else:
                for ref, first in zip(refs, firsts, strict=True):
                    groups.setdefault(f"{prefix}{first}/", []).append(ref)
        return [
            plan
            for root, members in groups.items()
            if (plan := self._plan_table(config, bucket, root, members))
        ]

    @staticmethod
    def _similar_folders(refs: list[ObjectRef]) -> bool:
        """Two or more folders under the include path that look like partitions of one table."""
        by_folder: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {}
        for ref in refs:
            assert ref.info is not None
            first = ref.rel.split("/", 1)[0]
            kind, fields = by_folder.get(first, (ref.info.classification, ()))
            if kind != ref.info.classification:
                return False
            by_folder[first] = (kind, gs.merge_fields(fields, ref.info.fields))
        if len(by_folder) < 2:
            return False
        schemas = list(by_folder.values())
        if len({kind for kind, _ in schemas}) != 1:
            return False
        return all(
            gs.similarity(left[1], right[1]) >= SIMILARITY_THRESHOLD
            for i, left in enumerate(schemas)
            for right in schemas[i + 1 :]
        )

    def _plan_table(
        self, config: CrawlerConfig, bucket: str, root: str, refs: list[ObjectRef]
    ) -> TablePlan | None:
        if not refs:
            return None
        classification = Counter(ref.info.classification for ref in refs if ref.info).most_common(1)[0][0]
        refs = [ref for ref in refs if ref.info and ref.info.classification == classification]
        compression = Counter(ref.info.compression for ref in refs if ref.info).most_common(1)[0][0]
        base = root.rstrip("/").rsplit("/", 1)[-1] if root else bucket
        plan = TablePlan(
            name=catalog_name(config.table_prefix + base),
            bucket=bucket,
            root=root,
            classification=classification,
            compression=compression,
            json_path=config.json_path if classification == "json" else None,
        )
        folders_of = {ref.key: ref.key[len(root) :].split("/")[:-1] for ref in refs}
        depth = max(len(folders) for folders in folders_of.values())
        full = [folders for folders in folders_of.values() if len(folders) == depth]
        for level in range(depth):
            hive_keys = {(_hive(folders[level]) or ("", ""))[0] for folders in full}
            if len(hive_keys) == 1 and "" not in hive_keys:
                plan.partition_keys.append(catalog_name(hive_keys.pop()))
            else:
                plan.partition_keys.append(f"partition_{level}")
        for ref in refs:
            assert ref.info is not None
            plan.fields = gs.merge_fields(plan.fields, ref.info.fields)
            plan.objects += 1
            plan.size += ref.size
            plan.records += ref.info.records
            folders = folders_of[ref.key]
            if len(folders) != depth or depth == 0:
                continue
            values = tuple(
                hive[1] if (hive := _hive(folder)) and plan.partition_keys[i] != f"partition_{i}" else folder
                for i, folder in enumerate(folders)
            )
            partition = plan.partitions.get(values)
            if partition is None:
                partition = plan.partitions[values] = PartitionPlan(
                    list(values), f"s3://{bucket}/{root}{'/'.join(folders)}/"
                )
            partition.objects += 1
            partition.size += ref.size
            partition.records += ref.info.records
        keys = set(plan.partition_keys)
        plan.fields = tuple((name, kind) for name, kind in plan.fields if name not in keys)
        return plan

    # -- writing the catalog (under the lock) ---------------------------------------------
    def _commit(
        self,
        config: CrawlerConfig,
        plans: list[TablePlan],
        roots: list[tuple[str, str]],
        counts: dict[str, int],
        log_lines: list[str],
    ) -> None:
        assert self.world is not None
        glue = self.world.backend("glue", config.account, config.region)
        database = glue.databases.get(config.database)
        if database is None:
            raise CrawlFailed(
                f"Database {config.database} does not exist or principal is not authorized to create tables."
            )
        produced: set[str] = set()
        for plan in plans:
            name = plan.name
            existing = database.tables.get(name)
            if existing is not None and _location_of(existing) != plan.location and name not in produced:
                # Another dataset already owns the name: keep both, as the crawler does, with a hash.
                name = f"{name}_{hashlib.md5(plan.location.encode()).hexdigest()[:8]}"
                existing = database.tables.get(name)
            if name in produced:
                log_lines.append(f"WARN : two tables map to {name}; {plan.location} was skipped")
                continue
            produced.add(name)
            if existing is None:
                glue.create_table(config.database, name, _table_input(name, plan, plan.fields, config.name))
                counts["created"] += 1
                log_lines.append(f"INFO : Created table {name} in database {config.database}")
                self._add_partitions(config, glue, name, plan, log_lines)
                continue
            self._update_table(config, glue, existing, plan, counts, log_lines)
            self._add_partitions(config, glue, name, plan, log_lines)
        if not config.new_folders_only:
            self._handle_vanished(config, glue, database, roots, produced, counts, log_lines)

    def _update_table(
        self,
        config: CrawlerConfig,
        glue: Any,
        table: Any,
        plan: TablePlan,
        counts: dict[str, int],
        log_lines: list[str],
    ) -> None:
        current_input = table.get_version(str(table._current_version))
        current_columns = tuple(
            (column["Name"], gs.parse_type_name(column["Type"]))
            for column in (current_input.get("StorageDescriptor") or {}).get("Columns", [])
        )
        merged = gs.merge_fields(current_columns, plan.fields)
        desired = _table_input(table.name, plan, merged, config.name)
        deprecated = "DEPRECATED_BY_CRAWLER" in (current_input.get("Parameters") or {})
        if _schema_signature(desired) == _schema_signature(current_input) and not deprecated:
            return
        if config.update_behavior == "LOG" or config.new_folders_only:
            log_lines.append(f"INFO : Schema change detected for table {table.name}; not updated (LOG)")
            return
        glue.update_table(config.database, table.name, desired)
        counts["updated"] += 1
        log_lines.append(f"INFO : Updated table {table.name} in database {config.database}")
        # Existing partitions follow the table's new columns, so that queries see one schema.
        for partition in list(table.partitions.values()):
            part_input = json.loads(json.dumps(partition.partition_input, default=str))
            part_input.setdefault("StorageDescriptor", {})["Columns"] = desired["StorageDescriptor"][
                "Columns"
            ]
            glue.update_partition(config.database, table.name, part_input, part_input["Values"])

    def _add_partitions(
        self, config: CrawlerConfig, glue: Any, name: str, plan: TablePlan, log_lines: list[str]
    ) -> None:
        table = glue.get_table(config.database, name)
        current_input = table.get_version(str(table._current_version))
        columns = (current_input.get("StorageDescriptor") or {}).get("Columns", [])
        new_inputs = [
            _partition_input(partition, plan, columns, config.name)
            for values, partition in plan.partitions.items()
            if str(list(values)) not in table.partitions
        ]
        if new_inputs:
            glue.batch_create_partition(config.database, name, new_inputs)
            log_lines.append(f"INFO : Added {len(new_inputs)} partition(s) to table {name}")
        if config.new_folders_only:
            return
        wanted = {str(list(values)) for values in plan.partitions}
        for key, partition in list(table.partitions.items()):
            if key in wanted or not _under(_partition_location(partition), plan.location):
                continue
            if config.delete_behavior == "DELETE_FROM_DATABASE":
                glue.delete_partition(config.database, name, partition.values)
                log_lines.append(f"INFO : Deleted partition {partition.values} of table {name}")
            else:
                log_lines.append(f"INFO : Partition {partition.values} of table {name} has no data any more")

    def _handle_vanished(
        self,
        config: CrawlerConfig,
        glue: Any,
        database: Any,
        roots: list[tuple[str, str]],
        produced: set[str],
        counts: dict[str, int],
        log_lines: list[str],
    ) -> None:
        """Tables this crawler made under its include paths that have no data any more."""
        for table in list(database.tables.values()):
            if table.name in produced:
                continue
            current_input = table.get_version(str(table._current_version))
            params = current_input.get("Parameters") or {}
            if params.get("UPDATED_BY_CRAWLER") != config.name or "DEPRECATED_BY_CRAWLER" in params:
                continue
            location = _location_of(table)
            if not any(_under(location, f"s3://{bucket}/{prefix}") for bucket, prefix in roots):
                continue
            if config.delete_behavior == "DELETE_FROM_DATABASE":
                glue.delete_table(config.database, table.name)
                counts["deleted"] += 1
                log_lines.append(f"INFO : Deleted table {table.name}: its data is gone")
            elif config.delete_behavior == "DEPRECATE_IN_DATABASE":
                deprecated = json.loads(json.dumps(current_input, default=str))
                deprecated["Parameters"] = {**params, "DEPRECATED_BY_CRAWLER": str(int(time.time() * 1000))}
                for key in ("DatabaseName", "CreateTime", "UpdateTime", "VersionId", "CatalogId"):
                    deprecated.pop(key, None)
                glue.update_table(config.database, table.name, deprecated)
                counts["deleted"] += 1
                log_lines.append(f"INFO : Deprecated table {table.name}: its data is gone")
            else:
                log_lines.append(f"INFO : Table {table.name} has no data any more (LOG)")

    def _remember(
        self,
        config: CrawlerConfig,
        store: dict[str, Any],
        pending: dict[str, tuple[str, int, str, dict[str, Any]]],
        roots: list[tuple[str, str]],
        listed: dict[str, set[str]],
    ) -> None:
        """Keep this crawl's per-object schemas; forget objects under the include paths that are gone."""
        for bucket, prefix in roots:
            head = f"{config.account}/{bucket}/{prefix}"
            for cache_key in [key for key in store if key.startswith(head)]:
                if cache_key[len(f"{config.account}/{bucket}/") :] not in listed.get(bucket, set()):
                    del store[cache_key]
        store.update(pending)


def _location_of(table: Any) -> str:
    current_input = table.get_version(str(table._current_version))
    return ((current_input.get("StorageDescriptor") or {}).get("Location") or "").rstrip("/") + "/"


def _partition_location(partition: Any) -> str:
    return ((partition.partition_input.get("StorageDescriptor") or {}).get("Location") or "").rstrip(
        "/"
    ) + "/"


def _under(location: str, root: str) -> bool:
    root = root if root.endswith("/") else root + "/"
    return (location.rstrip("/") + "/").startswith(root)


def _formats(classification: str) -> dict[str, str]:
    return PARQUET_FORMAT if classification == "parquet" else JSON_FORMAT


def _columns(fields: tuple[tuple[str, Any], ...]) -> list[dict[str, str]]:
    return [{"Name": name, "Type": gs.type_name(kind)} for name, kind in fields]


def _statistics(plan: TablePlan | PartitionPlan, table: TablePlan, crawler: str) -> dict[str, str]:
    params = {
        "CrawlerSchemaDeserializerVersion": "1.0",
        "CrawlerSchemaSerializerVersion": "1.0",
        "UPDATED_BY_CRAWLER": crawler,
        "averageRecordSize": str(plan.size // plan.records if plan.records else 0),
        "classification": table.classification,
        "compressionType": table.compression,
        "objectCount": str(plan.objects),
        "recordCount": str(plan.records),
        "sizeKey": str(plan.size),
        "typeOfData": "file",
    }
    if table.json_path:
        params["jsonPath"] = table.json_path
    return params


def _storage_descriptor(
    columns: list[dict[str, str]], location: str, table: TablePlan, params: dict[str, str]
) -> dict[str, Any]:
    formats = _formats(table.classification)
    if table.classification == "parquet":
        serde_params = {"serialization.format": "1"}
    else:
        serde_params = {"paths": ",".join(sorted(column["Name"] for column in columns))}
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": formats["InputFormat"],
        "OutputFormat": formats["OutputFormat"],
        "Compressed": table.compression != "none",
        "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": formats["SerializationLibrary"], "Parameters": serde_params},
        "BucketColumns": [],
        "SortColumns": [],
        "Parameters": dict(params),
        "StoredAsSubDirectories": False,
    }


def _table_input(
    name: str, plan: TablePlan, fields: tuple[tuple[str, Any], ...], crawler: str
) -> dict[str, Any]:
    params = _statistics(plan, plan, crawler)
    columns = _columns(fields)
    return {
        "Name": name,
        "Owner": "owner",
        "Retention": 0,
        "StorageDescriptor": _storage_descriptor(columns, plan.location, plan, params),
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in plan.partition_keys],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
    }


def _partition_input(
    partition: PartitionPlan, plan: TablePlan, columns: list[dict[str, str]], crawler: str
) -> dict[str, Any]:
    params = _statistics(partition, plan, crawler)
    return {
        "Values": list(partition.values),
        "StorageDescriptor": _storage_descriptor(list(columns), partition.location, plan, params),
        "Parameters": {},
    }


def _schema_signature(table_input: dict[str, Any]) -> Any:
    """What makes two versions of a table the same table (statistics excluded)."""
    descriptor = table_input.get("StorageDescriptor") or {}
    params = table_input.get("Parameters") or {}
    return (
        [(column.get("Name"), column.get("Type")) for column in descriptor.get("Columns", [])],
        [(key.get("Name"), key.get("Type")) for key in table_input.get("PartitionKeys", [])],
        descriptor.get("Location"),
        descriptor.get("InputFormat"),
        descriptor.get("OutputFormat"),
        (descriptor.get("SerdeInfo") or {}).get("SerializationLibrary"),
        (descriptor.get("SerdeInfo") or {}).get("Parameters"),
        params.get("classification"),
        params.get("compressionType"),
        params.get("jsonPath"),
    )


def _check_role_reads(
    world: World, config: CrawlerConfig, bucket: str, refs: list[ObjectRef], prefix: str = ""
) -> None:
    """Fail the crawl as Glue does when its role may not list the bucket or read an object
    (trust and permissions checked by local_aws.iam)."""
    from local_aws.iam import service_steps

    role = (
        config.role if config.role.startswith("arn:") else f"arn:aws:iam::{config.account}:role/{config.role}"
    )
    crawler_arn = f"arn:aws:glue:{config.region}:{config.account}:crawler/{config.name}"
    denied = service_steps.crawler_reads(
        world, crawler_arn, role, bucket, [ref.key for ref in refs], prefix=prefix
    )
    if denied is None:
        return
    if denied.action == "sts:AssumeRole":
        raise CrawlFailed(
            f"Service is unable to assume provided role {config.role}. Please verify role's TrustPolicy."
        )
    raise CrawlFailed(f"{denied.message} (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)")
