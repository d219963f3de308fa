"""Every module with a ``__main__`` answers ``--help`` with its usage and exits 0, starting nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_cli.demo import REPO_ROOT

_MAIN = re.compile(r"""^if __name__ == ["']__main__["']:""", re.MULTILINE)
_SKIPPED = {".venv", ".git", "build", "node_modules", ".state"}


def commands() -> list[Path]:
    """The project's own files that run as commands (``if __name__ == "__main__":``)."""
    found = []
    for path in sorted(REPO_ROOT.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).parts
        if _SKIPPED.intersection(parts) or parts[0] == "tests":
            continue
        if _MAIN.search(path.read_text(errors="replace")):
            found.append(path)
    return found


def command_line(path: Path) -> list[str]:
    """``python -m package.module`` where the file is in a package (as the README runs them), else the file."""
    relative = path.relative_to(REPO_ROOT)
    root = REPO_ROOT / "plugins" if relative.parts[0] == "plugins" else REPO_ROOT
    module_path = path.relative_to(root)
    if (path.parent / "__init__.py").exists():
        name = ".".join(module_path.with_suffix("").parts).removesuffix(".__main__")
        return [sys.executable, "-m", name, "--help"]
    return [sys.executable, str(path), "--help"]


def test_the_commands_are_found():
    found = {str(p.relative_to(REPO_ROOT)) for p in commands()}
    assert {"bench/__main__.py", "cdc_cli/demo.py", "plugins/cdc_pipeline/deployer_policy.py"} <= found


@pytest.mark.parametrize("path", commands(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_help_prints_usage_and_starts_nothing(path: Path, tmp_path: Path):
    env = {name: value for name, value in os.environ.items() if name != "AWS_ENDPOINT_URL"}
    done = subprocess.run(
        command_line(path),
        cwd=tmp_path,
        env={**env, "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'plugins'}"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("usage:"), done.stdout[:500]
    assert "===" not in done.stdout  # `python -m bench` printed "=== bench_x ===" as it started each one
    assert list(tmp_path.iterdir()) == []  # wrote nothing where it ran
