"""Prints which of ragmeter's packages import which, counted in module imports (docs/architecture.md shows it).

    python docs/import_graph.py

Reads the source with grimp (installed with import-linter, the `lint` extra); an edge that points right-to-left
in the layer order below would be an import back up, which `lint-imports` fails on.
"""
from __future__ import annotations

from collections import Counter

import grimp

PACKAGES = ("cli", "server", "ci", "analysis")  # within ragmeter.service, top layer first


def package_of(module: str) -> str:
    """`metrics`, one of PACKAGES, or `service` for service's shared top-level modules."""
    parts = module.split(".")
    if parts[1] == "metrics":
        return "metrics"
    return parts[2] if len(parts) > 2 and parts[2] in PACKAGES else "service"


def main() -> None:
    graph = grimp.build_graph("ragmeter.metrics", "ragmeter.service")
    edges = Counter((package_of(m), package_of(i)) for m in graph.modules
                    for i in graph.find_modules_directly_imported_by(m) if package_of(m) != package_of(i))
    order = [*PACKAGES, "service", "metrics"]
    print("| imports -> | " + " | ".join(order) + " |")
    print("|---" * (len(order) + 1) + "|")
    for a in order:
        print(f"| **{a}** | " + " | ".join(str(edges.get((a, b), "")) for b in order) + " |")


if __name__ == "__main__":
    main()
