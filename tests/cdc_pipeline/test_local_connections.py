"""The local connections are named after the connection ids the settings use, not always the defaults."""

from __future__ import annotations

import json

import pytest

from cdc_pipeline.local_connections import connection_env, local_env
from cdc_pipeline.settings import Settings


def test_default_ids_give_the_default_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDC_LAKE_AWS_CONN_ID", raising=False)
    monkeypatch.delenv("CDC_LAKE_ATHENA_CONN_ID", raising=False)
    env = local_env("http://127.0.0.1:4566")
    assert {"AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_ATHENA_DEFAULT"} <= env.keys()
    assert "CDC_LAKE_AWS_CONN_ID" not in env


def test_configured_ids_name_the_connections_the_dags_will_look_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_LAKE_AWS_CONN_ID", "lake_aws")
    monkeypatch.setenv("CDC_LAKE_ATHENA_CONN_ID", "lake_athena")
    monkeypatch.setenv("CDC_LAKE_ATHENA_WORKGROUP", "analytics")
    env = local_env("http://127.0.0.1:4566", prefix="shop")
    settings = Settings.from_env(env)
    # The connections exist under the ids the settings (and so the DAGs) use, and nowhere else.
    assert f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}" in env
    assert f"AIRFLOW_CONN_{settings.athena_conn_id.upper()}" in env
    assert "AIRFLOW_CONN_AWS_DEFAULT" not in env and "AIRFLOW_CONN_ATHENA_DEFAULT" not in env
    athena = json.loads(env["AIRFLOW_CONN_LAKE_ATHENA"])
    assert athena["conn_type"] == "athena"
    assert athena["extra"]["work_group"] == settings.athena_workgroup == "analytics"


def test_connection_env_takes_the_ids() -> None:
    env = connection_env("http://h:1", "eu-west-1", "wg", aws_conn_id="a", athena_conn_id="b")
    assert set(env) == {"AIRFLOW_CONN_A", "AIRFLOW_CONN_B"}
    assert json.loads(env["AIRFLOW_CONN_A"])["extra"]["region_name"] == "eu-west-1"
