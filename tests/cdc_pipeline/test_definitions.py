"""Pipeline definition files: the shipped ones load and agree with their code; bad files fail by name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cdc_pipeline.definitions import (
    PIPELINES,
    PIPELINES_DIR,
    PipelineDefinitionError,
    Topology,
    load_definition,
    load_pipelines,
    parse_definition,
)
from cdc_pipeline.settings import REPO_ROOT, Settings
from cdc_pipeline.workflows import generate

VALID = """\
name = "user_profiles"
description = "Profiles"
topology = "cdc"
table = "user-profiles"
key_attribute = "id"
transform_folder = "cdc_transform"
generator = "cdc_pipeline.generators.profiles:ProfileDataset"
count_noun = "users"
event_time_attribute = "updated_at"
partition_keys = ["year", "month", "day", "hour"]

[check_params]
min_age = 18
max_email_issue_share = 0.2

[charts.users_by_city]
kind = "bar"
"""

DIRECT = {
    "name": "user_events",
    "topology": "direct",
    "key_attribute": "user_id",
    "consumer_folder": "kinesis_consumer",
    "generator": "cdc_pipeline.generators.events:EventDataset",
    "count_noun": "events",
}


def cdc(**changes: Any) -> dict[str, Any]:
    """A valid cdc definition with `changes` (a value of None removes the field)."""
    data: dict[str, Any] = {
        "name": "user_profiles",
        "topology": "cdc",
        "table": "user-profiles",
        "key_attribute": "id",
        "transform_folder": "cdc_transform",
        "generator": "cdc_pipeline.generators.profiles:ProfileDataset",
        "count_noun": "users",
    }
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def write(folder: Path, filename: str, text: str) -> Path:
    path = folder / filename
    path.write_text(text)
    return path


# -- the shipped definitions ---------------------------------------------------------------------


def test_every_file_in_pipelines_is_loaded():
    assert {path.stem for path in PIPELINES_DIR.glob("*.toml")} == set(PIPELINES)
    assert {"sales_orders", "user_profiles"} <= set(PIPELINES)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_shipped_definitions_agree_with_their_generator_folders_and_sql(name):
    definition = PIPELINES[name]
    assert definition.source == PIPELINES_DIR / f"{name}.toml"
    dataset = definition.generator_class()
    assert (dataset.name, dataset.key, dataset.noun) == (
        name,
        definition.key_attribute,
        definition.count_noun,
    )
    if definition.topology is Topology.CDC:
        assert (REPO_ROOT / "lambda" / definition.transform_folder / "handler.py").is_file()
    # Every check parameter the dataset's checks read is defined, and every defined one is read: SQL
    # files name them as `lake.<param>`, column checks declared in TOML as "$<param>".
    folder = REPO_ROOT / "include/sql/quality" / name
    sql = "".join(p.read_text() for p in folder.glob("*.sql"))
    used = {word.split("}")[0].strip() for word in sql.split("lake.")[1:]}
    toml = "".join(p.read_text() for p in folder.glob("*.toml"))
    used |= set(re.findall(r'"\$([a-z_]+)"', toml))
    assert set(definition.check_params) <= used
    assert used - {"table", "changes_view", "current_view", "key"} <= set(definition.check_params)
    assert list((REPO_ROOT / "include/sql/report" / name).glob("report_*.sql")), "no reports"


def test_user_profiles_definition():
    definition = PIPELINES["user_profiles"]
    assert (definition.table, definition.key_attribute, definition.topology) == (
        "user-profiles",
        "id",
        Topology.CDC,
    )
    assert definition.check_params == {
        "min_age": 18,
        "max_age": 110,
        "max_email_issue_share": 0.2,
        "min_email_sample": 50,
    }
    names = definition.resources(Settings.from_env({}).with_account_id("123456789012"))
    assert names.table == "cdc-lake-user-profiles"
    assert names.function == "cdc-lake-user-profiles-transform"


def test_the_count_parameter_is_the_definitions_noun_and_extra_params_come_from_the_dataset():
    assert generate.count_param(PIPELINES["sales_orders"]) == "orders"
    assert generate.count_param(PIPELINES["user_profiles"]) == "users"
    assert generate.extra_params(PIPELINES["sales_orders"]) == {}
    extra = generate.extra_params(PIPELINES["user_profiles"])
    assert set(extra) == {"invalid_email_share"}
    assert extra["invalid_email_share"].value == 0.05
    assert extra["invalid_email_share"].schema["maximum"] == 1


# -- loading -------------------------------------------------------------------------------------


def test_a_valid_file_loads_every_field(tmp_path):
    definition = load_definition(write(tmp_path, "user_profiles.toml", VALID))
    assert definition.name == "user_profiles"
    assert definition.description == "Profiles"
    assert definition.topology is Topology.CDC
    assert definition.table == "user-profiles"
    assert definition.key_attribute == "id"
    assert definition.transform_folder == "cdc_transform"
    assert definition.transform_handler == "handler.lambda_handler"
    assert definition.count_noun == "users"
    assert definition.partition_keys == ("year", "month", "day", "hour")
    assert definition.check_params == {"min_age": 18, "max_email_issue_share": 0.2}
    assert definition.charts == {"users_by_city": {"kind": "bar"}}
    assert definition.source == tmp_path / "user_profiles.toml"


def test_optional_fields_take_their_defaults():
    definition = parse_definition(cdc())
    assert definition.event_time_attribute == "updated_at"
    assert definition.partition_keys == ("year", "month", "day", "hour")
    assert definition.check_params == {} and definition.charts == {} and definition.description == ""


def test_a_direct_pipeline_has_a_consumer_and_no_table():
    definition = parse_definition(DIRECT)
    assert definition.topology is Topology.DIRECT
    assert (definition.consumer_folder, definition.consumer_handler) == (
        "kinesis_consumer",
        "handler.lambda_handler",
    )
    assert definition.table is None and definition.transform_folder is None
    assert definition.resources(Settings.from_env({}).with_account_id("123456789012")).table == ""
    with pytest.raises(ValueError, match="no transform function"):
        definition.transform_dir(Settings.from_env({}))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (cdc(name=None), "name", "is required"),
        (cdc(name="Sales-Orders"), "name", "lower-case letters"),
        (cdc(name="a" * 29), "name", "1-28"),
        (cdc(name=7), "name", "must be a string, got int"),
        (cdc(topology=None), "topology", "is required"),
        (cdc(topology="batch"), "topology", "use one of 'cdc', 'direct'"),
        (cdc(key_attribute=None), "key_attribute", "is required"),
        (cdc(key_attribute="OrderId"), "key_attribute", "lower-cases column names"),
        (cdc(event_time_attribute="updated at"), "event_time_attribute", "lower-case"),
        (cdc(event_time_attribute="id"), "event_time_attribute", "must differ from key_attribute"),
        (cdc(generator="cdc_pipeline.generators.profiles.ProfileDataset"), "generator", "module:ClassName"),
        (cdc(count_noun=None), "count_noun", "is required"),
        (cdc(count_noun="Users"), "count_noun", "lower-case"),
        (cdc(count_noun="seed"), "count_noun", "already a generate parameter"),
        (cdc(table=None), "table", "is required for topology 'cdc'"),
        (cdc(table="user profiles"), "table", "DynamoDB's rule"),
        (cdc(transform_folder=None), "transform_folder", "is required for topology 'cdc'"),
        (cdc(transform_folder="../elsewhere"), "transform_folder", "one folder under lambda/"),
        (cdc(transform_handler="handler"), "transform_handler", "module.function"),
        (cdc(consumer_folder="kinesis_consumer"), "consumer_folder", "belongs to topology 'direct'"),
        ({**DIRECT, "table": "events"}, "table", "belongs to topology 'cdc'"),
        ({k: v for k, v in DIRECT.items() if k != "consumer_folder"}, "consumer_folder", "is required"),
        (
            {**DIRECT, "columns": {"user_id": "string", "tags": "array<string>"}},
            "columns.tags",
            "scalar types only",
        ),
        (
            {**DIRECT, "columns": {"user_id": "string", "at": "string"}, "state_partition": "at"},
            "state_partition",
            "keeps no state table",
        ),
        (cdc(partition_keys="hour"), "partition_keys", "non-empty list"),
        (cdc(partition_keys=[]), "partition_keys", "non-empty list"),
        (cdc(partition_keys=["year", "minute"]), "partition_keys", "'minute' is not a key"),
        (cdc(partition_keys=["year", "year"]), "partition_keys", "repeats a key"),
        (cdc(partition_keys=["hour", "day"]), "partition_keys", "keep the order"),
        (cdc(check_params=[1]), "check_params", "must be a table"),
        (cdc(check_params={"max_price": "5000"}), "check_params.max_price", "finite number"),
        (cdc(check_params={"max_price": True}), "check_params.max_price", "finite number"),
        (cdc(check_params={"max_price": float("inf")}), "check_params.max_price", "finite number"),
        (cdc(check_params={"table": 1}), "check_params.table", "already has"),
        (cdc(check_params={"Max": 1}), "check_params.Max", "lower-case"),
        (cdc(charts="bar"), "charts", "must be a table"),
        (cdc(owner="me"), "owner", "unknown field"),
    ],
)
def test_each_invalid_field_is_named(data, field, message):
    with pytest.raises(PipelineDefinitionError, match=message) as caught:
        parse_definition(data, "pipelines/broken.toml")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"pipelines/broken.toml: field {field!r}: ")


def test_a_direct_pipeline_declares_columns_without_a_state_partition():
    definition = parse_definition({**DIRECT, "columns": {"user_id": "string", "amount": "decimal(12,2)"}})
    assert definition.columns == (("user_id", "string"), ("amount", "decimal(12,2)"))
    assert definition.state_partition is None


def test_a_file_that_is_not_toml_is_named(tmp_path):
    path = write(tmp_path, "broken.toml", 'name = "x\n')
    with pytest.raises(PipelineDefinitionError, match=r"broken\.toml: not valid TOML") as caught:
        load_definition(path)
    assert caught.value.field is None


def test_duplicate_names_name_both_files(tmp_path):
    write(tmp_path, "a.toml", VALID)
    write(tmp_path, "b.toml", VALID.replace('table = "user-profiles"', 'table = "profiles-2"'))
    with pytest.raises(PipelineDefinitionError, match="already the name of the pipeline in") as caught:
        load_pipelines(tmp_path)
    assert caught.value.field == "name"
    assert str(caught.value).startswith(str(tmp_path / "b.toml"))
    assert str(tmp_path / "a.toml") in str(caught.value)


def test_two_pipelines_cannot_share_a_table(tmp_path):
    write(tmp_path, "a.toml", VALID)
    write(tmp_path, "b.toml", VALID.replace('name = "user_profiles"', 'name = "profiles_copy"'))
    with pytest.raises(PipelineDefinitionError, match="'user-profiles' is already the table") as caught:
        load_pipelines(tmp_path)
    assert caught.value.field == "table"


def test_a_folder_without_definitions_is_an_error(tmp_path):
    with pytest.raises(PipelineDefinitionError, match="holds no pipeline definition"):
        load_pipelines(tmp_path)
    with pytest.raises(PipelineDefinitionError, match="does not exist"):
        load_pipelines(tmp_path / "missing")


def test_a_new_file_is_a_new_pipeline(tmp_path):
    write(tmp_path, "user_profiles.toml", VALID)
    write(
        tmp_path, "user_events.toml", "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in DIRECT.items())
    )
    assert set(load_pipelines(tmp_path)) == {"user_profiles", "user_events"}


def test_a_generator_that_disagrees_with_its_definition_fails_naming_the_field():
    wrong_noun = parse_definition(cdc(count_noun="profiles"), "pipelines/x.toml")
    with pytest.raises(PipelineDefinitionError, match="'count_noun': is 'profiles' but the generator"):
        wrong_noun.generator_class()
    missing = parse_definition(cdc(generator="cdc_pipeline.generators.nowhere:Thing"), "pipelines/x.toml")
    with pytest.raises(PipelineDefinitionError, match="'generator': cannot import"):
        missing.generator_class()
