"""Writes a calibrated gate threshold into ragmeter.toml (or pyproject.toml), keeping the rest of the file.

`[gate] threshold` is what `ragmeter gate` reads and, when RAGMETER_HALLUCINATION_THRESHOLD is
unset, the service's default threshold; `[calibration]` records where it came from.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")


def _tables(path: Path) -> tuple[str, str]:
    prefix = "tool.ragmeter." if path.name == "pyproject.toml" else ""
    return prefix + "gate", prefix + "calibration"


def write_threshold(path: Path, threshold: float, provenance: dict[str, object]) -> None:
    """Set `[gate] threshold` and replace the `[calibration]` table; raises ValueError for a malformed file."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    gate, calibration = _tables(path)
    lines, current, wrote = [], None, False
    for line in text.splitlines():
        if match := HEADER.match(line):
            if current == gate and not wrote:
                lines.append(f"threshold = {threshold}")
                wrote = True
            current = match.group(1)
        if current == calibration:
            continue  # the old provenance goes; a new one is written below
        if current == gate and re.match(r"^\s*threshold\s*=", line):
            if not wrote:
                lines.append(f"threshold = {threshold}")
                wrote = True
            continue
        lines.append(line)
    if current == gate and not wrote:
        lines.append(f"threshold = {threshold}")
        wrote = True
    if not wrote:
        lines += ["", f"[{gate}]", f"threshold = {threshold}"]
    lines += ["", f"[{calibration}]"] + [f"{key} = {json.dumps(value)}" for key, value in provenance.items()]
    result = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(result)  # never leave a file the gate cannot read
    path.write_text(result, encoding="utf-8")
