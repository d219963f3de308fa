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

Where the parts live (sibling modules, so that component discovery still finds this one class):
``glue_crawler_state`` (patches on moto's crawler model: the state machine and default policies),
``glue_crawler_responses`` (the wire format of the operations moto lacks), ``glue_crawler_model``
(plans, config, outcomes), ``glue_crawler_listing`` (what a crawl reads and whether its role may),
``glue_crawler_config`` (the Configuration JSON and classifier names, checked at Create/UpdateCrawler),
``glue_schema`` (schema inference), ``glue_crawler_planning`` (objects grouped into tables and
partitions) and ``glue_crawler_catalog`` (the catalog writes). This module is the worker.

LIMITATIONS: only S3 targets are crawled (JDBC, DynamoDB and catalog targets fail the crawl);
only JSON and Parquet are classified (CSV, Avro, ORC, XML and Grok classifiers are stored but
objects in those formats are skipped as UNKNOWN); a whole object is read, not its first megabyte,
except that a gzip object is inflated only up to 16 MiB (cut at a line end: a gzip bomb cannot grow
the server), so its schema and record count come from those first records;
the table level is found with a simple rule rather than Glue's clustering: the include path is the
table when objects sit directly in it, when its folders are Hive-style ``key=value`` (whatever their
schemas; Glue may split dissimilar ones into ``year_2017``-style tables), when every folder is named
like a value (digits, as Firehose's ``YYYY/MM/DD/HH/`` writes them), when ``CombineCompatibleSchemas``
is set and every object has one format and compression, or when two or more folders share a format
and at least 70% of their column names; otherwise each folder is a table (a single folder named
like ``orders`` is a table of its own). ``TableLevelConfiguration`` counts the bucket as level 1.
Partitions keep their own data's schema unless ``CrawlerOutput.Partitions.AddOrUpdateBehavior`` is
``InheritFromTable``; data columns named like a partition key are dropped;
a deprecated table is marked with a ``DEPRECATED_BY_CRAWLER`` parameter holding the epoch
milliseconds; crawls run immediately (no Schedule) and take as long as reading the data takes.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from local_aws.components.base import Component
from local_aws.components.glue_crawler_catalog import commit, remember
from local_aws.components.glue_crawler_config import CrawlerSettings, parse_configuration
from local_aws.components.glue_crawler_listing import (
    check_role_reads,
    classify_object,
    list_target,
    only_new_folders,
    validate,
)
from local_aws.components.glue_crawler_model import (
    LOG_GROUP,
    NAME,
    READY,
    STOPPING,
    CrawlAbandoned,
    CrawlCancelled,
    CrawlerConfig,
    CrawlFailed,
    TablePlan,
)
from local_aws.components.glue_crawler_planning import plan_tables
from local_aws.components.glue_crawler_responses import install_responses
from local_aws.components.glue_crawler_state import (
    DEFAULT_SCHEMA_CHANGE,
    classifiers,
    crawler_state,
    install_patches,
)
from local_aws.world import World


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
        install_patches()
        install_responses()

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
                        if crawler_state(crawler) != READY:
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
                if crawler is None or crawler_state(crawler) == READY:
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
            entry = classifiers(backend).get(classifier_name)
            if entry and entry["Kind"] == "JsonClassifier":
                json_path = entry.get("JsonPath")
                break
        schema_change = {**DEFAULT_SCHEMA_CHANGE, **(crawler.schema_change_policy or {})}
        recrawl = (crawler.recrawl_policy or {}).get("RecrawlBehavior", "CRAWL_EVERYTHING")
        try:
            settings = parse_configuration(crawler.configuration)
        except Exception:  # stored before Create/UpdateCrawler checked it: crawl with the defaults
            settings = CrawlerSettings()
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
            table_level=settings.table_level,
            combine_compatible=settings.combine_compatible,
            inherit_partitions=settings.inherit_partitions,
        )

    # -- the crawl itself ------------------------------------------------------------------
    def _crawl(
        self, config: CrawlerConfig, crawler: Any, counts: dict[str, int], log_lines: list[str]
    ) -> None:
        assert self.world is not None
        validate(self.world, config)
        signature = config.json_path or ""
        store = self.world.store(NAME).setdefault("objects", {})
        pending: dict[str, tuple[str, int, str, dict[str, Any]]] = {}
        plans: list[TablePlan] = []
        seen_roots: list[tuple[str, str]] = []
        listed: dict[str, set[str]] = {}
        for target in config.s3_targets:
            bucket, prefix, refs = list_target(self.world, config, target)
            check_role_reads(self.world, config, bucket, refs, prefix)
            seen_roots.append((bucket, prefix))
            listed.setdefault(bucket, set()).update(ref.key for ref in refs)
            if config.new_folders_only:
                refs = only_new_folders(self.world, config, bucket, refs)
            for ref in refs:
                self._check_interrupt(crawler)
                classify_object(self.world, config, ref, store, signature, pending)
            known = [ref for ref in refs if ref.info is not None and ref.info.classification != "UNKNOWN"]
            for ref in refs:
                if ref.info is not None and ref.info.classification == "UNKNOWN":
                    log_lines.append(f"WARN : s3://{bucket}/{ref.key} was not classified: {ref.info.error}")
            plans.extend(plan_tables(config, bucket, prefix, known))
        self._check_interrupt(crawler)
        with self.world.lock:
            commit(self.world, config, plans, seen_roots, counts, log_lines)
            remember(config, store, pending, seen_roots, listed)
            self.world.mark_dirty()
