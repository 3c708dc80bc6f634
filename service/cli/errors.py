"""How the CLI reports a problem: a red line on stderr and exit status 2."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)


def error(message: object) -> int:
    """Print an error on stderr; exit status 2 means bad usage or no judge."""
    # The message is text, not markup: "ragmeter[ragas]" must print as written.
    err.print(f"[red]error:[/red] {escape(str(message))}", soft_wrap=True)
    return 2


class CommandError(Exception):
    """A problem a command reports with `error` and exit status 2."""
