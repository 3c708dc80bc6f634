"""Writes a calibrated gate threshold (and claim cut-off) into ragmeter.toml (or pyproject.toml), keeping the rest.

`[gate] threshold` is what `ragmeter gate` reads and, when RAGMETER_HALLUCINATION_THRESHOLD is
unset, the service's default threshold; `[embedded] claim_cutoff`, when RAGMETER_EMBEDDED_CLAIM_CUTOFF
is unset, the embedded judge's; `[calibration]` records where they came from.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")


def _prefix(path: Path) -> str:
    return "tool.ragmeter." if path.name == "pyproject.toml" else ""


def write_threshold(path: Path, threshold: float, provenance: dict[str, object],
                    claim_cutoff: float | None = None) -> None:
    """Set `[gate] threshold` (and `[embedded] claim_cutoff`), replace `[calibration]`; ValueError for a bad file."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    prefix = _prefix(path)
    values = {prefix + "gate": {"threshold": threshold}}
    if claim_cutoff is not None:
        values[prefix + "embedded"] = {"claim_cutoff": claim_cutoff}
    calibration = prefix + "calibration"
    pending = {table: dict(keys) for table, keys in values.items()}  # what is still to write, per table

    def flush(table: str | None) -> list[str]:
        return [f"{key} = {value}" for key, value in pending.pop(table, {}).items()] if table is not None else []

    lines, current = [], None
    for line in text.splitlines():
        if match := HEADER.match(line):
            lines += flush(current)
            current = match.group(1)
        if current == calibration:
            continue  # the old provenance goes; a new one is written below
        key = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=", line)
        if current in values and key and key.group(1) in values[current]:
            if key.group(1) in pending.get(current, {}):
                lines.append(f"{key.group(1)} = {pending[current].pop(key.group(1))}")
            continue
        lines.append(line)
    lines += flush(current)
    for table in list(pending):
        lines += ["", f"[{table}]", *flush(table)]
    lines += ["", f"[{calibration}]"] + [f"{key} = {json.dumps(value)}" for key, value in provenance.items()]
    result = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(result)  # never leave a file the gate cannot read
    path.write_text(result, encoding="utf-8")
