"""Where the Reports pages read the hourly reports: the local reports folder, else S3.

``publish_report`` writes each hour's report twice: under ``CDC_LAKE_REPORTS_DIR`` as
``<dataset>/<YYYY-MM-DDTHH>/`` (when the worker has that folder: `make airflow` does) and in the lake
bucket under ``reports/<dataset>/hour=<YYYY-MM-DDTHH>/``. The api-server reads the local copy when
it has one (the same laptop) and otherwise the lake, through the Airflow AWS connection (a team's
deployment, where workers and the api-server do not share a disk).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATASET = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")
FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class NotAReport(ValueError):
    """A dataset, hour or file name that cannot name a report file (the message says which)."""


def check_names(dataset: str, hour: str, filename: str = "index.html") -> None:
    if not DATASET.match(dataset):
        raise NotAReport(f"{dataset!r} is not a dataset name")
    if not HOUR.match(hour):
        raise NotAReport(f"{hour!r} is not an hour (YYYY-MM-DDTHH)")
    if not FILENAME.match(filename) or ".." in filename:
        raise NotAReport(f"{filename!r} is not a report file name")


@dataclass
class LocalReports:
    """The reports folder: ``<root>/<dataset>/<hour>/<file>``."""

    root: Path

    def hours(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        if not self.root.is_dir():
            return found
        for folder in self.root.glob("*/*/index.html"):
            dataset, hour = folder.parent.parent.name, folder.parent.name
            if DATASET.match(dataset) and HOUR.match(hour):
                found.setdefault(dataset, set()).add(hour)
        return found

    def read(self, dataset: str, hour: str, filename: str) -> bytes | None:
        check_names(dataset, hour, filename)
        path = self.root / dataset / hour / filename
        return path.read_bytes() if path.is_file() else None


@dataclass
class S3Reports:
    """The lake bucket's ``reports/`` prefix, read with a boto3 S3 client."""

    s3: Any
    bucket: str

    def hours(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix="reports/"):
            for item in page.get("Contents", []):
                parts = item["Key"].split("/")
                if len(parts) == 4 and parts[3] == "index.html" and parts[2].startswith("hour="):
                    dataset, hour = parts[1], parts[2].removeprefix("hour=")
                    if DATASET.match(dataset) and HOUR.match(hour):
                        found.setdefault(dataset, set()).add(hour)
        return found

    def read(self, dataset: str, hour: str, filename: str) -> bytes | None:
        check_names(dataset, hour, filename)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"reports/{dataset}/hour={hour}/{filename}")
        except self.s3.exceptions.NoSuchKey:
            return None
        return body["Body"].read()


def lake_reports() -> S3Reports:
    """The lake bucket of this deployment's settings, through its AWS connection."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.providers.amazon.aws.hooks.sts import StsHook

    from cdc_pipeline.provision.context import settings_in_region_of
    from cdc_pipeline.settings import Settings

    settings = Settings.from_env()
    sts = StsHook(aws_conn_id=settings.aws_conn_id)
    resolved = settings_in_region_of(settings, sts.get_conn()).with_account_id(sts.get_account_number())
    return S3Reports(S3Hook(aws_conn_id=settings.aws_conn_id).get_conn(), resolved.lake_bucket)


def sources() -> list[Any]:
    """The local folder first (when set), then the lake (its client and bucket made once per process)."""
    found: list[Any] = []
    local = os.environ.get("CDC_LAKE_REPORTS_DIR")
    if local:
        found.append(LocalReports(Path(local)))
    found.append(_LAKE)
    return found


class _Lazy:
    """A source made on first use, so a missing AWS connection only affects the lake's reports."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._source: Any = None

    def _get(self) -> Any:
        if self._source is None:
            self._source = self._make()
        return self._source

    def hours(self) -> dict[str, set[str]]:
        return self._get().hours()

    def read(self, dataset: str, hour: str, filename: str) -> bytes | None:
        return self._get().read(dataset, hour, filename)


_LAKE = _Lazy(lake_reports)
