"""Checks the relative links of README.md: each names a file of the repository, and a #anchor into a
Markdown page names one of its headings (as mkdocs spells heading ids). Exit 1 listing the broken ones.

    python docs/check_links.py [FILE.md ...]   # README.md by default
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def outside_code(text: str) -> list[str]:
    """The lines of a Markdown text that are not in a fenced or indented code block."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and not line.startswith("    "):
            lines.append(line)
    return lines


def anchors(page: Path) -> set[str]:
    """The heading ids of a Markdown page, as the toc extension makes them for mkdocs."""
    ids = set()
    for line in outside_code(page.read_text(encoding="utf-8")):
        if match := HEADING.match(line):
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).replace("`", "").replace("*", "")
            ids.add(slugify(text, "-"))
    return ids


def broken_links(source: Path) -> list[str]:
    """Each relative link of `source` that names a missing file or heading, with why."""
    problems = []
    for line in outside_code(source.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL with a scheme, or a heading of the same page
            path_part, _, anchor = target.partition("#")
            path = (source.parent / path_part).resolve()
            if not path.exists():
                problems.append(f"{source.name}: {target}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                problems.append(f"{source.name}: {target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    return problems


def main(argv: list[str]) -> int:
    sources = [Path(arg).resolve() for arg in argv] or [ROOT / "README.md"]
    problems = [problem for source in sources for problem in broken_links(source)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"links of {', '.join(s.name for s in sources)}: all found")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
