"""Athena that runs the query: Trino SQL transpiled by sqlglot and run on DuckDB over Glue tables.

moto stores query executions and runs no SQL. Here StartQueryExecution checks the QueryString as
Athena does (required, at most 262,144 bytes of UTF-8: InvalidRequestException) and queues the
query; each query runs on a thread of its own (QUEUED -> RUNNING -> SUCCEEDED / FAILED / CANCELLED),
at most ``LOCAL_AWS_ATHENA_MAX_RUNNING`` (default 20) at once, so a runaway query never keeps a
trivial one QUEUED; a query running longer than ``LOCAL_AWS_ATHENA_QUERY_TIMEOUT`` seconds (default
1800, Athena's DML timeout; ``AthenaComponent.query_timeout`` at run time) is interrupted and FAILS
with "Query timeout"; a workgroup's ``BytesScannedCutoffPerQuery`` FAILS a query whose data read
passes it with "Bytes scanned limit was exceeded". Every statement passes the engine's sandbox
(`local_aws.athena_engine.sandbox`): only the Glue catalog and Trino's functions, never a host file
or an engine setting. The queries run with
`local_aws.athena_engine`: tables and partitions come from moto's Glue catalog, object bytes from
moto's S3 (read under the world lock; parsing and DuckDB run without it, each query on its own
cursor of one process-wide DuckDB database). Only the partitions the WHERE clause allows are read,
and DataScannedInBytes counts the bytes of the objects read (for Parquet, the footer and the
column chunks the statement reads: `athena_engine.scanned`). Repeated queries are cheap: each S3
object is parsed once per version (ETag and size) and table schema and kept in memory, and the rows
of a table over a set of object versions are kept as a DuckDB table, so a query over objects already
seen reads and parses nothing (`local_aws.athena_engine.cache`; bounded by
``LOCAL_AWS_ATHENA_CACHE_MB``, default 256, ``0`` turns it off). DataScannedInBytes still counts
every object the query reads, cached or not, because that is what Athena bills. An overwritten
object is a new version and is parsed again; a deleted one is no longer listed, so not read. Results go to ``<OutputLocation>/<QueryExecutionId>.csv`` (+ ``.csv.metadata``) in
Athena's CSV, or ``.txt`` for DDL and utility statements; GetQueryResults pages through that file.
Views are stored in Glue the way Athena stores them (VIRTUAL_VIEW, a base64 "Presto View").
UpdateWorkGroup (which moto lacks) merges ConfigurationUpdates, Remove* flags included, and State;
GetWorkGroup and UpdateWorkGroup of an unknown name are InvalidRequestException.

LIMITATIONS: DuckDB runs the SQL, so Trino semantics hold only as far as sqlglot transpiles them:
decimal / decimal and AVG(decimal) give double (Trino keeps decimal), decimal products get
DuckDB's precision (scale is Trino's), division by zero gives NULL (Trino fails), date_trunc of a
date stays a date only when the argument is an explicit CAST(... AS DATE), approx_distinct is
exact-ish, date_format/date_parse patterns follow sqlglot's mapping, some Trino functions are
missing. Error names (TABLE_NOT_FOUND, COLUMN_NOT_FOUND, SCHEMA_NOT_FOUND, SYNTAX_ERROR...)
follow Athena's but only an unknown table, schema or function carries Trino's line:column, AthenaError.ErrorType is coarse (1000
user, 1001 data, 100 internal), and a query can fail after reading its data (DataScannedInBytes
then counts it). Tables: JSON (OpenX/Hive JsonSerDe), Parquet, OpenCSVSerde and LazySimpleSerDe
text only (no ORC, Avro or bucketing), and Iceberg tables through pyiceberg (`athena_engine.iceberg`,
`iceberg_dml`, `iceberg_maintenance`, each with its own LIMITATIONS); partitions must be
registered in Glue (an unregistered partition is not read, as in Athena) unless the table uses
partition projection (`athena_engine.projection`, with its own LIMITATIONS). Partition filters on a
view are pushed into its body only through projections, filters and windows partitioned by the
filtered columns (`athena_engine.view_pushdown`): not past GROUP BY, LIMIT, joins or UNION, and never
into the nullable side of outer joins (those read every partition).
Objects not yet cached are copied to the engine's private scratch directory to be parsed; the cache is in memory
only (a restart parses everything once again) and is not shared between processes. CREATE EXTERNAL TABLE and DROP TABLE
change only the Glue catalog (as Athena does for external tables). SHOW TABLES / DATABASES /
PARTITIONS / COLUMNS and DESCRIBE are answered from the catalog in Hive's plain-text layout.
CTAS, INSERT INTO and UNLOAD write Hive objects (`athena_engine.writes`), MSCK REPAIR and ALTER
TABLE change the catalog (`athena_engine.alter`), each with its own LIMITATIONS. MERGE, UPDATE,
DELETE, OPTIMIZE and VACUUM run on Iceberg tables only (on a Hive table they are NOT_SUPPORTED, as
in Athena). Prepared statements (the APIs and PREPARE /
EXECUTE ... USING / DEALLOCATE PREPARE) live in `athena_prepared`, with its own LIMITATIONS.
Not supported: result reuse, encryption, and the binary ``.metadata`` format (a JSON ColumnInfo list
is written instead). A query running when the server stops is run again after a restart (at-least-once).
Limits: the timeout is one server setting for every statement (Athena has separate DML and DDL
timeouts, per account); the bytes cutoff counts the same figure as DataScannedInBytes before the objects are parsed
(Athena counts the bytes it has scanned when it cancels), so the query fails before it parses
anything; a query past either limit reports ErrorCategory 2 and ErrorType 1000 (Athena's own
ErrorType values for them are not documented); running queries beyond ``LOCAL_AWS_ATHENA_MAX_RUNNING``
wait QUEUED rather than failing StartQueryExecution with TooManyRequestsException, and they share the
machine's cores (DuckDB's threads), so a runaway still slows the others until the timeout ends it.
The sandbox refuses engine functions by Trino's names: a Trino function sqlglot does not transpile to
DuckDB, or one missing from ``TRINO_FUNCTIONS``, is FUNCTION_NOT_FOUND here even where Athena has it;
a refused relation or statement is reported without Athena's exact line:column in a few cases
(engine statements are refused at their first word, paths in FROM as TABLE_NOT_FOUND where Trino
gives a syntax error). UpdateWorkGroup does not check EngineVersion, encryption or ACL settings
(it stores them), and the message refusing a query in a disabled workgroup is our wording. A
statement nested deeper than Python's stack allows sqlglot to parse (about 40 nested function calls,
48 parentheses or 85 subqueries) fails with Trino's "statement is too large" SYNTAX_ERROR, where
Trino accepts far deeper nesting.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

from local_aws.athena_engine.catalog import Catalog, CatalogError, split_s3_uri
from local_aws.athena_engine.engine import (
    INTERNAL_ERROR,
    USER_ERROR,
    EngineError,
    Outcome,
    QueryEngine,
    classify,
)
from local_aws.athena_engine.rendering import parse_csv, parse_text, to_csv, to_text
from local_aws.components import athena_prepared
from local_aws.components.athena_responses import AthenaRequestError, patch_moto
from local_aws.components.base import Component
from local_aws.world import World

ENV_QUERY_TIMEOUT = "LOCAL_AWS_ATHENA_QUERY_TIMEOUT"
DEFAULT_QUERY_TIMEOUT = 30 * 60.0  # seconds: Athena's default DML query timeout
ENV_MAX_RUNNING = "LOCAL_AWS_ATHENA_MAX_RUNNING"
DEFAULT_MAX_RUNNING = 20
QUERY_TIMEOUT = "Query timeout"
_FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
_NO_OUTPUT = (
    "No output location provided. An output location is required either through the Workgroup "
    "result configuration setting or as an API input."
)


def _positive_setting(name: str, default: float) -> float:
    """A positive number from the environment; a bad value stops the server with a message naming it."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{name} must be a positive number, not {text!r}")
    return value


