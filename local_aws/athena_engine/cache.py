"""What the engine keeps between queries: parsed S3 objects, one DuckDB database, parsed view bodies.

The hourly DAG asks about the same lake again and again, and each query used to copy every object
it read, parse its JSON in Python, let DuckDB read it again and open a fresh DuckDB database. Now:

- Each S3 object's rows, parsed the way its table's SerDe reads them, stay in memory as an Arrow
  table keyed by (bucket, key, ETag, size, table schema). A query that reads the same objects
  again reads nothing from S3 and parses nothing. A new ETag or size is a new key, so an
  overwritten object is parsed afresh; when a query lists a location, entries of objects under it
  that are gone or have changed are dropped. The cache is bounded by Arrow bytes and evicts the
  least recently used entries.
- One DuckDB database lives as long as the process; each query gets its own cursor of it (its own
  session: temporary views, settings and ``interrupt`` stay per query), which is far cheaper than
  opening a database per query.
- The rows a query needs from one table (its objects after partition pruning, with the partition
  columns) become a native table of that database, a *snapshot* keyed by the exact object versions
  and partition values. DuckDB scans it several times faster than Arrow joined to partition values,
  and the next query over the same objects (a view over the whole lake, say) reuses it. Snapshots
  are bounded by the same number of bytes (estimated from the Arrow sizes), evicted least recently
  used first, and dropped once no running query holds them; a snapshot that names an object
  version that is gone is never looked up again and ages out.
- Stored view bodies are parsed once per text (each query binds its own copy).

Athena bills the bytes of the objects a query reads, so ``DataScannedInBytes`` still counts every
object the query reads, whether its rows came from the cache or from S3.

Two queries that miss the same object at once both parse it (the second result replaces the first).

Every DuckDB database here is locked into its sandbox (`_locked_database`): external access,
extension installs and loads, community and unsigned extensions and Python replacement scans off,
UTC and integer division set once, then ``lock_configuration``. The databases that run a query's
SQL (`connect`) can read no file at all; the loader database (`loader`) parses the object copies
and may read only `scratch_dir`, a private 0700 directory per process (which also holds DuckDB's
spill files), and never sees a user's SQL.

``LOCAL_AWS_ATHENA_CACHE_MB`` sets the bound of each of the two caches (default 256, so up to about
twice that in memory); ``0`` switches all of this off and the
engine works as it did before (a new database per query, every object read and parsed), which is
what ``bench.bench_athena`` compares against. `configure` changes it at run time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import duckdb

ENV_CACHE_MB = "LOCAL_AWS_ATHENA_CACHE_MB"
DEFAULT_CACHE_MB = 256


@dataclass(frozen=True)
class ObjectKey:
    """One version of one S3 object, as read for one table schema."""

    bucket: str
    key: str
    etag: str
    size: int
    schema: str


class ObjectCache:
    """Arrow tables of parsed S3 objects, least recently used first out, bounded by bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[ObjectKey, Any] = OrderedDict()
        self._sizes: dict[ObjectKey, int] = {}
        self._lock = threading.Lock()  # never the world lock: nothing here touches moto
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.invalidations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: ObjectKey) -> Any | None:
        """The cached rows of this object version, or None."""
        with self._lock:
            table = self._entries.get(key)
            if table is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return table

    def put(self, key: ObjectKey, table: Any) -> None:
        """Remember the rows of one object version; older versions of the same object go."""
        size = int(table.nbytes)
        with self._lock:
            for other in [k for k in self._entries if k.bucket == key.bucket and k.key == key.key]:
                if (other.etag, other.size) != (key.etag, key.size):
                    self._drop(other)
                    self.invalidations += 1
            if size > self.max_bytes:
                return  # larger than the whole cache: read it every time
            if key in self._entries:
                self._drop(key)
            self._entries[key] = table
            self._sizes[key] = size
            self.bytes += size
            self._trim()

    def trim(self) -> None:
        """Evict the least recently used entries until the cache is within its bound."""
        with self._lock:
            self._trim()

    def _trim(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))
            self.evictions += 1

    def forget_changed(self, bucket: str, prefix: str, present: dict[str, tuple[str, int]]) -> int:
        """Drop entries for objects under ``prefix`` that are not in ``present`` (key -> (etag, size))."""
        dropped = 0
        with self._lock:
            for entry in list(self._entries):
                if entry.bucket != bucket or not entry.key.startswith(prefix):
                    continue
                if present.get(entry.key) != (entry.etag, entry.size):
                    self._drop(entry)
                    dropped += 1
            self.invalidations += dropped
        return dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self.bytes = 0

    def _drop(self, key: ObjectKey) -> None:
        self._entries.pop(key, None)
        self.bytes -= self._sizes.pop(key, 0)


