"""How the CLI reports a problem: a red line on stderr and exit status 2."""
from __future__ import annotations

from rich.console import Console

err = Console(stderr=True)


def error(message: object) -> int:
    """Print an error on stderr; exit status 2 means bad usage or no judge."""
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return 2
