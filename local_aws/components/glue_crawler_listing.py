"""What a crawl reads: the objects under each S3 target (minus exclusions, hidden and empty
files), each classified once per ETag, and whether the crawler's role may read them."""

from __future__ import annotations

import re
from typing import Any

from local_aws.components import glue_schema as gs
from local_aws.components.glue_crawler_model import CrawlerConfig, CrawlFailed, ObjectRef
from local_aws.world import World


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Translate a crawler exclude pattern (relative to the include path) to a regex.

    ``*`` and ``?`` stay within one folder level, ``**`` crosses levels, ``[...]``/``[!...]``
    are character classes, ``{a,b}`` alternatives and a backslash escapes the next character.
    """
    return re.compile(_glob_body(pattern) + r"\Z", re.DOTALL)


def _glob_body(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                out.append("[^/]*")
                i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2) if pattern[i + 1] in "!^" else pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif char == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            choices = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_body(choice) for choice in choices) + ")")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def split_s3_path(path: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    rest = re.sub(r"^s3a?://", "", path.strip())
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix


def is_hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/"))


def validate(world: World, config: CrawlerConfig) -> None:
    """Fail the crawl, as Glue words it, when its role, database, targets or buckets are missing."""
    with world.lock:
        iam = world.backend("iam", config.account)
        try:
            if config.role.startswith("arn:"):
                iam.get_role_by_arn(config.role)
            else:
                iam.get_role(config.role.rsplit("/", 1)[-1])
        except Exception as exc:
            raise CrawlFailed(
                f"Service is unable to assume provided role {config.role}. Please verify role's TrustPolicy."
            ) from exc
        glue = world.backend("glue", config.account, config.region)
        if config.database not in glue.databases:
            raise CrawlFailed(
                f"Database {config.database} does not exist or principal is not authorized to create tables."
            )
        if config.other_targets:
            raise CrawlFailed(
                f"local_aws crawls only S3 targets; unsupported targets: {', '.join(config.other_targets)}"
            )
        if not config.s3_targets:
            raise CrawlFailed("The crawler has no S3 targets to crawl.")
        s3 = world.backend("s3", config.account)
        for target in config.s3_targets:
            bucket, _ = split_s3_path(target.get("Path", ""))
            if bucket not in s3.buckets:
                raise CrawlFailed(
                    f"The specified bucket does not exist (Bucket: {bucket}; Service: Amazon S3; "
                    "Status Code: 404; Error Code: NoSuchBucket)"
                )


def list_target(
    world: World, config: CrawlerConfig, target: dict[str, Any]
) -> tuple[str, str, list[ObjectRef]]:
    """The objects a target crawls: under the include path, not excluded, hidden or empty."""
    from moto.s3.models import FakeKey

    bucket_name, prefix = split_s3_path(target["Path"])
    exclusions = [glob_to_regex(pattern) for pattern in target.get("Exclusions") or []]
    refs: list[ObjectRef] = []
    with world.lock:
        bucket = world.backend("s3", config.account).buckets.get(bucket_name)
        if bucket is None:
            raise CrawlFailed(f"The specified bucket does not exist (Bucket: {bucket_name})")
        keys = {name: key for name, key in bucket.keys.items() if isinstance(key, FakeKey)}
        if prefix and not prefix.endswith("/"):
            if prefix in keys:  # the include path is one object: crawl it, in its folder
                keys = {prefix: keys[prefix]}
                prefix = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
            else:
                prefix += "/"
        for name, key in keys.items():
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix) :]
            if not rel or rel.endswith("/") or name.endswith("_$folder$") or key.size == 0:
                continue
            if is_hidden(rel) or any(pattern.match(rel) for pattern in exclusions):
                continue
            refs.append(ObjectRef(bucket_name, name, rel, key.etag, key.size))
    refs.sort(key=lambda ref: ref.key)
    return bucket_name, prefix, refs


def only_new_folders(
    world: World, config: CrawlerConfig, bucket: str, refs: list[ObjectRef]
) -> list[ObjectRef]:
    """CRAWL_NEW_FOLDERS_ONLY: drop objects in folders the catalog already has as partitions."""
    known: set[str] = set()
    with world.lock:
        glue = world.backend("glue", config.account, config.region)
        database = glue.databases.get(config.database)
        for table in list(database.tables.values()) if database else []:
            current_input = table.get_version(str(table._current_version))
            location = (current_input.get("StorageDescriptor") or {}).get("Location")
            if location and not current_input.get("PartitionKeys"):
                known.add(location.rstrip("/") + "/")
            for partition in table.partitions.values():
                part_location = (partition.partition_input.get("StorageDescriptor") or {}).get("Location")
                if part_location:
                    known.add(part_location.rstrip("/") + "/")
    fresh = []
    for ref in refs:
        folder = f"s3://{bucket}/{ref.key.rsplit('/', 1)[0]}/" if "/" in ref.key else f"s3://{bucket}/"
        if folder not in known:
            fresh.append(ref)
    return fresh


def classify_object(
    world: World,
    config: CrawlerConfig,
    ref: ObjectRef,
    store: dict[str, Any],
    signature: str,
    pending: dict[str, tuple[str, int, str, dict[str, Any]]],
) -> None:
    """Set ``ref.info``: from the cache when ETag and size match, else read and classify.

    New results go to ``pending`` and reach the store only with the catalog commit.
    """
    cache_key = f"{config.account}/{ref.bucket}/{ref.key}"
    cached = store.get(cache_key)
    if cached and cached[0] == ref.etag and cached[1] == ref.size and cached[2] == signature:
        ref.info = gs.ObjectInfo.from_plain(cached[3])
        return
    from moto.s3.models import FakeKey

    with world.lock:
        bucket = world.backend("s3", config.account).buckets.get(ref.bucket)
        key = bucket.keys.get(ref.key) if bucket is not None else None
        if not isinstance(key, FakeKey):
            return  # deleted since the listing
        body = key.value
        ref.etag, ref.size = key.etag, key.size
    ref.info = gs.classify(body, config.json_path)  # parsing is slow work: outside the lock
    pending[cache_key] = (ref.etag, ref.size, signature, ref.info.as_plain())


def check_role_reads(
    world: World, config: CrawlerConfig, bucket: str, refs: list[ObjectRef], prefix: str = ""
) -> None:
    """Fail the crawl as Glue does when its role may not list the bucket or read an object
    (trust and permissions checked by local_aws.iam)."""
    from local_aws.iam import service_steps

    role = (
        config.role if config.role.startswith("arn:") else f"arn:aws:iam::{config.account}:role/{config.role}"
    )
    crawler_arn = f"arn:aws:glue:{config.region}:{config.account}:crawler/{config.name}"
    denied = service_steps.crawler_reads(
        world, crawler_arn, role, bucket, [ref.key for ref in refs], prefix=prefix
    )
    if denied is None:
        return
    if denied.action == "sts:AssumeRole":
        raise CrawlFailed(
            f"Service is unable to assume provided role {config.role}. Please verify role's TrustPolicy."
        )
    raise CrawlFailed(f"{denied.message} (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)")
