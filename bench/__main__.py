"""`make bench`: every benchmark, one after another. Numbers only; nothing here passes or fails."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def benchmark_names() -> list[str]:
    """The `bench_*` modules beside this file, in name order."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    names = benchmark_names()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0] + " Each one has its own options: python -m bench.<name> --help.",
    )
    parser.add_argument(
        "only",
        nargs="*",
        metavar="NAME",
        help=f"run only these benchmarks (default every one: {', '.join(names)})",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if name not in names]
    if unknown:
        parser.error(f"no benchmark named {', '.join(map(repr, unknown))} (choose from {', '.join(names)})")
    for name in args.only or names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
