"""The errors a definition file, or a lookup by pipeline name, can raise; both name what to fix."""

from __future__ import annotations

from pathlib import Path

from cdc_pipeline.settings import REPO_ROOT


class PipelineDefinitionError(ValueError):
    """A definition file cannot be used; the message names the file and, when there is one, the field."""

    def __init__(self, source: Path | str, field_name: str | None, message: str) -> None:
        self.source = shown(source)
        self.field = field_name
        where = f"{self.source}: field {field_name!r}" if field_name else self.source
        super().__init__(f"{where}: {message}")


class UnknownPipelineError(KeyError):
    """No pipeline has that name."""

    def __str__(self) -> str:
        return str(self.args[0])


def shown(path: Path | str) -> str:
    """A path as people read it: relative to the repository when it is inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
