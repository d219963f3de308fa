"""What one provisioning or teardown step did to one resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "recreated": found in a state AWS allows only deleting (a failed creation), deleted and made again.
Action = Literal["created", "recreated", "updated", "unchanged", "deleted", "absent"]


@dataclass(frozen=True)
class Outcome:
    """`resource` is the plan's name for it (e.g. `lake_bucket`), `kind` its AWS type (`s3:bucket`)."""

    resource: str
    kind: str
    name: str
    action: Action

    def __str__(self) -> str:
        return f"{self.action:9} {self.kind:24} {self.name} ({self.resource})"
