"""Mutation check of the quality checks: make each check's condition always pass; the tests must fail.

For every check (a SQL file's ``passed`` column, a TOML column check's bounds, a Python check's
``passed = ...`` line) and for the changes view's dedupe, this script copies the working tree to a
temporary folder, mutates the check there so that it can no longer fail, runs the tests that should
catch it, and prints which of them did. By default the mutations a test should catch are applied
together and the test runs once: the check tests judge every check on its own and name each one that
did not fail, so a mutation counts as caught only if the failure names its check
(``--separately``: one copy and one run per mutation). The working tree itself is never changed, so
it is safe beside other people's work.

    .venv/bin/python tests/mutate_checks.py              # every mutation
    .venv/bin/python tests/mutate_checks.py --only check_freshness --list

Not collected by pytest (its name does not start with ``test_``). Exit status 1 if any mutation
survived (no test caught it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUALITY = Path("include/sql/quality")
CHECKS_PY = Path("plugins/cdc_pipeline/workflows/hourly/checks.py")
SCHEMA_DRIFT_PY = Path("plugins/cdc_pipeline/workflows/hourly/schema_drift.py")
SALES = "tests/dags/test_checks_sales_orders.py::test_a_bad_hour_fails_every_sales_orders_check"
DEDUPE = "tests/dags/test_duplicate_events_check.py::test_a_batch_delivered_twice_is_one_set_of_changes"
EVENTS = "tests/dags/test_checks_user_events.py::test_a_bad_hour_fails_every_user_events_check"
PROFILES = "tests/dags/test_checks_user_profiles.py::test_a_bad_hour_fails_every_user_profiles_check"
PARQUET = "tests/dags/test_parquet_change_log.py::test_an_undeclared_attribute_fails_schema_drift_with_a_parquet_change_log"
UNMERGED = "tests/dags/test_state_reconciliation.py::test_a_change_no_hourly_run_merged_fails_the_check_until_its_hour_is_run"


def sql_always_passes(text: str) -> str:
    """The ``passed`` column of the check's final SELECT becomes TRUE."""
    end = text.index("AS passed")
    start = text.rindex("SELECT", 0, end) + len("SELECT")
    return text[:start] + "\n    TRUE " + text[end:]


def toml_always_passes(text: str) -> str:
    """Every column check's bounds become one no value can miss."""
    return re.sub(r"\{[^}]*\}", "{ geq_to = -1e30 }", text)


def python_always_passes(name: str) -> Callable[[str], str]:
    """The ``passed = ...`` line inside the named check function becomes ``passed = True``."""

    def mutate(text: str) -> str:
        start = text.index(f"def {name}(")
        match = re.compile(r"^(\s+)passed = .*$", re.M).search(text, start)
        assert match, f"no 'passed =' line in {name}"
        return text[: match.start()] + f"{match.group(1)}passed = True" + text[match.end() :]

    return mutate


def no_dedupe(text: str) -> str:
    """The changes view keeps every copy (its dedupe removed)."""
    assert "WHERE copy_number = 1" in text
    return text.replace("WHERE copy_number = 1", "WHERE copy_number >= 1")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: Path
    mutate: Callable[[str], str]
    tests: tuple[str, ...]


def mutations() -> list[Mutation]:
    found = []
    datasets = {"sales_orders": SALES, "user_events": EVENTS, "user_profiles": PROFILES}
    for path in sorted((REPO / QUALITY).rglob("check_*.*")):
        relative = path.relative_to(REPO)
        dataset = path.parent.name
        tests = (datasets[dataset],) if dataset in datasets else (SALES,)
        mutate = toml_always_passes if path.suffix == ".toml" else sql_always_passes
        found.append(Mutation(path.stem, relative, mutate, tests))
    found.append(
        Mutation(
            "check_current_state_matches_table",
            QUALITY / "reconcile_with_table.sql",
            sql_always_passes,
            (SALES,),
        )
    )
    found.append(
        Mutation(
            "check_state_has_every_change",
            QUALITY / "reconcile_state_has_every_change.sql",
            sql_always_passes,
            (UNMERGED,),
        )
    )
    for name in ("check_freshness", "check_error_records"):
        found.append(Mutation(name, CHECKS_PY, python_always_passes(name), (SALES,)))
    drift = "check_schema_drift"
    found.append(Mutation(drift, SCHEMA_DRIFT_PY, python_always_passes(drift), (SALES, PROFILES, PARQUET)))
    found.append(
        Mutation(
            "dedupe (changes view)", Path("include/sql/ddl/create_view_changes.sql"), no_dedupe, (DEDUPE,)
        )
    )
    return found


def copy_tree(target: Path) -> None:
    """The working tree as it is (tracked and untracked files, not ignored ones) under ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def run_test(tree: Path, test: str) -> tuple[bool, str]:
    """(whether the test failed, its output)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    return result.returncode != 0, result.stdout + result.stderr


def caught_by(mutation: Mutation, failed: bool, output: str, batched: bool) -> bool:
    """A mutation is caught when the test failed, and (in a batch) its failure names the check."""
    if not failed:
        return False
    return not batched or f"NOT FAILED AS EXPECTED: {mutation.name}" in output


def run_group(test: str, group: list[Mutation]) -> dict[str, bool]:
    """Apply every mutation of ``group`` in one copy of the tree, run ``test`` once; name -> caught.

    The check tests judge each check on its own and name every check that did not fail, so one run
    tells which of the group's mutations were caught.
    """
    with tempfile.TemporaryDirectory(prefix="mutant-") as folder:
        tree = Path(folder)
        copy_tree(tree)
        for mutation in group:
            target = tree / mutation.path
            original = target.read_text()
            mutated = mutation.mutate(original)
            assert mutated != original, f"{mutation.name}: the mutation changed nothing"
            target.write_text(mutated)
        started = time.monotonic()
        failed, output = run_test(tree, test)
    batched = len(group) > 1
    verdicts = {m.name: caught_by(m, failed, output, batched) for m in group}
    named = [
        line for line in output.splitlines() if "NOT FAILED AS EXPECTED" in line or line.startswith("E ")
    ]
    print(f"  {test} with {len(group)} mutation(s), {time.monotonic() - started:.0f}s:")
    for line in named[:12]:
        print(f"      {line.strip()[:220]}")
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="run only the mutation(s) with this name")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests, run nothing")
    parser.add_argument(
        "--separately", action="store_true", help="one copy and one test run per mutation (slower)"
    )
    args = parser.parse_args(argv)
    chosen = [m for m in mutations() if not args.only or m.name in args.only]
    for mutation in chosen:
        print(f"{mutation.name}: {mutation.path} -> {', '.join(t.split('::')[-1] for t in mutation.tests)}")
    if args.list:
        return 0
    groups: dict[tuple[str, int], list[Mutation]] = {}
    for n, mutation in enumerate(chosen):
        for test in mutation.tests:
            groups.setdefault((test, n if args.separately else 0), []).append(mutation)
    caught: dict[str, list[str]] = {m.name: [] for m in chosen}
    for (test, _), group in groups.items():
        for name, verdict in run_group(test, group).items():
            if verdict:
                caught[name].append(test.split("::")[-1])
    print("\nmutation (made to always pass)          caught by")
    for name, tests in caught.items():
        print(f"  {name:<38} {', '.join(tests) or 'SURVIVED: no test failed'}")
    survived = [name for name, tests in caught.items() if not tests]
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
