"""JSON text from users (upload lines, CSV cells, form fields) read into values, or one ValueError that says why.

`json.loads` alone crashes on hostile text in ways a caller does not expect: RecursionError when nested
deeply, ValueError on integers longer than Python converts, and it accepts escaped lone surrogates
that no UTF-8 writer (pyarrow, the response) can encode later. Every door reads user JSON here.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadJSON(ValueError):
    """Text that is not usable JSON; `field` is the dotted path to the bad value, `malformed` a syntax error."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None, malformed: bool = False):
        super().__init__(f"{field}: {message}" if field else message)
        self.message, self.field, self.line, self.malformed = message, field, line, malformed


@dataclass(frozen=True)
class _LongInteger:
    digits: int


def _integer(text: str) -> int | _LongInteger:
    limit = sys.get_int_max_str_digits()
    digits = len(text.lstrip("-"))
    # Marked rather than raised here, so that the problem can name the field that holds it.
    return _LongInteger(digits) if limit and digits > limit else int(text)


def loads(text: str) -> Any:
    """The JSON value of `text`; raises BadJSON for bad syntax, deep nesting, over-long integers, lone surrogates."""
    try:
        value = json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"malformed JSON: {exc.msg}", line=exc.lineno, malformed=True) from exc
    except RecursionError as exc:
        raise BadJSON("JSON nested too deeply") from exc
    problem = _first_problem(value)
    if problem is not None:
        raise BadJSON(problem[1], field=problem[0] or None)
    return value


def _first_problem(value: Any) -> tuple[str, str] | None:
    """(dotted path, message) of the first value no writer can carry; walked without recursion."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _LongInteger):
            return path, (f"an integer of {item.digits} digits is longer than the "
                          f"{sys.get_int_max_str_digits()} allowed")
        if isinstance(item, str) and _SURROGATE.search(item):
            return path, "holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text"
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if _SURROGATE.search(key):
                    return path, f"key {key!r} holds a lone surrogate (\\ud800-\\udfff), which is not valid text"
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), child) for i, child in reversed(list(enumerate(item))))
    return None