class AthenaComponent(Component):
    """Runs Athena queries on DuckDB; the executions live in this component's store."""

    name = "athena"
    order = 70

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[str] = queue.Queue()
        self._connections: dict[str, Any] = {}
        self._cancel_events: dict[str, threading.Event] = {}
        self._result_cache: OrderedDict[str, list[list[str | None]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        # Seconds a query may run before it fails with Athena's "Query timeout"; settable at run time.
        self.query_timeout = _positive_setting(ENV_QUERY_TIMEOUT, DEFAULT_QUERY_TIMEOUT)
        # Each running query has a thread of its own, up to this many at once; the rest wait QUEUED.
        self.max_running = int(_positive_setting(ENV_MAX_RUNNING, DEFAULT_MAX_RUNNING))
        self._running: set[threading.Thread] = set()
        self._running_lock = threading.Condition()

    # -- lifecycle --------------------------------------------------------------------------
    def install(self, world: World) -> None:
        super().install(world)
        patch_moto()

    def start(self) -> None:
        assert self.world is not None
        with self.world.lock:
            for execution_id, record in self.executions.items():
                # Queries cut off by a stop run again (at-least-once, like the rest of local_aws).
                if record["State"] in ("QUEUED", "RUNNING"):
                    record["State"] = "QUEUED"
                    self._queue.put(execution_id)
        self.spawn(self._dispatch, "athena-dispatch")

    def stop(self) -> None:
        """Interrupt running DuckDB queries so workers see ``stopping`` promptly."""
        assert self.world is not None
        with self.world.lock:
            for event in self._cancel_events.values():
                event.set()
            for connection in self._connections.values():
                try:
                    connection.interrupt()
                except Exception:  # already closed
                    self.log.debug("interrupt on stop failed", exc_info=True)
        super().stop()
        # Interrupted queries end promptly; each puts its record back to QUEUED before the state is saved.
        with self._running_lock:
            running = list(self._running)
        for thread in running:
            thread.join(timeout=10)

    @property
    def executions(self) -> dict[str, dict[str, Any]]:
        assert self.world is not None
        return self.world.store(self.name).setdefault("executions", {})

    # -- API (called under the world lock by the patched moto responses) ----------------------
    def start_query(self, account_id: str, region: str, params: dict[str, Any]) -> str:
        query = params["QueryString"]  # checked by the wire layer (`athena_responses`)
        workgroup_name = params.get("WorkGroup") or "primary"
        backend = World.backend("athena", account_id, region)
        workgroup = backend.work_groups.get(workgroup_name)
        if workgroup is None:
            raise AthenaRequestError(f"WorkGroup {workgroup_name} is not found.")
        if getattr(workgroup, "state", "ENABLED") == "DISABLED":
            raise AthenaRequestError(f"WorkGroup {workgroup_name} is disabled.")
        configuration = workgroup.configuration or {}
        workgroup_output = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
        client_output = (params.get("ResultConfiguration") or {}).get("OutputLocation")
        enforce = bool(configuration.get("EnforceWorkGroupConfiguration", True))
        output = workgroup_output if (enforce and workgroup_output) else (client_output or workgroup_output)
        if not output:
            raise AthenaRequestError(_NO_OUTPUT)
        try:
            split_s3_uri(output)
        except CatalogError as error:
            raise AthenaRequestError(f"outputLocation is not a valid S3 path: {output}") from error
        # An EXECUTE is the statement it runs: a SELECT's results are CSV, as Athena writes them.
        assert self.world is not None
        group = athena_prepared.statements(self.world.store(self.name), account_id, region, workgroup_name)
        statement_type, substatement_type = classify(athena_prepared.stored_query(query, group) or query)
        execution_id = str(uuid.uuid4())
        extension = "csv" if statement_type == "DML" else "txt"
        context = dict(params.get("QueryExecutionContext") or {})
        record: dict[str, Any] = {
            "QueryExecutionId": execution_id,
            "Account": account_id,
            "Region": region,
            "Query": query,
            "StatementType": statement_type,
            "SubstatementType": substatement_type,
            "OutputLocation": f"{output.rstrip('/')}/{execution_id}.{extension}",
            "QueryExecutionContext": context,
            "WorkGroup": workgroup_name,
            "ExecutionParameters": params.get("ExecutionParameters"),
            "BytesScannedCutoffPerQuery": configuration.get("BytesScannedCutoffPerQuery"),
            "State": "QUEUED",
            "StateChangeReason": None,
            "AthenaError": None,
            "Submitted": time.time(),
            "Started": None,
            "Completed": None,
            "EngineMillis": 0,
            "DataScannedInBytes": 0,
            "ColumnInfo": [],
            "HasHeader": statement_type == "DML",
        }
        self.executions[execution_id] = record
        assert self.world is not None
        self.world.mark_dirty()
        self._queue.put(execution_id)
        return execution_id

    def workgroup(self, account_id: str, region: str, name: str | None) -> Any:
        workgroup = World.backend("athena", account_id, region).work_groups.get(name or "")
        if workgroup is None:
            raise AthenaRequestError(f"WorkGroup {name} is not found.")
        return workgroup

    def update_workgroup(self, account_id: str, region: str, params: dict[str, Any]) -> None:
        """UpdateWorkGroup (moto has none): merge ConfigurationUpdates as Athena does, Remove* flags included."""
        workgroup = self.workgroup(account_id, region, params.get("WorkGroup"))
        updates = params.get("ConfigurationUpdates") or {}
        configuration = dict(workgroup.configuration or {})
        for key, value in updates.items():
            if key.startswith("Remove") and key != "ResultConfigurationUpdates":
                if value:
                    configuration.pop(key[len("Remove") :], None)
            elif key != "ResultConfigurationUpdates":
                configuration[key] = value
        results = dict(configuration.get("ResultConfiguration") or {})
        for key, value in (updates.get("ResultConfigurationUpdates") or {}).items():
            if key.startswith("Remove"):
                if value:
                    results.pop(key[len("Remove") :], None)
            else:
                results[key] = value
        if results or "ResultConfiguration" in configuration:
            configuration["ResultConfiguration"] = results
        workgroup.configuration = configuration
        if params.get("Description") is not None:
            workgroup.description = params["Description"]
        if params.get("State") is not None:
            workgroup.state = params["State"]
        assert self.world is not None
        self.world.mark_dirty()

    def record(self, account_id: str, region: str, execution_id: str | None) -> dict[str, Any]:
        record = self.executions.get(execution_id or "")
        if record is None or record["Account"] != account_id or record["Region"] != region:
            raise AthenaRequestError(f"QueryExecution {execution_id} was not found")
        return record

    def list_ids(self, account_id: str, region: str, workgroup: str | None) -> list[str]:
        records = [
            r
            for r in self.executions.values()
            if r["Account"] == account_id
            and r["Region"] == region
            and r["WorkGroup"] == (workgroup or "primary")
        ]
        records.sort(key=lambda r: r["Submitted"], reverse=True)
        return [r["QueryExecutionId"] for r in records]

    def stop_query(self, account_id: str, region: str, execution_id: str | None) -> None:
        record = self.record(account_id, region, execution_id)
        if record["State"] in _FINAL_STATES:
            return
        record["State"] = "CANCELLED"
        record["StateChangeReason"] = "Query cancelled by user"
        record["Completed"] = time.time()
        self._interrupt(record["QueryExecutionId"])
        assert self.world is not None
        self.world.mark_dirty()

    def _interrupt(self, execution_id: str, cancelled: threading.Event | None = None) -> None:
        """Stop a running query where it is: the engine checks the event, DuckDB is interrupted."""
        assert self.world is not None
        with self.world.lock:
            event = self._cancel_events.get(execution_id) or cancelled
            if event is not None:
                event.set()
            connection = self._connections.get(execution_id)
            if connection is not None:
                try:
                    connection.interrupt()
                except Exception:  # the query may have just finished
                    self.log.debug("interrupting %s failed", execution_id, exc_info=True)

    def rows(self, record: dict[str, Any]) -> list[list[str | None]]:
        execution_id = record["QueryExecutionId"]
        with self._cache_lock:
            cached = self._result_cache.get(execution_id)
            if cached is not None:
                self._result_cache.move_to_end(execution_id)
                return cached
        assert self.world is not None
        catalog = Catalog(self.world, record["Account"], record["Region"])
        try:
            data = catalog.read_object(record["OutputLocation"])
        except Exception as error:
            raise AthenaRequestError(
                f"Unable to read the query results at {record['OutputLocation']}: {error}"
            ) from error
        rows = parse_csv(data) if record["OutputLocation"].endswith(".csv") else parse_text(data)
        self._remember(execution_id, rows)
        return rows

    def _remember(self, execution_id: str, rows: list[list[str | None]]) -> None:
        with self._cache_lock:
            self._result_cache[execution_id] = rows
            while len(self._result_cache) > 32:
                self._result_cache.popitem(last=False)

    # -- workers ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Give each queued query a thread of its own, so no running query keeps another one QUEUED.

        A fixed pool let as many runaway queries as it had workers hold every later query in the
        queue; here only `max_running` running queries at once do, and each ends at `query_timeout`.
        """
        assert self.world is not None
        while not self.world.stopping.is_set():
            with self._running_lock:
                if len(self._running) >= self.max_running:
                    self._running_lock.wait(timeout=0.2)
                    continue
            try:
                execution_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            thread = threading.Thread(
                target=self._run_one,
                args=(execution_id,),
                name=f"local_aws-athena-{execution_id}",
                daemon=True,
            )
            with self._running_lock:
                self._running.add(thread)
            thread.start()

    def _run_one(self, execution_id: str) -> None:
        try:
            self._run(execution_id)
        except Exception:  # the server must survive any one query
            self.log.exception("running query %s failed", execution_id)
        finally:
            with self._running_lock:
                self._running.discard(threading.current_thread())
                self._running_lock.notify_all()

    def _run(self, execution_id: str) -> None:
        assert self.world is not None
        cancelled = threading.Event()
        with self.world.lock:
            record = self.executions.get(execution_id)
            if record is None or record["State"] != "QUEUED":
                return
            record["State"] = "RUNNING"
            record["Started"] = time.time()
            self._cancel_events[execution_id] = cancelled
            query = record["Query"]
            database = record["QueryExecutionContext"].get("Database")
            parameters = record["ExecutionParameters"]
            bytes_cutoff = record.get("BytesScannedCutoffPerQuery")
            account_id, region = record["Account"], record["Region"]
            output_folder = record["OutputLocation"].rsplit("/", 1)[0] + "/"
            self.world.mark_dirty()

        def keep_connection(connection: Any) -> None:
            with self.world.lock:  # type: ignore[union-attr]
                self._connections[execution_id] = connection

        timed_out = threading.Event()

        def time_out() -> None:
            timed_out.set()
            self._interrupt(execution_id, cancelled)

        catalog = Catalog(self.world, account_id, region)
        engine = QueryEngine(
            catalog,
            database,
            on_connection=keep_connection,
            cancelled=cancelled,
            bytes_cutoff=int(bytes_cutoff) if bytes_cutoff else None,
            execution_id=execution_id,
            output_location=output_folder,
        )
        started = time.monotonic()
        outcome: Outcome | None = None
        failure: EngineError | None = None
        timer = threading.Timer(self.query_timeout, time_out)
        timer.daemon = True
        timer.start()
        try:
            outcome = self._run_statement(engine, record, query, parameters)
        except EngineError as error:
            failure = error
        except Exception as error:  # an engine bug still ends the query, as Athena's internal errors do
            self.log.exception("query %s hit an internal error", execution_id)
            failure = EngineError("GENERIC_INTERNAL_ERROR", str(error), INTERNAL_ERROR, category=1)
        finally:
            timer.cancel()
        if timed_out.is_set():
            outcome = None
            failure = EngineError("QUERY_TIMEOUT", QUERY_TIMEOUT, USER_ERROR, plain=True)
        engine_millis = int((time.monotonic() - started) * 1000)
        with self.world.lock:
            self._connections.pop(execution_id, None)
            self._cancel_events.pop(execution_id, None)
            output_location = record["OutputLocation"]
        output_bytes = 0
        if outcome is not None and not cancelled.is_set():  # (a timed-out query is cancelled too)
            output_bytes, write_failure = self._store_results(catalog, output_location, outcome, execution_id)
            failure = write_failure or failure
        with self.world.lock:
            # GetQueryRuntimeStatistics' Rows: what the tables gave and what the results hold.
            record.update(
                InputRows=engine.rows_read,
                OutputRows=len(outcome.rows) if outcome is not None and failure is None else 0,
                OutputBytes=output_bytes if failure is None else 0,
            )
        self._finish(execution_id, outcome, failure, engine_millis, engine.data_scanned)

    def _store_results(
        self, catalog: Catalog, output_location: str, outcome: Outcome, execution_id: str
    ) -> tuple[int, EngineError | None]:
        """Write a finished query's result files: their size, or the failure Athena reports instead."""
        try:
            return self._write_results(catalog, output_location, outcome), None
        except Exception as error:
            bucket = split_s3_uri(output_location)[0]
            self.log.debug("writing results of %s failed: %s", execution_id, error)
            failure = EngineError(
                "GENERIC_INTERNAL_ERROR",
                f"Unable to verify/create output bucket {bucket}",
                error_type=401,
                category=1,
            )
            return 0, failure

    def _run_statement(
        self, engine: QueryEngine, record: dict[str, Any], query: str, parameters: list[str] | None
    ) -> Outcome:
        """Run one statement: prepared-statement SQL here (it needs the workgroup), the rest in the engine."""
        if not athena_prepared.is_prepared_statement_sql(query):
            return engine.run(query, parameters)
        assert self.world is not None
        with self.world.lock:
            store = self.world.store(self.name)
            group = athena_prepared.statements(
                store, record["Account"], record["Region"], record["WorkGroup"]
            )
        try:
            return athena_prepared.run_sql(
                query, group, record["WorkGroup"], parameters, engine.run, self.world.lock
            )
        finally:
            self.world.mark_dirty()

    def _finish(
        self,
        execution_id: str,
        outcome: Outcome | None,
        failure: EngineError | None,
        engine_millis: int,
        data_scanned: int,
    ) -> None:
        """Record how a query ended: its state, statistics and, for a failure, Athena's AthenaError."""
        assert self.world is not None
        with self.world.lock:
            record = self.executions.get(execution_id)
            if record is None or record["State"] == "CANCELLED":
                return
            if failure is not None and self.world.stopping.is_set():
                record["State"] = "QUEUED"  # cut off by the server stopping: run again after a restart
                self.world.mark_dirty()
                return
            record["Completed"] = time.time()
            record["EngineMillis"] = engine_millis
            record["DataScannedInBytes"] = data_scanned
            if failure is None and outcome is not None:
                record["State"] = "SUCCEEDED"
                record["StatementType"] = outcome.statement_type
                record["SubstatementType"] = outcome.substatement_type
                record["ColumnInfo"] = outcome.column_info
                record["HasHeader"] = outcome.has_header
                record["UpdateCount"] = outcome.update_count
                if outcome.manifest_location:
                    record["DataManifestLocation"] = outcome.manifest_location
            else:
                assert failure is not None
                reason = str(failure)
                record["State"] = "FAILED"
                record["StateChangeReason"] = reason
                record["AthenaError"] = {
                    "ErrorCategory": failure.category,
                    "ErrorType": failure.error_type,
                    "Retryable": failure.category == 1,
                    "ErrorMessage": reason,
                }
            self.world.mark_dirty()

    def _write_results(self, catalog: Catalog, output_location: str, outcome: Outcome) -> int:
        """Write the result file (and its metadata); returns the result file's size in bytes."""
        if not catalog.bucket_exists(output_location):
            raise CatalogError("NO_BUCKET", output_location)
        if output_location.endswith(".csv"):
            header = [c["Name"] for c in outcome.column_info]
            body = to_csv(header, outcome.rows)
            catalog.put_object(output_location, body)
            catalog.put_object(output_location + ".metadata", json.dumps(outcome.column_info).encode("utf-8"))
            rows = [list(header), *outcome.rows]
        else:
            body = to_text(outcome.rows)
            catalog.put_object(output_location, body)
            rows = parse_text(body)
        self._remember(output_location.rsplit("/", 1)[-1].rsplit(".", 1)[0], rows)
        return len(body)
