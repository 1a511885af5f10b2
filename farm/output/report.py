"""What a render did: one :class:`VariantResult` per variant, gathered in a :class:`RenderReport`.

``RenderReport.to_json()`` is what ``farm render --report FILE`` writes; its
keys are part of the command line's contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from farm.errors import FarmError


@dataclass
class VariantResult:
    """One variant's outcome; filled in as the render goes."""

    name: str
    frames: int = 0  # output frames the plan has
    segments: int = 0  # placements in the variant (a segment used twice counts twice)
    segments_rendered: int = 0  # rendered in this run for this variant (first variant to need them)
    segments_reused: int = 0  # from the cache, or rendered earlier in this run for another variant
    output: str | None = None  # the finished file; None until it is written (or found up to date)
    seconds: float = 0.0  # from the start of the render until this variant was done or failed
    up_to_date: bool = False  # the output already held exactly this plan: not stitched again
    error: FarmError | None = None
    warnings: list[str] = field(default_factory=list)
    #: ``farm render --verify``: each segment's worst PSNR/SSIM against what its encoder was fed
    verify: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        """Finished one way or the other: written, found up to date, or failed."""
        return self.error is not None or self.output is not None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "frames": self.frames,
            "segments": self.segments,
            "segments_rendered": self.segments_rendered,
            "segments_reused": self.segments_reused,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "up_to_date": self.up_to_date,
            "warnings": self.warnings,
        }
        if self.verify is not None:
            d["verify"] = self.verify
        if self.error is not None:
            d["error"] = {
                "message": str(self.error),
                "exit_code": self.error.exit_code,
                "type": type(self.error).__name__,
            }
        return d


@dataclass
class RenderReport:
    """Every requested variant's result, the backend that ran and why."""

    backend: str
    backend_reason: str
    variants: dict[str, VariantResult]
    seconds: float = 0.0
    workers: int = 0  # the executor's workers; when nothing ran, the count asked for (0: none)
    #: cluster nodes the failure budget took out of this render -> why (see farm.execute.budget)
    nodes_excluded: dict[str, str] = field(default_factory=dict)
    #: source file -> how it was decoded, where the backend says (nvidia: ``nvdec``,
    #: ``cpu-fallback: why`` or ``cpu-chain: why``); empty for the CPU backend
    decode: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """The worst variant's exit code (0 when every variant was written)."""
        codes = [v.error.exit_code for v in self.variants.values() if v.error is not None]
        return max(codes) if codes else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "variants": {name: v.to_json() for name, v in self.variants.items()},
            "nodes_excluded": dict(self.nodes_excluded),
            "decode": dict(self.decode),
        }
