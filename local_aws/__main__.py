"""`python -m local_aws serve`: the embedded AWS on one loopback endpoint."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from local_aws.persistence import StateDirError
from local_aws.server import LocalAWS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_aws", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the AWS APIs the pipeline uses")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4566, help="port to listen on (default 4566)")
    serve.add_argument(
        "--state-dir",
        help="keep state in this folder across restarts (default: in memory only)",
    )
    serve.add_argument(
        "--snapshot-interval",
        type=float,
        default=2.0,
        help="seconds between snapshots of the state dir (default 2)",
    )
    serve.add_argument(
        "--recover",
        action="store_true",
        help="start on a damaged state dir: replay the journal's valid prefix, set damaged files aside "
        "(kept as .damaged-<time> copies) and say what was dropped",
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        help="seconds a client may stay silent mid-request before it gets RequestTimeout (default 60)",
    )
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    aws = LocalAWS(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        snapshot_interval=args.snapshot_interval,
        recover=args.recover,
    )
    aws.request_timeout = args.request_timeout
    try:
        aws.start()
    except StateDirError as error:  # the operator's to fix: one line, no traceback
        print(f"local_aws: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"local_aws: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    where = args.state_dir or "memory only"
    print(f"local_aws listening on {aws.endpoint_url} (state: {where})", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    print("local_aws stopping", flush=True)
    aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
