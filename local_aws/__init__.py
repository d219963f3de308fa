"""The embedded AWS: moto for the control plane, plus the data plane moto lacks.

`python -m local_aws serve` serves every AWS API the pipeline uses on one loopback endpoint.
See `local_aws.server.LocalAWS` to run it inside a process, and each module under
`local_aws.components` for one AWS behaviour and its LIMITATIONS.
"""

from local_aws.server import LocalAWS

__all__ = ["LocalAWS"]
