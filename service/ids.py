"""The id rule: an id is kept exactly as given (number or text) and compared as text.

CSV and Parquet carry ids as text, so id 7 and id "7" would be one id in those downloads, in a
comparison and in a re-upload: an upload holding both is refused, as is an id a spreadsheet would run as a
formula (`=...`, `@...`), since a download never alters an id (no `'` prefix) to defuse it. Ids may repeat
in a file; a comparison pairs by id only the ids that are unique in both runs (docs/batch.md).
"""
from __future__ import annotations

import re

from ragmeter.service.rows import neutralise_formula

Id = str | int | None
# A number a spreadsheet reads as a number ("-1", "+2.5", "1e3"), not as a formula.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def id_text(value: Id) -> str | None:
    """How an id reads in every format and how ids are compared; None for no id."""
    return None if value is None or value == "" else str(value)


def id_problems(ids: list[Id]) -> list[tuple[int, str]]:
    """(1-based row, message) for each id that collides with another of another type or would run as a formula."""
    problems: list[tuple[int, str]] = []
    first: dict[str, tuple[int, Id]] = {}
    for row, value in enumerate(ids, 1):
        text = id_text(value)
        if text is None:
            continue
        if isinstance(value, str) and neutralise_formula(value) != value and not _NUMBER.fullmatch(value.strip()):
            problems.append((row, f"id {value!r} would run as a formula in a spreadsheet, and ids are never altered "
                                  "in downloads: give it another id"))
        seen = first.setdefault(text, (row, value))
        if type(seen[1]) is not type(value):
            problems.append((row, f"id {value!r} ({_kind(value)}) is id {seen[1]!r} of row {seen[0]} "
                                  f"({_kind(seen[1])}) once written as text (CSV, Parquet, comparisons): use one "
                                  "type for ids"))
    return problems


def _kind(value: Id) -> str:
    return "text" if isinstance(value, str) else "a number"
