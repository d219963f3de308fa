"""`make bench`: every benchmark, one after another. Numbers only; nothing here passes or fails."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
