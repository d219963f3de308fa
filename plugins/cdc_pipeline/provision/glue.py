"""The Glue database (shared by datasets) and the dataset's crawler over its lake prefix."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, retry_while_role_propagates, wait_for

DATABASE_KIND = "glue:database"
CRAWLER_KIND = "glue:crawler"

# New columns are merged into the table; tables whose data vanished are only logged. With these,
# Glue requires RecrawlBehavior CRAWL_EVERYTHING (CRAWL_NEW_FOLDERS_ONLY needs LOG/LOG).
SCHEMA_CHANGE_POLICY = {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}
RECRAWL_POLICY = {"RecrawlBehavior": "CRAWL_EVERYTHING"}
# Partitions inherit the table's schema, so a column added later does not split the partitions'
# schemas from the table's (which Athena would refuse to read).
CRAWLER_CONFIGURATION = {
    "Version": 1.0,
    "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
    "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
}


def _description(deployment: Deployment) -> str:
    return f"cdc-lake change data ({deployment.settings.prefix})"


def ensure_database(deployment: Deployment) -> Outcome:
    glue = deployment.client("glue")
    name = deployment.names.glue_database
    try:
        database = glue.get_database(Name=name)["Database"]
    except ClientError as error:
        if error_code(error) != "EntityNotFoundException":
            raise
        glue.create_database(DatabaseInput={"Name": name, "Description": _description(deployment)})
        return Outcome("glue_database", DATABASE_KIND, name, "created")
    if database.get("Description") != _description(deployment):
        glue.update_database(Name=name, DatabaseInput={"Name": name, "Description": _description(deployment)})
        return Outcome("glue_database", DATABASE_KIND, name, "updated")
    return Outcome("glue_database", DATABASE_KIND, name, "unchanged")


def delete_database(deployment: Deployment) -> Outcome:
    """Deleting a database deletes its tables and partitions too (the lake data stays until S3 goes)."""
    name = deployment.names.glue_database
    try:
        deployment.client("glue").delete_database(Name=name)
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            return Outcome("glue_database", DATABASE_KIND, name, "absent")
        raise
    return Outcome("glue_database", DATABASE_KIND, name, "deleted")


def crawler_spec(deployment: Deployment) -> dict[str, Any]:
    names = deployment.names
    return {
        "Role": names.role_arn(names.crawler_role),
        "DatabaseName": names.glue_database,
        # The table is named after this folder: <dataset> (with a Parquet change log the provisioning has
        # declared it, and the crawl adds its partitions). Neither format needs a custom classifier.
        "Targets": {"S3Targets": [{"Path": f"s3://{names.lake_bucket}/{names.lake_prefix}"}]},
        "SchemaChangePolicy": SCHEMA_CHANGE_POLICY,
        "RecrawlPolicy": RECRAWL_POLICY,
        "Configuration": json.dumps(CRAWLER_CONFIGURATION),
    }


def _get_crawler(glue: Any, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_crawler(Name=name)["Crawler"]
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            return None
        raise


def _crawler_differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    targets = [t.get("Path") for t in (current.get("Targets") or {}).get("S3Targets", [])]
    configuration = json.loads(current["Configuration"]) if current.get("Configuration") else None
    return (
        current.get("Role") != desired["Role"]
        or current.get("DatabaseName") != desired["DatabaseName"]
        or targets != [t["Path"] for t in desired["Targets"]["S3Targets"]]
        or current.get("SchemaChangePolicy") != desired["SchemaChangePolicy"]
        or (current.get("RecrawlPolicy") or RECRAWL_POLICY) != desired["RecrawlPolicy"]
        or configuration != CRAWLER_CONFIGURATION
    )


def ensure_crawler(deployment: Deployment) -> Outcome:
    """Create the crawler, or UpdateCrawler in place when it differs (waiting for a running crawl)."""
    glue = deployment.client("glue")
    name = deployment.names.crawler
    desired = crawler_spec(deployment)
    current = _get_crawler(glue, name)
    timeout = deployment.settings.role_propagation_timeout_seconds
    if current is None:
        retry_while_role_propagates(
            lambda: glue.create_crawler(
                Name=name,
                Description=f"cdc-lake {deployment.definition.name}: lake prefix to Glue table",
                Tags={"cdc-lake:dataset": deployment.definition.name},
                **desired,
            ),
            f"create crawler {name}",
            timeout,
        )
        return Outcome("crawler", CRAWLER_KIND, name, "created")
    if not _crawler_differs(current, desired):
        return Outcome("crawler", CRAWLER_KIND, name, "unchanged")
    # Glue refuses to update a running crawler (CrawlerRunningException).
    wait_for(
        lambda: (_get_crawler(glue, name) or {}).get("State") in (None, "READY"),
        f"crawler {name} to be READY",
    )
    retry_while_role_propagates(
        lambda: glue.update_crawler(Name=name, **desired), f"update crawler {name}", timeout
    )
    return Outcome("crawler", CRAWLER_KIND, name, "updated")


def delete_crawler(deployment: Deployment) -> Outcome:
    glue = deployment.client("glue")
    name = deployment.names.crawler
    crawler = _get_crawler(glue, name)
    if crawler is None:
        return Outcome("crawler", CRAWLER_KIND, name, "absent")
    if crawler.get("State") == "RUNNING":
        try:
            glue.stop_crawler(Name=name)
        except ClientError as error:
            if error_code(error) != "CrawlerNotRunningException":
                raise
        wait_for(
            lambda: (_get_crawler(glue, name) or {}).get("State") in (None, "READY"),
            f"crawler {name} to stop",
        )
    glue.delete_crawler(Name=name)
    return Outcome("crawler", CRAWLER_KIND, name, "deleted")
