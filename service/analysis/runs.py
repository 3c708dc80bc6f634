"""Where a compared run comes from when it is a file: a scored results file or an uploaded one.

A batch is the server's comparisons router's to read.
"""
from __future__ import annotations

import tempfile
from pathlib import Path, PurePath

from ragmeter.service import rows as scored_rows
from ragmeter.service.analysis.comparison import RunRow
from ragmeter.service.file_names import safe_name

SCORED_FORMATS = ("jsonl", "csv", "parquet")


def file_run(path: Path) -> list[RunRow]:
    """Rows of a scored file (`ragmeter score --out`, batch results); raises ValueError or OSError."""
    try:
        return [RunRow(r) for r in scored_rows.read(path)]
    except ValueError as exc:
        raise ValueError(f"{path.name}: not a scored results file ({str(exc).splitlines()[0]})") from exc


def uploaded_run(data: bytes, filename: str) -> list[RunRow]:
    """An uploaded scored file's rows; raises ValueError naming the file (its base name) when it cannot be read.

    The message never holds the temporary folder it was read from: it goes back to the client."""
    filename = safe_name(filename)
    suffix = PurePath(filename).suffix.lower()
    if suffix.lstrip(".") not in SCORED_FORMATS:
        raise ValueError(f"{filename}: scored results must be .jsonl, .csv or .parquet")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"run{suffix}"
        path.write_bytes(data)
        try:
            return file_run(path)
        except (ValueError, OSError) as exc:
            message = str(exc).replace(str(path), filename).replace(folder, "").replace(path.name, filename)
            raise ValueError(message) from exc
