"""Request latency while `--state-dir` writes a snapshot: forked (the default) against in the lock.

Run: ``python -m bench.bench_snapshot [--records 100000,500000,1000000] [--clients 3]
[--snapshots 1]``. For each size, a server process (LocalAWS with a state dir) stores that many
DynamoDB items (written straight into moto's backend, the cheapest way to hold that much state),
then takes snapshots on command while this process's client threads call ListTables, a read that
costs the same whatever is stored. Per mode it prints the latency of the requests that overlapped
a snapshot (p50 / p99 / max, milliseconds) and how long the snapshots took; the ``idle`` row is
the same client load with no snapshot running.

- ``in-lock``: the behaviour before forked snapshots, kept as ``background_snapshots=False``:
  the world lock is held while everything is pickled, so every request waits for it.
- ``forked``: the lock is held to rotate the journal and fork; a child pickles and writes.

The issue's target: p99 under 50 ms at 500k records. Two cores are shared with whatever else runs,
and the forked child competes with the server for them, so the load average is printed too.

Measured here (2 cores, load average 10 to 13 from other work, 2 snapshots per mode), ms:

    records   mode      p50     p99      max   snapshot s (lock held ms)
    100,000   idle      8.9    23.5     34.9
    100,000   in-lock  2153    3199     3199   3.2 (3184), 2.1 (2140)
    100,000   forked   10.7    89.3    193.0   6.7 (9), 13.0 (15)
    500,000   idle     10.6    97.7    145.6
    500,000   in-lock 11395   29045    29045   29.0 (29036), 22.8 (22753)
    500,000   forked   10.4   104.2    363.3   43.9 (28), 35.0 (151)
  1,000,000   idle     10.1    20.1     27.6
  1,000,000   in-lock   321   45043    45043   45.0 (45028), 37.4 (37387)
  1,000,000   forked   10.1    98.5    792.9   77.1 (46), 63.8 (80)

Again at 500,000 with only a test suite running beside it (load average 0.5 to 3), 2 snapshots:

    records   mode      p50     p99      max   snapshot s (lock held ms)
    500,000   idle     12.3    24.6     38.6
    500,000   in-lock  24.5  6431.4   6431.4   6.4 (6418), 5.4 (5407)
    500,000   forked   13.1    26.2    110.8   17.8 (39), 17.9 (27)

The lock is held 9 to 151 ms (the fork) instead of the whole pickling, and no request waits for
the snapshot; the p99 target is not met on the loaded machine, and is met (26 ms) on the quieter one. With a child that sleeps instead of
pickling, p99 stayed at the idle figure (35 against 29 ms at 500k), so the rest of the tail is the
child's pickling competing for CPU and memory (it copies most pages: reference counts), not the lock.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
TABLE = "bench-items"


# -- the server side: python -m bench.bench_snapshot --serve N --state-dir DIR -------------------
def serve(records: int, state_dir: str) -> None:
    """Start LocalAWS, store ``records`` items, then answer ``snapshot <mode>`` lines on stdin."""
    from local_aws import LocalAWS
    from local_aws.world import World

    aws = LocalAWS(port=0, state_dir=state_dir, snapshot_interval=3600).start()
    client = boto3.client(
        "dynamodb",
        endpoint_url=aws.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    backend = World.backend("dynamodb")
    started = time.perf_counter()
    with aws.world.lock:
        for i in range(records):
            backend.put_item(TABLE, {"pk": {"S": f"k{i:08d}"}, "n": {"N": str(i)}})
    print(json.dumps({"endpoint": aws.endpoint_url, "load_s": time.perf_counter() - started}), flush=True)
    persistence = aws.persistence
    assert persistence is not None
    for line in sys.stdin:
        mode = line.split()[1]
        persistence.background_snapshots = mode == "forked"
        started = time.perf_counter()
        persistence.wait_for(persistence.request_snapshot())
        size = os.path.getsize(persistence.snapshot_path)
        answer = {"seconds": time.perf_counter() - started, "bytes": size, "pause": persistence.last_pause}
        print(json.dumps(answer), flush=True)
    os._exit(0)  # no final snapshot: the state dir is thrown away


# -- the client side ---------------------------------------------------------------------------
class Load:
    """Client threads calling ListTables in a loop, keeping (start, end) of every call."""

    def __init__(self, endpoint: str, clients: int) -> None:
        self.calls: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        config = Config(retries={"total_max_attempts": 1}, read_timeout=600, max_pool_connections=2)
        self._clients = [
            boto3.client(
                "dynamodb",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=config,
            )
            for _ in range(clients)
        ]
        self._threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in self._clients]

    def _run(self, client: Any) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            client.list_tables()
            ended = time.perf_counter()
            with self._lock:
                self.calls.append((started, ended))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def during(self, start: float, end: float) -> list[float]:
        """Latencies (ms) of the calls that overlapped [start, end]."""
        with self._lock:
            return [(e - s) * 1000 for s, e in self.calls if s < end and e > start]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_size(records: int, clients: int, snapshots: int) -> list[dict[str, Any]]:
    state_dir = tempfile.mkdtemp(prefix="bench-snapshot-")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.bench_snapshot",
            "--serve",
            str(records),
            "--state-dir",
            state_dir + "/s",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    rows = []
    try:
        ready = json.loads(server.stdout.readline())
        with Load(ready["endpoint"], clients) as load:
            time.sleep(1.0)  # warm the connections
            idle_start = time.perf_counter()
            time.sleep(3.0)
            idle = load.during(idle_start, time.perf_counter())
            rows.append(
                {"records": records, "mode": "idle", "latencies": idle, "snapshot_s": [], "pause_ms": []}
            )
            for mode in ("in-lock", "forked"):
                latencies: list[float] = []
                seconds: list[float] = []
                pauses: list[float] = []
                for _ in range(snapshots):
                    started = time.perf_counter()
                    server.stdin.write(f"snapshot {mode}\n")
                    server.stdin.flush()
                    answer = json.loads(server.stdout.readline())
                    ended = time.perf_counter()
                    time.sleep(0.5)  # calls held up by the snapshot end just after it
                    latencies += load.during(started, ended)
                    seconds.append(answer["seconds"])
                    pauses.append(answer["pause"])
                rows.append(
                    {
                        "records": records,
                        "mode": mode,
                        "latencies": latencies,
                        "snapshot_s": seconds,
                        "pause_ms": [p * 1000 for p in pauses],
                    }
                )
        rows[0]["load_s"] = ready["load_s"]
        rows[0]["snapshot_bytes"] = answer["bytes"]
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(state_dir, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="100000,500000,1000000", help="comma-separated sizes")
    parser.add_argument("--clients", type=int, default=3, help="client threads calling ListTables")
    parser.add_argument("--snapshots", type=int, default=1, help="snapshots per mode and size")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.state_dir)
        return 0

    print(f"{args.clients} client threads calling ListTables; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'records':>9} {'mode':>8} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  "
        "snapshot s (world lock held, ms)"
    )
    for records in (int(size) for size in args.records.split(",")):
        rows = run_size(records, args.clients, args.snapshots)
        for row in rows:
            values = row["latencies"]
            took = (
                ", ".join(
                    f"{s:.1f} ({p:.0f})" for s, p in zip(row["snapshot_s"], row["pause_ms"], strict=True)
                )
                or "-"
            )
            print(
                f"{records:>9,} {row['mode']:>8} {len(values):>6} {statistics.median(values):>8.1f} "
                f"{percentile(values, 0.99):>8.1f} {max(values):>8.1f}  {took}",
                flush=True,
            )
        print(
            f"{'':>9} stored in {rows[0]['load_s']:.0f} s, snapshot {rows[0]['snapshot_bytes'] / 1e6:.0f} MB, "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
