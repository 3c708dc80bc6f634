"""ragmeter.toml's one reader and writer: the settings, the CI gate's rules and `calibrate --write` use it.

A file is found as: an explicit path, else ./ragmeter.toml, else ./pyproject.toml's [tool.ragmeter]
(a file that lacks what the caller looks for is passed over for the next one). Read with tomllib; written
with tomlkit, so that the user's comments and layout stay as they were.

`[gate] threshold` is what `ragmeter gate` reads and, when RAGMETER_HALLUCINATION_THRESHOLD is
unset, the service's default threshold; `[embedded] claim_cutoff`, when RAGMETER_EMBEDDED_CLAIM_CUTOFF
is unset, the embedded judge's; `[calibration]` records where they came from.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tomlkit
from tomlkit.items import Table

T = TypeVar("T")
# Where a config file is looked for, in order, when none is named.
DEFAULT_FILES = (Path("ragmeter.toml"), Path("pyproject.toml"))


class ConfigFileError(ValueError):
    """A config file that cannot be read or is not valid TOML; the message names it."""


def is_pyproject(path: Path) -> bool:
    """pyproject.toml keeps ragmeter's tables under [tool.ragmeter]."""
    return path.name == "pyproject.toml"


def read(path: Path) -> dict[str, Any]:
    """ragmeter's tables in a file: all of a ragmeter.toml, [tool.ragmeter] of a pyproject.toml."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigFileError(f"{path}: {exc}") from exc
    return data.get("tool", {}).get("ragmeter", {}) if is_pyproject(path) else data


def find(path: Path | None, pick: Callable[[Path, dict[str, Any]], T | None]) -> tuple[Path, T] | None:
    """The first existing file (`path`, else ragmeter.toml, else pyproject.toml) in which `pick` finds something
    (not None), with what it found; None when no file has it."""
    for candidate in [path] if path is not None else DEFAULT_FILES:
        if candidate.is_file() and (found := pick(candidate, read(candidate))) is not None:
            return candidate, found
    return None


def write_threshold(path: Path, threshold: float, provenance: dict[str, object],
                    claim_cutoff: float | None = None) -> None:
    """Set `[gate] threshold` (and `[embedded] claim_cutoff`), replace `[calibration]`; ValueError for a bad file."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        tomllib.loads(text)
        document = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.ParseError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    tables: Any = document
    if is_pyproject(path):
        tables = _table(_table(document, "tool", super_table=True), "ragmeter", super_table=True)
    _table(tables, "gate")["threshold"] = threshold
    if claim_cutoff is not None:
        _table(tables, "embedded")["claim_cutoff"] = claim_cutoff
    if "calibration" in tables:  # the old provenance goes; the new one is written last
        del tables["calibration"]
    calibration = tomlkit.table()
    for key, value in provenance.items():
        calibration[key] = value
    calibration.add(tomlkit.nl())  # a blank line before any table that follows it (pyproject's [tool.x])
    tables["calibration"] = calibration
    result = tomlkit.dumps(document).rstrip("\n") + "\n"
    tomllib.loads(result)  # never leave a file the gate cannot read
    path.write_text(result, encoding="utf-8")


def _table(parent: Any, name: str, super_table: bool = False) -> Table:
    """`parent`'s table `name`, added (at the end) when missing."""
    if name not in parent:
        parent[name] = tomlkit.table(is_super_table=super_table)
    return parent[name]
