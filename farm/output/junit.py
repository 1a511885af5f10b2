"""Render checks as JUnit XML: what GitHub Actions, GitLab and Jenkins read.

One ``<testsuite>`` per variant, one ``<testcase>`` per check; a failed check
has a ``<failure>`` with the numbers, a metric the FFmpeg build lacks a
``<skipped>``, a check that could not run (the render failed) an ``<error>``.
Each suite carries ``<properties>``: backend, encoder family, versions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from farm.output.atomic import write_text_atomic

__all__ = ["Check", "VariantChecks", "junit_xml", "write_junit"]

Status = Literal["pass", "fail", "skip", "error"]


@dataclass
class Check:
    """One check of one variant (a JUnit testcase)."""

    name: str  # container | psnr | ssim | xpsnr | vmaf | audio | golden | render
    status: Status
    message: str = ""  # for fail, skip and error: what, with the numbers
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            **self.details,
        }


@dataclass
class VariantChecks:
    """Every check of one variant (a JUnit testsuite)."""

    variant: str
    checks: list[Check] = field(default_factory=list)
    worst: dict[str, Any] | None = None  # the worst frame of a failing metric: index, timecode, values
    strip: str | None = None  # the PNG strip written to --artifacts

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    @property
    def errored(self) -> bool:
        return any(c.status == "error" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not (self.failed or self.errored),
            "checks": {c.name: c.to_json() for c in self.checks},
            "worst": self.worst,
            "strip": self.strip,
        }


def junit_xml(suites: list[VariantChecks], properties: dict[str, str], name: str = "farm check") -> str:
    """The JUnit XML document for ``suites``."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        counts = {
            "tests": len(suite.checks),
            "failures": sum(c.status == "fail" for c in suite.checks),
            "errors": sum(c.status == "error" for c in suite.checks),
            "skipped": sum(c.status == "skip" for c in suite.checks),
        }
        for k, v in counts.items():
            totals[k] += v
        attrs = {k: str(v) for k, v in counts.items()}
        attrs.update(name=suite.variant, time=f"{sum(c.seconds for c in suite.checks):.3f}")
        el = ET.SubElement(root, "testsuite", attrs)
        props = ET.SubElement(el, "properties")
        for key, value in {**properties, **({"strip": suite.strip} if suite.strip else {})}.items():
            ET.SubElement(props, "property", name=key, value=str(value))
        for check in suite.checks:
            case = ET.SubElement(
                el,
                "testcase",
                classname=f"farm.check.{suite.variant}",
                name=check.name,
                time=f"{check.seconds:.3f}",
            )
            if check.status == "fail":
                ET.SubElement(case, "failure", message=check.message, type="regression").text = check.message
            elif check.status == "error":
                ET.SubElement(case, "error", message=check.message, type="render").text = check.message
            elif check.status == "skip":
                ET.SubElement(case, "skipped", message=check.message)
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, suites: list[VariantChecks], properties: dict[str, str]) -> None:
    write_text_atomic(path, junit_xml(suites, properties))
