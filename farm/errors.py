"""One error hierarchy for farm.

Every error carries where it happened (variant, clip, source path, frame range)
and maps to a process exit code (sysexits-style), so the command line can turn
any :class:`FarmError` into one clear message and a non-zero exit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Where:
    """The place an error refers to; every field is optional."""

    variant: str | None = None
    clip: str | None = None
    path: str | None = None
    #: half-open range of frames ``[start, end)``; source or output frames as ``unit`` says
    frames: tuple[int, int] | None = None
    unit: str = "source"

    def describe(self) -> str:
        parts = []
        if self.variant is not None:
            parts.append(f"variant {self.variant!r}")
        if self.clip is not None:
            parts.append(f"clip {self.clip!r}")
        if self.path is not None:
            parts.append(f"file {self.path}")
        if self.frames is not None:
            parts.append(f"{self.unit} frames [{self.frames[0]}, {self.frames[1]})")
        return ", ".join(parts)


class FarmError(Exception):
    """Base of every error farm raises on purpose."""

    exit_code = 70

    def __init__(self, message: str, where: Where | None = None, hint: str | None = None):
        self.message = message
        self.where = where or Where()
        self.hint = hint
        super().__init__(self.__str__())

    def with_where(self, **fields: object) -> FarmError:
        """A copy of this error with more context filled in (existing fields win)."""
        current = {k: getattr(self.where, k) for k in ("variant", "clip", "path", "frames", "unit")}
        for key, value in fields.items():
            if current.get(key) is None or key == "unit":
                current[key] = value
        err = type(self).__new__(type(self))
        FarmError.__init__(err, self.message, Where(**current), self.hint)
        return err

    def __str__(self) -> str:
        where = self.where.describe() if hasattr(self, "where") else ""
        text = f"{where}: {self.message}" if where else self.message
        if getattr(self, "hint", None):
            text += f" ({self.hint})"
        return text

    def __reduce__(self) -> tuple[object, ...]:  # survive pickling across Ray workers
        return (_rebuild, (type(self), self.message, self.where, self.hint))


def _rebuild(cls: type[FarmError], message: str, where: Where, hint: str | None) -> FarmError:
    err = cls.__new__(cls)
    FarmError.__init__(err, message, where, hint)
    return err


class ProjectError(FarmError, ValueError):
    """farm.toml is malformed: unknown key, bad value, missing section."""

    exit_code = 65


class CutError(FarmError, ValueError):
    """A cut (OTIO timeline) cannot be rendered as written."""

    exit_code = 65


class MediaError(FarmError, ValueError):
    """A source file is unreadable, truncated, not video, or too short for its clip."""

    exit_code = 65


class MissingInputError(FarmError, FileNotFoundError):
    """A project, cut, LUT or media file does not exist."""

    exit_code = 66


class BackendUnavailableError(FarmError, RuntimeError):
    """A requested backend cannot run here (no GPU, no CuPy, no PyNvVideoCodec...)."""

    exit_code = 69


class OutputError(FarmError, OSError):
    """The output or cache cannot be written."""

    exit_code = 73


class InternalError(FarmError, RuntimeError):
    """A bug in farm, or a check of farm's own output that failed."""

    exit_code = 70