class SnapshotCache:
    """Tables of the shared database, each the rows of one table over one set of object versions.

    Scanning a native DuckDB table is several times faster than scanning Arrow tables joined to
    their partition values, so the rows a query needs are materialised once per set of object
    versions and reused while that set is unchanged. A query pins the snapshots it uses; an
    evicted snapshot is dropped once no query holds it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Any, str] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._pins: dict[str, int] = {}
        self._doomed: set[str] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def acquire(self, key: Any) -> str | None:
        """The name of the snapshot for ``key``, pinned for the caller, or None."""
        with self._lock:
            name = self._entries.get(key)
            if name is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self._pins[name] = self._pins.get(name, 0) + 1
            self.hits += 1
            return name

    def new_name(self) -> str:
        """A table name no snapshot has had, pinned for the caller who creates the table."""
        with self._lock:
            self._counter += 1
            name = f"__local_aws_snapshot_{self._counter}"
            self._pins[name] = 1
            return name

    def add(self, key: Any, name: str, size: int) -> None:
        """Remember the table the caller created (and still pins) as the snapshot for ``key``."""
        with self._lock:
            if key in self._entries or size > self.max_bytes:
                self._doomed.add(name)  # another query made it first, or it is too big to keep
                return
            self._entries[key] = name
            self._sizes[name] = size
            self.bytes += size
            self._trim()

    def abandon(self, name: str) -> None:
        """The caller could not create the table ``new_name`` gave it: drop whatever is there on release."""
        with self._lock:
            self._doomed.add(name)

    def release(self, names: list[str]) -> list[str]:
        """Unpin; returns the tables that nobody needs any more, for the caller to drop."""
        with self._lock:
            for name in names:
                self._pins[name] = self._pins.get(name, 1) - 1
                if self._pins[name] <= 0:
                    del self._pins[name]
            return self._collect()

    def clear(self) -> list[str]:
        """Forget every snapshot; returns the tables to drop now."""
        with self._lock:
            self._doomed.update(self._entries.values())
            self._entries.clear()
            self._sizes.clear()
            self.bytes = 0
            return self._collect()

    def trim(self) -> list[str]:
        with self._lock:
            self._trim()
            return self._collect()

    def _trim(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _, name = self._entries.popitem(last=False)
            self.bytes -= self._sizes.pop(name, 0)
            self._doomed.add(name)

    def _collect(self) -> list[str]:
        free = [name for name in self._doomed if name not in self._pins]
        self._doomed.difference_update(free)
        return free


def _limit_from_env() -> int:
    text = os.environ.get(ENV_CACHE_MB, "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_CACHE_MB
    except ValueError:
        megabytes = DEFAULT_CACHE_MB
    return max(0, int(megabytes * 1024 * 1024))


_settings_lock = threading.RLock()  # re-entered: `connect` makes the scratch dir
_objects = ObjectCache(_limit_from_env())
_snapshots = SnapshotCache(_objects.max_bytes)
_enabled = _objects.max_bytes > 0
_database: Any = None


def enabled() -> bool:
    """Whether queries share the database and the object and view caches."""
    return _enabled


def objects() -> ObjectCache:
    """The process's cache of parsed S3 objects."""
    return _objects


