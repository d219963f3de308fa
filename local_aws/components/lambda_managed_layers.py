"""AWS's managed Lambda layer "AWS SDK for pandas", emulated with the server's own packages.

On AWS a Python function that needs pandas or pyarrow adds the public layer AWS publishes from
account 336392948345 in every commercial region, ``arn:aws:lambda:<region>:336392948345:layer:
AWSSDKPandas-Python3<minor>[-Arm64]:<version>`` (the version differs per region). Here such an ARN
(`parse`; ``<minor>`` one of Lambda's Python runtimes, `local_aws.lambda_runtimes`, the version a
positive integer) is a layer every account may use:

- CreateFunction and UpdateFunctionConfiguration accept it when its region is the function's and
  refuse it otherwise, with Lambda's InvalidParameterValueException (`lambda_backend`); it counts
  towards the five-layer quota. Any other layer of that account does not exist here.
- GetFunction and GetFunctionConfiguration list it under ``Layers`` (`reference`);
  GetLayerVersionByArn answers it (`answer_get_layer_version_by_arn`, a gateway interceptor).
- A worker of a function that has it gets, after the function's own layers (where /opt/python is
  on AWS) and before the runtime's boto3, one read-only folder linking the server's awswrangler,
  pandas, numpy, pyarrow and what they import (`PACKAGES`, `site`; built once, like the runtime's
  boto3, by `local_aws.lambda_sandbox.package_site`). A function without it cannot import them.

LIMITATIONS: the packages are the versions this server has installed (its requirements.txt), for
its Python and architecture, whatever layer version, Python minor or ``-Arm64`` the ARN names;
only the core of awswrangler and its import-time dependencies are there, not the optional
packages AWS's layer bundles for some of its modules (redshift_connector, pg8000, pymysql,
opensearch-py...). Any version number is accepted, where AWS knows only the versions it
published in that region (another one fails there with AccessDeniedException on
lambda:GetLayerVersion). ``CodeSize`` is a fixed plausible size (`CODE_SIZE`), not the real
layer's. GetLayerVersion, ListLayerVersions and ListLayers do not know the layer, and
GetLayerVersionByArn answers only an ARN of the request's own region (another one goes on to moto,
which does not implement the operation). The packages come after all of the function's own
layers whatever the layer's place in ``Layers`` (on AWS a later layer's files replace an earlier
one's in /opt). Only account 336392948345 is known: the layers AWS publishes from other accounts
(the opt-in regions', such as ap-east-1's, GovCloud, China) are not.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from local_aws.lambda_runtimes import PYTHON_RUNTIMES
from local_aws.lambda_sandbox import package_site

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest

ACCOUNT_ID = "336392948345"
_ARN = re.compile(
    rf"arn:aws:lambda:(?P<region>[a-z]{{2}}-[a-z]+-\d+):{ACCOUNT_ID}:layer:"
    r"(?P<name>AWSSDKPandas-Python3(?P<minor>\d+)(?P<arm64>-Arm64)?):(?P<version>[1-9]\d*)"
)
# What the layer's python/ folder holds that a handler imports (import name, distribution name):
# awswrangler, pandas, numpy, pyarrow and what they import when imported.
PACKAGES = (
    ("awswrangler", "awswrangler"),
    ("pandas", "pandas"),
    ("numpy", "numpy"),
    ("pyarrow", "pyarrow"),
    ("dateutil", "python_dateutil"),
    ("six", "six"),
    ("pytz", "pytz"),
    ("tzdata", "tzdata"),
    ("packaging", "packaging"),
    ("typing_extensions", "typing_extensions"),
)
# The layer's zipped size as GetFunction and GetLayerVersionByArn report it: about the real
# layer's (tens of MB), not measured.
CODE_SIZE = 47_185_920
_LAYERS_PATH = "/2018-10-31/layers"


@dataclass(frozen=True)
class ManagedLayer:
    """One version of the managed layer, as its ARN names it."""

    arn: str
    region: str
    name: str
    runtime: str  # python3.<minor>
    architecture: str  # x86_64 or arm64
    version: int

    @property
    def reference(self) -> dict[str, Any]:
        """The layer as a function's configuration lists it under ``Layers``."""
        return {"Arn": self.arn, "CodeSize": CODE_SIZE}

    @property
    def layer_version(self) -> dict[str, Any]:
        """GetLayerVersionByArn's answer."""
        return {
            "LayerVersionArn": self.arn,
            "LayerArn": self.arn.rsplit(":", 1)[0],
            "Version": self.version,
            "Description": f"AWS SDK for pandas (awswrangler) for {self.runtime} on {self.architecture}",
            "CompatibleRuntimes": [self.runtime],
            "CompatibleArchitectures": [self.architecture],
            "LicenseInfo": "Apache-2.0",
            "Content": {"CodeSize": CODE_SIZE},
        }


def parse(arn: object) -> ManagedLayer | None:
    """The managed layer version ``arn`` names, in whichever region; None for any other ARN."""
    match = _ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None or f"python3.{match['minor']}" not in PYTHON_RUNTIMES:
        return None
    return ManagedLayer(
        arn=arn,
        region=match["region"],
        name=match["name"],
        runtime=f"python3.{match['minor']}",
        architecture="arm64" if match["arm64"] else "x86_64",
        version=int(match["version"]),
    )


def is_managed(arn: object, region: str) -> bool:
    """Whether ``arn`` is a version of the managed layer a function in ``region`` may use."""
    layer = parse(arn)
    return layer is not None and layer.region == region


_site_lock = threading.Lock()
_sites: list[str] = []


def site() -> str:
    """The folder of the layer's packages, linked once per process (and once per installed
    versions in the runtime cache); raises RuntimeError if one of them is not installed."""
    with _site_lock:
        if not _sites:
            _sites.append(package_site("aws-sdk-pandas", PACKAGES))
        return _sites[0]


def answer_get_layer_version_by_arn(request: AwsRequest) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """GetLayerVersionByArn (``GET /2018-10-31/layers?find=LayerVersion&Arn=...``) of a managed
    layer of the request's region; None for any other request (moto's to answer)."""
    if request.service != "lambda" or request.method != "GET" or request.path.rstrip("/") != _LAYERS_PATH:
        return None
    query = parse_qs(request.query_string)
    if query.get("find") != ["LayerVersion"]:
        return None
    layer = parse((query.get("Arn") or [""])[0])
    if layer is None or layer.region != request.region:
        return None
    return "200 OK", [("Content-Type", "application/json")], json.dumps(layer.layer_version).encode()


__all__ = [
    "ACCOUNT_ID",
    "CODE_SIZE",
    "PACKAGES",
    "ManagedLayer",
    "answer_get_layer_version_by_arn",
    "is_managed",
    "parse",
    "site",
]
