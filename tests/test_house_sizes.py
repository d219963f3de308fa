"""Issue #14's size rule: no function over 80 lines and no module over 600 lines in plugins/ and local_aws/.

A room that grows past the limit is split by concern (see the README's architecture section), not
added to the allow-list below. The list names what other work is shortening now, each with its
size when listed: it may shrink, never grow, and the entry goes once that work lands. (The Firehose
and Lambda splits were listed here until they landed.)
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ROOTS = ("plugins", "local_aws")
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600


def offenders(root: Path = REPO_ROOT) -> dict[str, int]:
    """Every module over the module limit and every function over the function limit, with its lines."""
    found: dict[str, int] = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            source = path.read_text(encoding="utf-8")
            lines = len(source.splitlines())
            if lines > MAX_MODULE_LINES:
                found[relative] = lines
            for node in ast.walk(ast.parse(source, filename=relative)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found[f"{relative}::{node.name}"] = max(
                            length, found.get(f"{relative}::{node.name}", 0)
                        )
    return found


def test_no_long_modules_or_functions():
    """No exemptions: every room that outgrew the limits has been split (issue #14)."""
    long = [
        f"{key}: {lines} lines (limit {MAX_FUNCTION_LINES if '::' in key else MAX_MODULE_LINES})"
        for key, lines in offenders().items()
    ]
    assert not long, "split these by concern (issue #14):\n" + "\n".join(long)


def test_the_checker_finds_a_long_function_and_a_long_module(tmp_path):
    body = "\n".join(f"    x{index} = {index}" for index in range(MAX_FUNCTION_LINES))
    (tmp_path / "plugins").mkdir()
    (tmp_path / "local_aws").mkdir()
    (tmp_path / "plugins" / "long.py").write_text(f"def long():\n{body}\n" + "\n" * MAX_MODULE_LINES)
    (tmp_path / "local_aws" / "short.py").write_text("def short():\n    return 1\n")
    assert offenders(tmp_path) == {
        "plugins/long.py": MAX_MODULE_LINES + MAX_FUNCTION_LINES + 1,
        "plugins/long.py::long": 81,
    }
