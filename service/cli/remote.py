"""What the commands that talk to a running service share (alerts, records, monitor): its URL and key, JSON
output, and how their tables print."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console

DEFAULT_URL = "http://127.0.0.1:8000"


def service_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--url (the key is RAGMETER_API_KEY) and --json, on one command."""
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL}); the key in "
                                                            "RAGMETER_API_KEY when it requires one")
    parser.add_argument("--json", action="store_true", help="print the service's JSON answer")
    return parser


def console() -> Console:
    """Standard output; wide when it is not a terminal, so piped tables do not wrap at 80 columns."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def num(value: float | None) -> str:
    """A score as the tables show it."""
    return "-" if value is None else f"{value:.3f}"
