"""The image gets every package folder: the Dockerfile copies it and .dockerignore lets it into the build context.

(The image itself is built and used by bench/docker_drill.py, run by .ci/docker-drill: it needs a docker engine.)
"""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copied_sources() -> set[str]:
    """What the Dockerfile's COPY lines take from the build context (not from another stage)."""
    sources: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.update(w.rstrip("/") for w in words[1:-1])
    return sources


def let_in() -> set[str]:
    """What the allow-list .dockerignore (`*` then `!path`) lets into the context."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "*" in lines, ".dockerignore is an allow-list: `*`, then `!path` for each thing the build reads"
    return {line[1:].rstrip("/") for line in lines if line.startswith("!")}


def test_the_image_gets_every_package_folder_and_the_files_the_build_reads():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    needed = folders | {"pyproject.toml", project["project"]["readme"]}
    assert needed <= copied_sources()
    assert copied_sources() <= let_in()