def snapshots() -> SnapshotCache:
    """The process's materialised table snapshots."""
    return _snapshots


def configure(enabled: bool | None = None, max_bytes: int | None = None) -> None:
    """Switch the caches on or off, or change the bound (each cache is bounded by it); off empties them."""
    global _enabled
    with _settings_lock:
        if max_bytes is not None:
            _objects.max_bytes = _snapshots.max_bytes = max(0, int(max_bytes))
        if enabled is not None:
            _enabled = enabled and _objects.max_bytes > 0
        if not _enabled:
            _objects.clear()
            unused = _snapshots.clear()
        else:
            _objects.trim()
            unused = _snapshots.trim()
    drop_tables(unused)


def drop_tables(names: list[str]) -> None:
    """Drop snapshot tables of the shared database that no query uses any more."""
    if not names or _database is None:
        return
    cursor = _database.cursor()
    try:
        for name in names:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    finally:
        cursor.close()


def release(names: list[str]) -> None:
    """A query is done with these snapshots."""
    if names:
        drop_tables(_snapshots.release(names))


# DuckDB locked into its sandbox (defence in depth behind `sandbox`): no file, URL or Python
# variable reachable from SQL, no extension installed or loaded, and settings fixed for good.
_LOCKED_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "python_enable_replacements": False,
    "integer_division": True,  # Trino divides integers as integers
}
_scratch: str | None = None
_loader: Any = None


def scratch_dir() -> str:
    """This process's private directory (0700) for object copies and DuckDB's spill files."""
    global _scratch, _loader
    with _settings_lock:
        if _scratch is None or not os.path.isdir(_scratch):
            _scratch = tempfile.mkdtemp(prefix="local_aws-athena-")
            _loader = None  # it may read only the directory it was made for
            atexit.register(shutil.rmtree, _scratch, True)  # spill files and any copy left behind
        return _scratch


def _locked_database(readable: str | None = None) -> Any:
    """An in-memory database in its sandbox; ``readable`` is the one directory it may read files in.

    The order matters to DuckDB: allowed directories before external access goes off, and the
    lock last (after it no setting changes, not even per cursor).
    """
    spill = os.path.join(scratch_dir(), "spill")
    database = duckdb.connect(":memory:", config={**_LOCKED_CONFIG, "temp_directory": spill})
    database.execute("SET GLOBAL TimeZone = 'UTC'")  # ICU's setting: not accepted in the config
    if readable is not None:
        database.execute(f"SET GLOBAL allowed_directories = ['{readable.rstrip('/')}/']")
    database.execute("SET GLOBAL enable_external_access = false")
    database.execute("SET GLOBAL lock_configuration = true")
    return database


def connect() -> Any:
    """A DuckDB connection for one query's SQL: a cursor of the shared database, or a database of its own.

    Neither can read a file: the rows come from `loader` as Arrow tables.
    """
    global _database
    if not _enabled:
        return _locked_database()
    with _settings_lock:
        if _database is None:
            _database = _locked_database()
        return _database.cursor()


def loader() -> Any:
    """A cursor of the database that parses the object copies in `scratch_dir` (and reads nothing else).

    It is a database of its own, so no SQL from a user ever runs where a file can be read.
    """
    global _loader
    readable = scratch_dir()
    with _settings_lock:
        if _loader is None:
            _loader = _locked_database(readable)
        return _loader.cursor()


def describe() -> str:
    """A one-line summary, for logs and the benchmark."""
    if not _enabled:
        return "off: a database per query, every object read and parsed"
    cache, snaps = _objects, _snapshots
    return (
        f"on: {len(cache)} objects, {cache.bytes / 1e6:.1f} of {cache.max_bytes / 1e6:.0f} MB, "
        f"{cache.hits} hits, {cache.misses} misses, {cache.evictions} evicted, "
        f"{cache.invalidations} invalidated; {len(snaps)} snapshots, {snaps.bytes / 1e6:.1f} MB, "
        f"{snaps.hits} hits, {snaps.misses} misses"
    )
