"""Kinesis ListStreams as AWS pages it: ``Limit`` (default 100), ``NextToken``, one page of summaries.

moto answers ListStreams with at most 10 names (its own default), ``HasMoreStreams`` but no
``NextToken``, and the summaries of every stream: boto3's paginator (which follows ``NextToken``)
then stops after ten names, so a client listing the streams of a busy server misses most of them.
AWS (Kinesis API reference, ListStreams) lists names in alphabetical order, ``Limit`` at a time
(100 unless given), and returns a ``NextToken`` while ``HasMoreStreams``; ``StreamSummaries``
describes the page's streams. ``ExclusiveStartStreamName`` still starts after the given name.

LIMITATIONS: ``NextToken`` is the last name of the page, base64-encoded, not AWS's opaque token;
it does not expire (AWS's tokens last 300 seconds).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from typing import Any

DEFAULT_LIMIT = 100


def _after(token: str) -> str:
    from moto.kinesis.exceptions import InvalidArgumentError

    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgumentError(f"Invalid NextToken: {token}") from None


def _list_streams(self: Any) -> Any:
    from moto.core.responses import ActionResult

    streams = {stream.stream_name: stream for stream in self.kinesis_backend.list_streams()}
    names = sorted(streams)
    limit = int(self._get_param("Limit") or DEFAULT_LIMIT)
    token = self._get_param("NextToken")
    start_after = _after(token) if token else self._get_param("ExclusiveStartStreamName")
    start = bisect.bisect_right(names, start_after) if start_after else 0
    page = names[start : start + limit]
    result: dict[str, Any] = {
        "StreamNames": page,
        "HasMoreStreams": start + limit < len(names),
        "StreamSummaries": [streams[name].to_json_summary()["StreamDescriptionSummary"] for name in page],
    }
    if result["HasMoreStreams"] and page:
        result["NextToken"] = base64.urlsafe_b64encode(page[-1].encode("utf-8")).decode("ascii")
    return ActionResult(result)


def install_list_streams_patch() -> None:
    """Replace moto's ListStreams once per process."""
    from moto.kinesis.responses import KinesisResponse

    if KinesisResponse.list_streams is not _list_streams:
        KinesisResponse.list_streams = _list_streams  # type: ignore[method-assign]
