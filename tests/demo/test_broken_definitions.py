"""A broken pipeline definition file keeps only its own DAGs out, and says which file and field.

Airflow parses dags/ in a process of its own here, with CDC_LAKE_PIPELINES_DIR pointing at a copy of
pipelines/ where user_profiles.toml has one mistake.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_cli.demo import REPO_ROOT

PARSE = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
print(json.dumps({{"errors": bag.import_errors, "dag_ids": sorted(bag.dag_ids)}}))
"""

KINDS = ("provision", "generate", "hourly", "teardown")
GOOD = {f"{name}_{kind}" for name in ("sales_orders", "user_events") for kind in KINDS}

CASES = [
    (
        "toml_syntax",
        lambda text: text.replace('topology = "cdc"', 'topology = "cdc'),
        "{file}: not valid TOML: ",
    ),
    (
        "unknown_field",
        lambda text: text.replace("count_noun =", "count_nouns ="),
        "{file}: field 'count_nouns': unknown field; the fields are: ",
    ),
    (
        "bad_value",
        lambda text: text.replace('topology = "cdc"', 'topology = "cdcc"'),
        "{file}: field 'topology': 'cdcc': use one of 'cdc', 'direct'",
    ),
    (
        "generator_typo",
        lambda text: text.replace("profiles:ProfileDataset", "profiles:ProfileDatset"),
        "{file}: field 'generator': cannot import 'cdc_pipeline.generators.profiles:ProfileDatset': ",
    ),
]


def pipelines_with(tmp_path: Path, change) -> Path:
    folder = tmp_path / "pipelines"
    shutil.copytree(REPO_ROOT / "pipelines", folder)
    broken = folder / "user_profiles.toml"
    text = broken.read_text()
    changed = change(text)
    assert changed != text, "the case no longer applies to the definition file"
    broken.write_text(changed)
    return folder


def parse_dags(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PARSE.format(dags=str(REPO_ROOT / "dags"))],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("case", "change", "message"), CASES, ids=[case for case, _, _ in CASES])
def test_the_other_pipelines_load_and_airflow_names_the_file_and_field(tmp_path, case, change, message):
    folder = pipelines_with(tmp_path, change)
    parsed = parse_dags({**os.environ, "CDC_LAKE_PIPELINES_DIR": str(folder)})
    assert set(parsed["dag_ids"]) >= GOOD
    # A file that does not parse has no DAGs; a generator that does not import loses only generate.
    kept_out = (
        {"user_profiles_generate"} if case == "generator_typo" else {f"user_profiles_{k}" for k in KINDS}
    )
    assert kept_out.isdisjoint(parsed["dag_ids"])
    assert {f"user_profiles_{k}" for k in KINDS} - kept_out <= set(parsed["dag_ids"])
    # One import error, on the file that reports definitions; the DAG files themselves import.
    assert list(parsed["errors"]) == [str(REPO_ROOT / "dags" / "pipeline_definitions.py")]
    error = next(iter(parsed["errors"].values()))
    assert "these pipeline definitions cannot be used (their DAGs are not loaded):" in error
    assert "  " + message.format(file=folder / "user_profiles.toml") in error
