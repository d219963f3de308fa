"""Glue's optimistic locking on UpdateTable: a ``VersionId`` that is not the table's current one fails.

Iceberg catalogs commit a new ``metadata_location`` with ``UpdateTable(..., VersionId=<the version
read>)``; Glue refuses the update with ``ConcurrentModificationException`` when another writer
changed the table since, so two writers never both believe their snapshot is the current one.
moto ignores ``VersionId`` and would let the second writer silently overwrite the first's commit;
this component makes UpdateTable check it (an UpdateTable without ``VersionId`` is applied as
before, as Glue does).

LIMITATIONS: the message is our wording of Glue's refusal; only UpdateTable checks a version
(BatchUpdateTable-style calls do not exist in moto); ``SkipArchive`` is ignored (every version
is kept, as moto keeps them).
"""

from __future__ import annotations

from typing import Any

from moto.glue.exceptions import GlueClientError

from local_aws.components.base import Component
from local_aws.world import World


class GlueTableVersions(Component):
    """Patches moto's Glue UpdateTable response to honour ``VersionId``."""

    name = "glue_table_versions"

    def install(self, world: World) -> None:
        super().install(world)
        install_version_check()


def install_version_check() -> None:
    """Wrap moto's UpdateTable once (idempotent)."""
    from moto.glue.responses import GlueResponse

    original = GlueResponse.update_table
    if getattr(original, "_checks_version_id", False):
        return

    def update_table(self: Any) -> Any:
        expected = self.parameters.get("VersionId")
        if expected is not None:
            database_name = self.parameters.get("DatabaseName")
            table_name = (self.parameters.get("TableInput") or {}).get("Name")
            table = self.glue_backend.get_table(database_name, table_name)
            current = str(table._current_version)  # moto keeps no public accessor for it
            if str(expected) != current:
                raise ConcurrentModificationException(
                    f"Update table failed due to concurrent modifications: table {database_name}."
                    f"{table_name} is at version {current}, the update expected version {expected}"
                )
        return original(self)

    update_table._checks_version_id = True  # type: ignore[attr-defined]
    GlueResponse.update_table = update_table  # type: ignore[method-assign]


class ConcurrentModificationException(GlueClientError):
    """Glue's answer to an UpdateTable whose VersionId is stale."""

    def __init__(self, message: str) -> None:
        super().__init__("ConcurrentModificationException", message)
