"""Random requests at every endpoint the pipeline uses: never a 5xx, the server stays up, nothing stored changes.

For each service, hypothesis draws requests between garbage and plausible: known and unknown
operations, random bytes, random JSON, and JSON or query parameters named after the operation's
real input members; random methods, paths and sub-resources for the REST services. Resource names
are random, so the protected table, object and stream (created first, compared last) are never
named by a request that could legitimately change them.
"""

from __future__ import annotations

import http.client
import json
import string
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import unique, wait_until

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
HEALTH_PATH = "/_local_aws/health"
_MODELS = botocore.session.get_session()
EXAMPLES = 60

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests on every run: a failure is reproducible, CI never flakes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# -- values -------------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
# What http.client can put in a header: latin-1 without control characters.
header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40
)
names = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/%é", min_size=0, max_size=40)


def member_documents(shape: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts keyed by the shape's real member names, with random values: plausible but wrong."""
    members = sorted(shape.members) if shape is not None else []
    if not members:
        return st.dictionaries(st.text(max_size=12), json_values, max_size=4)
    return st.dictionaries(st.sampled_from(members), json_values | names, max_size=len(members))


# -- one raw request ----------------------------------------------------------------------------
class Endpoint:
    def __init__(self, endpoint_url: str) -> None:
        host, port = endpoint_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.endpoint_url = endpoint_url

    def send(self, signing_name: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            connection.putheader("Authorization", SIGNED.format(service=signing_name))
            for key, value in headers.items():
                connection.putheader(key, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            payload = answer.read()
            # 501 NotImplemented is local_aws naming an operation AWS has and moto lacks: an answer.
            missing = answer.status == 501 and b"NotImplemented" in payload
            assert answer.status < 500 or missing, (
                f"{method} {path} {headers} {body[:200]!r} -> {answer.status} {payload[:500]!r}"
            )
            if answer.status >= 400 and method != "HEAD":  # a HEAD answer has no body to misread
                assert not answer.getheader("Content-Type", "").startswith("text/html"), payload[:300]
                assert b"<html" not in payload[:200].lower(), payload[:300]
            return answer.status
        finally:
            connection.close()

    def healthy(self) -> bool:
        with urllib.request.urlopen(self.endpoint_url + HEALTH_PATH, timeout=30) as answer:
            return json.loads(answer.read())["status"] == "running"


# -- what must not change -----------------------------------------------------------------------
class Protected:
    """A table with items, an object and a stream with records, to compare before and after."""

    def __init__(self, aws: Callable[..., Any]) -> None:
        self.aws = aws
        self.table, self.bucket, self.stream = unique("fuzz-kept"), unique("fuzz-kept"), unique("fuzz-kept")
        dynamodb, s3, kinesis = aws("dynamodb"), aws("s3"), aws("kinesis")
        dynamodb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for index in range(5):
            dynamodb.put_item(TableName=self.table, Item={"pk": {"S": f"k{index}"}, "n": {"N": str(index)}})
        s3.create_bucket(Bucket=self.bucket)
        s3.put_object(Bucket=self.bucket, Key="kept/object.json", Body=b'{"kept": true}\n' * 100)
        kinesis.create_stream(StreamName=self.stream, ShardCount=1)
        wait_until(
            lambda: (
                kinesis.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
                == "ACTIVE"
            ),
            what="the protected stream",
        )
        for index in range(5):
            kinesis.put_record(
                StreamName=self.stream, Data=f"record {index}".encode(), PartitionKey=str(index)
            )

    def state(self) -> dict[str, Any]:
        items = self.aws("dynamodb").scan(TableName=self.table)["Items"]
        body = self.aws("s3").get_object(Bucket=self.bucket, Key="kept/object.json")["Body"].read()
        kinesis = self.aws("kinesis")
        shard = kinesis.list_shards(StreamName=self.stream)["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName=self.stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )
        records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        return {
            "items": sorted(json.dumps(item, sort_keys=True) for item in items),
            "object": body,
            "records": [(record["SequenceNumber"], record["Data"]) for record in records],
        }


@pytest.fixture(scope="module")
def protected(aws: Callable[..., Any]) -> Iterator[Protected]:
    kept = Protected(aws)
    before = kept.state()
    yield kept
    assert kept.state() == before, "a fuzzed request changed data stored before it"


@pytest.fixture(scope="module")
def endpoint(endpoint_url: str) -> Endpoint:
    return Endpoint(endpoint_url)


# -- JSON protocols -----------------------------------------------------------------------------
JSON_SERVICES = ["dynamodb", "dynamodbstreams", "kinesis", "firehose", "glue", "athena", "logs"]
_CONTENT_TYPES = [
    "application/x-amz-json-1.0",
    "application/x-amz-json-1.1",
    "application/json",
    "text/plain",
    "",
]


@st.composite
def json_requests(draw: st.DrawFn, service: str) -> tuple[str, bytes, dict[str, str]]:
    model = _MODELS.get_service_model(service)
    operation = draw(st.sampled_from(sorted(model.operation_names)) | header_text)
    prefix = draw(st.just(model.metadata["targetPrefix"]) | header_text)
    target = draw(st.just(f"{prefix}.{operation}") | header_text)
    shape = model.operation_model(operation).input_shape if operation in model.operation_names else None
    body = draw(
        st.binary(max_size=200)
        | json_values.map(lambda value: json.dumps(value).encode())
        | member_documents(shape).map(lambda value: json.dumps(value).encode())
    )
    headers = {"X-Amz-Target": target, "Content-Type": draw(st.sampled_from(_CONTENT_TYPES))}
    return model.signing_name, body, headers


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_json_services_answer_random_requests_with_4xx(
    service: str, endpoint: Endpoint, protected: Protected
) -> None:
    @FUZZ
    @given(request=json_requests(service))
    def fuzz(request: tuple[str, bytes, dict[str, str]]) -> None:
        signing_name, body, headers = request
        endpoint.send(signing_name, "POST", "/", body, headers)

    fuzz()
    assert endpoint.healthy()


# -- query protocols ----------------------------------------------------------------------------
@st.composite
def query_requests(draw: st.DrawFn, service: str) -> tuple[str, bytes, dict[str, str]]:
    model = _MODELS.get_service_model(service)
    action = draw(st.sampled_from(sorted(model.operation_names)) | st.text(max_size=20))
    shape = model.operation_model(action).input_shape if action in model.operation_names else None
    members = sorted(shape.members) if shape is not None and shape.members else ["Name"]
    params = draw(st.dictionaries(st.sampled_from(members) | st.text(max_size=10), names, max_size=5))
    pairs = [("Action", action), ("Version", model.api_version), *params.items()]
    body = draw(st.just(urllib.parse.urlencode(pairs).encode()) | st.binary(max_size=100))
    return model.signing_name, body, {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("service", ["iam", "sns", "sts"])
def test_query_services_answer_random_requests_with_4xx(
    service: str, endpoint: Endpoint, protected: Protected
) -> None:
    @FUZZ
    @given(request=query_requests(service))
    def fuzz(request: tuple[str, bytes, dict[str, str]]) -> None:
        signing_name, body, headers = request
        endpoint.send(signing_name, "POST", "/", body, headers)

    fuzz()
    assert endpoint.healthy()


# -- REST protocols -----------------------------------------------------------------------------
segments = st.text(alphabet=string.ascii_lowercase + string.digits + "-._", min_size=1, max_size=30)
# Headers S3 reads, given random values.
_S3_HEADERS = [
    "Range",
    "x-amz-copy-source",
    "x-amz-copy-source-range",
    "x-amz-acl",
    "x-amz-tagging",
    "x-amz-meta-owner",
    "x-amz-storage-class",
    "x-amz-server-side-encryption",
    "Content-MD5",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "x-amz-checksum-sha256",
    "x-amz-object-lock-mode",
    "x-amz-expected-bucket-owner",
]
_S3_SUBRESOURCES = [
    "",
    "tagging",
    "delete",
    "versioning",
    "lifecycle",
    "policy",
    "acl",
    "uploads",
    "location",
    "cors",
]
_REST_HEADERS = ["X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context"]
_REST_PATHS = {
    "lambda": [
        "/2015-03-31/functions",
        "/2015-03-31/functions/{name}",
        "/2015-03-31/functions/{name}/invocations",
        "/2015-03-31/functions/{name}/configuration",
        "/2015-03-31/functions/{name}/code",
        "/2015-03-31/event-source-mappings/",
        "/2015-03-31/event-source-mappings/{name}",
    ],
    "pipes": ["/v1/pipes", "/v1/pipes/{name}", "/v1/pipes/{name}/start", "/v1/pipes/{name}/stop"],
}


@st.composite
def s3_requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    bucket, key = draw(segments), draw(st.none() | names.map(lambda text: urllib.parse.quote(text, safe="/")))
    path = f"/{bucket}" + (f"/{key}" if key is not None else "")
    query = draw(st.sampled_from(_S3_SUBRESOURCES))
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]))
    body = draw(
        st.binary(max_size=200) | st.sampled_from([b"<Delete><Object><Key>a</Key></Object></Delete>", b"<x>"])
    )
    headers = draw(st.dictionaries(st.sampled_from(_S3_HEADERS), header_text, max_size=3))
    return method, path + (f"?{query}" if query else ""), body, headers


@st.composite
def rest_json_requests(draw: st.DrawFn, service: str) -> tuple[str, str, bytes, dict[str, str]]:
    template = draw(st.sampled_from(_REST_PATHS[service]))
    path = template.format(name=draw(segments))
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE"]))
    body = draw(
        st.binary(max_size=200)
        | json_values.map(lambda value: json.dumps(value).encode())
        | st.dictionaries(
            st.sampled_from(
                ["FunctionName", "Runtime", "Role", "Handler", "Code", "Source", "Target", "RoleArn"]
            ),
            json_values | names,
            max_size=5,
        ).map(lambda value: json.dumps(value).encode())
    )
    headers = draw(st.dictionaries(st.sampled_from(_REST_HEADERS), header_text, max_size=2))
    query = draw(st.sampled_from(["", "?Qualifier=", "?Marker=", "?MaxItems="]))
    query += urllib.parse.quote(draw(header_text)) if query else ""
    return method, path + query, body, {"Content-Type": "application/json", **headers}


@pytest.mark.parametrize("service", ["s3", "lambda", "pipes"])
def test_rest_services_answer_random_requests_with_4xx(
    service: str, endpoint: Endpoint, protected: Protected
) -> None:
    strategy = s3_requests() if service == "s3" else rest_json_requests(service)

    @FUZZ
    @given(request=strategy)
    def fuzz(request: tuple[str, str, bytes, dict[str, str]]) -> None:
        method, path, body, headers = request
        endpoint.send(service, method, path, body, headers)

    fuzz()
    assert endpoint.healthy()
