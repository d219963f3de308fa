"""ListStreams pages as AWS pages it, so boto3's paginator sees every stream of a busy server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import unique


def test_the_paginator_lists_every_stream_a_page_at_a_time(aws: Callable[..., Any]) -> None:
    kinesis = aws("kinesis")
    ours = sorted(unique("list") for _ in range(13))
    for name in ours:
        kinesis.create_stream(StreamName=name, ShardCount=1)
    pages = list(kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 5}))
    listed = [name for page in pages for name in page["StreamNames"]]
    # Every stream once, in alphabetical order, however many other tests' streams the server holds.
    assert set(ours) <= set(listed) and len(listed) == len(set(listed))
    assert listed == sorted(listed)
    for page in pages:
        assert len(page["StreamNames"]) <= 5
        assert [s["StreamName"] for s in page["StreamSummaries"]] == page["StreamNames"]
        assert ("NextToken" in page) == page["HasMoreStreams"]
    assert not pages[-1]["HasMoreStreams"]
    # Without a Limit, AWS's default page is 100 names (moto's was 10).
    assert len(kinesis.list_streams()["StreamNames"]) == min(100, len(listed))
    # ExclusiveStartStreamName starts after that name.
    after = kinesis.list_streams(ExclusiveStartStreamName=ours[5], Limit=10000)["StreamNames"]
    assert after[: len(ours) - 6] == [n for n in listed if n > ours[5]][: len(ours) - 6]
    for name in ours:
        kinesis.delete_stream(StreamName=name)


def test_a_next_token_that_is_not_one_is_refused(aws: Callable[..., Any]) -> None:
    with pytest.raises(ClientError) as refused:
        aws("kinesis").list_streams(NextToken="%%%not-a-token%%%")
    assert refused.value.response["Error"]["Code"] == "InvalidArgumentException"
