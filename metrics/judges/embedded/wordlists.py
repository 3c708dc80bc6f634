"""The embedded judge's word lists and rule tables, read from assets/words/<module>.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WORDS_DIR = Path(__file__).resolve().parent / "assets" / "words"


def load(module: str) -> dict[str, Any]:
    """The word lists of one rule module (text, contradiction, support, relevance, synonyms), by name."""
    # Read once, at the importing module's import; a missing file is an install fault and fails loudly.
    return json.loads((WORDS_DIR / f"{module}.json").read_text(encoding="utf-8"))
