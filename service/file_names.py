"""Uploaded file names as they may be stored and echoed: a safe base name, never a path."""
from __future__ import annotations

import re

# Control characters (a CR or LF would split a header or a log line) and the characters Windows refuses.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
MAX_LENGTH = 200


def safe_name(filename: str | None, default: str = "upload") -> str:
    """The file's base name alone: no folders (either slash), no control characters, not `.` or `..`, at most
    200 characters keeping the extension; `default` when nothing is left."""
    base = re.split(r"[/\\]", filename or "")[-1]
    base = _UNSAFE.sub("_", base).strip().lstrip(".")
    if not base:
        return default
    if len(base) > MAX_LENGTH:
        stem, dot, suffix = base.rpartition(".")
        keep = f"{dot}{suffix}" if dot and len(suffix) <= 16 else ""
        base = base[:MAX_LENGTH - len(keep)] + keep
    return base
