"""Build the Docker image and use it as a user would; prints each check with its numbers, exits 1 on any failure.

    python bench/docker_drill.py [--base ragmeter-base:bookworm] [--tag ragmeter:drill] [--no-compose]

One container with an API key and a volume: /healthz, an evaluation (401 without the key), a batch upload and its
download in every format, the process's user, docker's health status, the batch kept across a restart and across
a new container on the same volume. Then compose.yaml (two replicas on PostgreSQL) the same way, when a compose tool
is installed. Containers, volumes and compose projects it made are removed even when a check fails.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
import pyarrow.parquet as pq

from ragmeter.metrics.judges.embedded.encoder import QUANTIZED_LABEL

from docker_setup import (ROOT, SetupFailed, build, compose_command, docker, ensure_base, ensure_engine,
                          image_exists, image_mb, wait_for)

EVAL_FILE = ROOT / "examples" / "data" / "eval.jsonl"
SAMPLE = {"question": "What is the capital of Germany?", "contexts": ["Berlin is the capital of Germany."],
          "answer": "Berlin is the capital of Germany."}
START_S, HEALTHY_S, BATCH_S = 180, 240, 600  # deadlines: generous, since the machine may be busy


@dataclass
class Drill:
    """The checks' outcomes, and what to remove at the end."""
    failed: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    projects: list[tuple[list[str], dict]] = field(default_factory=list)  # compose command and environment

    def check(self, name: str, ok: bool, detail: object = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' if detail != '' else ''}{detail}", flush=True)
        if not ok:
            self.failed.append(name)
        return ok

    def clean_up(self) -> None:
        for command, env in self.projects:
            docker_compose(command, "down", "-v", "--remove-orphans", check=False, env=env)
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes:
            docker("volume", "rm", "-f", name, check=False)


def docker_compose(command: list[str], *args: str, check: bool = True, env: dict | None = None) -> str:
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise SetupFailed(f"{' '.join(command[-4:])} {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout.strip()


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def logs(container: str) -> str:
    """The container's last output lines, both streams."""
    return "\n".join(docker("logs", "--tail", "30", container, check=False, stderr=stream) for stream in (False, True))


def running(container: str) -> bool:
    return docker("inspect", "-f", "{{.State.Running}}", container, check=False) == "true"


def wait_healthz(url: str, container: str) -> float:
    """Seconds until /healthz answers 200; fails at once, with the log, if the container stops."""
    started = time.monotonic()

    def answered() -> bool:
        if not running(container):
            raise SetupFailed(f"{container} stopped:\n{logs(container)}")
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answered, START_S, f"{container} answering /healthz")
    return time.monotonic() - started


def wait_healthy(container: str) -> float:
    """Seconds until docker's own HEALTHCHECK calls the container healthy (it runs every 10 s)."""
    started = time.monotonic()

    def healthy() -> bool:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", container)
        if status == "unhealthy":
            health = docker("inspect", "-f", "{{json .State.Health}}", container)
            raise SetupFailed(f"{container} is unhealthy: {health}")
        return status == "healthy"

    wait_for(healthy, HEALTHY_S, f"{container} healthy")
    return time.monotonic() - started


def published(container: str) -> str:
    """The URL of the container's port 8000 on the host."""
    address = docker("port", container, "8000/tcp").splitlines()[0]
    return f"http://127.0.0.1:{address.rsplit(':', 1)[1]}"


def start(drill: Drill, image: str, name: str, volume: str, key: str) -> str:
    """A detached container on a volume with one API key, its port published on a free loopback port; its URL."""
    drill.containers.append(name)
    docker("run", "-d", "--name", name, "-p", "127.0.0.1::8000", "-v", f"{volume}:/data",
           "-e", f"RAGMETER_API_KEYS={json.dumps({'drill': key})}", image)
    return published(name)


def check_image(drill: Drill, image: str, base: str) -> None:
    """Size, what takes it, and what must not be in it."""
    size, base_size = image_mb(image), image_mb(base)
    drill.check("image size", True, f"{size:.0f} MB ({base_size:.0f} MB base + {size - base_size:.0f} MB ragmeter)")
    listing = docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                     "du -sm /opt/venv/lib/python3*/site-packages/* | sort -rn | head -8")
    print("     largest in the venv (MB): " + ", ".join(" ".join(line.split()[::-1]).rsplit("/", 1)[-1]
                                                    for line in listing.splitlines()))
    absent = docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                    "for p in gcc cc g++ make pip; do command -v $p; done; "
                    "ls -d /root/.cache/pip /src /run/secrets/ca /opt/venv/lib/python3*/site-packages/tests "
                    "/opt/venv/lib/python3*/site-packages/bench 2>/dev/null; true")
    drill.check("no compilers, pip, build sources, tests, bench or CA secret in the image", absent == "", absent)
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image))
    drill.check("image runs `ragmeter serve` on 0.0.0.0:8000 as a non-root user, /data a volume",
                config["Cmd"][:2] == ["ragmeter", "serve"] and "0.0.0.0" in config["Cmd"]
                and config["User"] not in ("", "root", "0") and "/data" in (config.get("Volumes") or {}),
                f"Cmd {' '.join(config['Cmd'])}, User {config['User']}")


def check_refuses_open(drill: Drill, image: str) -> None:
    """Without keys, a container listening on 0.0.0.0 must refuse to start, saying why."""
    name = f"ragmeter-drill-open-{os.getpid()}"
    drill.containers.append(name)
    docker("run", "-d", "--name", name, image)
    wait_for(lambda: not running(name), START_S, f"{name} exiting")
    code = docker("inspect", "-f", "{{.State.ExitCode}}", name)
    said = logs(name)
    drill.check("without API keys the container refuses to start, saying why",
                code != "0" and "RAGMETER_API_KEYS" in said, f"exit {code}")


def check_evaluate(drill: Drill, url: str, key: str, where: str = "") -> None:
    body = {"samples": [SAMPLE]}
    refused = httpx.post(f"{url}/v1/evaluate", json=body, timeout=120)
    drill.check(f"{where}/v1/evaluate without the key is 401", refused.status_code == 401, refused.status_code)
    started = time.monotonic()
    answer = httpx.post(f"{url}/v1/evaluate", json=body, headers=headers(key), timeout=300)
    took = time.monotonic() - started
    result = answer.json()["results"][0] if answer.status_code == 200 else {}
    drill.check(f"{where}/v1/evaluate with the key: embedded judge, faithfulness and gate",
                answer.status_code == 200 and result["judge"]["name"] in ("local", "embedded")
                and result["scores"]["faithfulness"] is not None and "passed" in result["gate"]
                and result["judge"]["embedding_model"] == QUANTIZED_LABEL,
                f"{answer.status_code}, {took * 1000:.0f} ms, judge {result.get('judge', {}).get('name')} "
                f"({result.get('judge', {}).get('embedding_model')}), "
                f"faithfulness {result.get('scores', {}).get('faithfulness')}, gate passed "
                f"{result.get('gate', {}).get('passed')}")


def upload(drill: Drill, url: str, key: str) -> str:
    """Uploads the example eval set; the batch id once it is done."""
    with EVAL_FILE.open("rb") as handle:
        answer = httpx.post(f"{url}/v1/batches", files={"file": (EVAL_FILE.name, handle)}, headers=headers(key),
                            timeout=120)
    drill.check("batch upload", answer.status_code == 202, f"{answer.status_code} {answer.headers.get('location')}")
    answer.raise_for_status()
    return answer.json()["id"]


def wait_done(drill: Drill, url: str, key: str, batch_id: str) -> dict:
    started = time.monotonic()

    def finished() -> dict | None:
        status = httpx.get(f"{url}/v1/batches/{batch_id}", headers=headers(key), timeout=30).json()
        return status if status["status"] in ("done", "failed", "cancelled") else None

    status = wait_for(finished, BATCH_S, f"batch {batch_id} done", every=0.5)
    drill.check("batch scored", status["status"] == "done" and status["errors"] == 0,
                f"{status['status']}, {status['scored']}/{status['total']} scored, {status['errors']} errors, "
                f"{time.monotonic() - started:.1f} s after upload")
    return status


def results(url: str, key: str, batch_id: str) -> dict[str, list[dict]]:
    """The batch's results in each format, as rows."""
    rows: dict[str, list[dict]] = {}
    for fmt in ("jsonl", "csv", "parquet"):
        answer = httpx.get(f"{url}/v1/batches/{batch_id}/results", params={"format": fmt}, headers=headers(key),
                           timeout=120)
        answer.raise_for_status()
        if fmt == "jsonl":
            rows[fmt] = [json.loads(line) for line in answer.text.splitlines() if line]
        elif fmt == "csv":
            rows[fmt] = list(csv.DictReader(io.StringIO(answer.text)))
        else:
            rows[fmt] = pq.read_table(io.BytesIO(answer.content)).to_pylist()
    return rows


def check_download(drill: Drill, rows: dict[str, list[dict]], expected_ids: list[str]) -> None:
    for fmt, found in rows.items():
        ids = [str(row["id"]) for row in found]
        drill.check(f"download as {fmt}: every row, scored", sorted(ids) == sorted(expected_ids)
                    and all(row["status"] == "scored" for row in found), f"{len(found)} rows")


def restart_checks(drill: Drill, image: str, name: str, volume: str, key: str, batch_id: str,
                   before: list[dict]) -> None:
    """The batch survives `docker restart` and a new container on the same volume; SIGTERM stops it in time."""
    started = time.monotonic()
    docker("stop", "-t", "30", name, timeout=60)
    stopped_in = time.monotonic() - started
    code = docker("inspect", "-f", "{{.State.ExitCode}}", name)
    drill.check("docker stop: the service exits on SIGTERM, not killed", code in ("0", "143") and stopped_in < 30,
                f"exit {code} in {stopped_in:.1f} s")
    docker("start", name)
    url = published(name)
    up = wait_healthz(url, name)
    after = results(url, key, batch_id)["jsonl"]
    drill.check("after a restart the batch and its results are still there", after == before,
                f"{len(after)} rows, up again in {up:.1f} s")
    docker("rm", "-f", name)
    second = f"{name}-new"
    url = start(drill, image, second, volume, key)
    wait_healthz(url, second)
    listed = httpx.get(f"{url}/v1/batches", headers=headers(key), timeout=30).json()
    after = results(url, key, batch_id)["jsonl"]
    drill.check("a new container on the same volume lists the batch with the same results",
                batch_id in [b["id"] for b in listed] and after == before, f"{len(listed)} batch(es) listed")


def single_container(drill: Drill, image: str, base: str) -> None:
    check_image(drill, image, base)
    check_refuses_open(drill, image)
    name, volume, key = f"ragmeter-drill-{os.getpid()}", f"ragmeter-drill-{os.getpid()}", secrets.token_urlsafe(24)
    drill.volumes.append(volume)
    started = time.monotonic()
    url = start(drill, image, name, volume, key)
    up = wait_healthz(url, name)
    drill.check("/healthz answers 200", True, f"{up:.1f} s after `docker run`")
    status = docker("exec", name, "sh", "-c", "grep '^Uid:' /proc/1/status; tr '\\0' ' ' < /proc/1/cmdline")
    uids = status.splitlines()[0].split()[1:]
    drill.check("the service (PID 1) runs as a non-root user", "0" not in uids and "ragmeter serve" in status,
                f"uids {' '.join(uids)}: {status.splitlines()[-1].strip()}")
    check_evaluate(drill, url, key)
    # The integer encoder's model is derived at build time into /opt/ragmeter-models: a container that had to derive
    # it again (the folder is not the service user's to write) would warn, and pay 3 s at every start.
    said = logs(name)
    kept = docker("exec", name, "sh", "-c", "ls /opt/ragmeter-models")
    drill.check("the integer encoder's model comes from the image, not derived at start",
                "int8-matmul" in kept and "quantiz" not in said.lower(), kept.strip() or said[-200:])
    unauthorized = httpx.get(f"{url}/v1/batches", timeout=30).status_code
    drill.check("/v1/batches without the key is 401", unauthorized == 401, unauthorized)
    batch_id = upload(drill, url, key)
    wait_done(drill, url, key, batch_id)
    rows = results(url, key, batch_id)
    expected = [json.loads(line)["id"] for line in EVAL_FILE.read_text().splitlines() if line.strip()]
    check_download(drill, rows, expected)
    healthy = wait_healthy(name)
    drill.check("docker health status healthy", True, f"{time.monotonic() - started:.1f} s after `docker run` "
                                                      f"({healthy:.1f} s of waiting here)")
    restart_checks(drill, image, name, volume, key, batch_id, rows["jsonl"])


def postgres_image(base: str) -> str:
    """postgres:16 when present; else the stand-in built from bench/docker on the base image."""
    if image_exists("postgres:16"):
        return "postgres:16"
    tag = "ragmeter-postgres:drill"  # built each time (cached when unchanged), so that edits to it take effect
    took = build(tag, base, ROOT / "bench" / "docker" / "postgres.Dockerfile", ROOT / "bench" / "docker")
    print(f"     built {tag} (no postgres:16 here) in {took:.0f} s")
    return tag


def compose(drill: Drill, image: str, base: str) -> None:
    """compose.yaml: both replicas healthy, keys enforced, a batch uploaded to one and read from the other, the
    database kept across `down` and `up`."""
    tool = compose_command()
    if tool is None:
        print("SKIP compose: no compose tool here (neither `docker compose` nor `docker-compose`; "
              "apt-get install -y docker-compose)")
        return
    print(f"     compose tool: {' '.join(tool)} ({docker_compose(tool, 'version', '--short', check=False)})")
    key = secrets.token_urlsafe(24)
    env = {"RAGMETER_IMAGE": image, "RAGMETER_POSTGRES_IMAGE": postgres_image(base),
           "RAGMETER_API_KEYS": json.dumps({"drill": key}), "RAGMETER_DB_PASSWORD": secrets.token_hex(12),
           # "127.0.0.1::8000": a free loopback port each, chosen by docker (no race with other processes)
           "RAGMETER_PORT_1": "127.0.0.1:", "RAGMETER_PORT_2": "127.0.0.1:"}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        os.environ.pop(name, None)  # the drill checks the embedded judge
    command = [*tool, "-p", f"ragmeterdrill{os.getpid()}", "-f", str(ROOT / "compose.yaml")]
    drill.projects.append((command, env))
    started = time.monotonic()
    docker_compose(command, "up", "-d", env=env)
    replicas = [docker_compose(command, "ps", "-q", service, env=env) for service in ("ragmeter-1", "ragmeter-2")]
    urls = [published(container) for container in replicas]
    for container, url in zip(replicas, urls, strict=True):
        wait_healthz(url, container)
    for container in replicas:
        wait_healthy(container)
    drill.check("compose: both replicas healthy on PostgreSQL", True, f"{time.monotonic() - started:.1f} s after up")
    for number, url in enumerate(urls, 1):
        check_evaluate(drill, url, key, where=f"replica {number}: ")
    batch_id = upload(drill, urls[0], key)
    wait_done(drill, urls[1], key, batch_id)
    rows = results(urls[1], key, batch_id)
    check_download(drill, rows, [json.loads(line)["id"] for line in EVAL_FILE.read_text().splitlines() if line])
    # Every container removed with its anonymous volume; the database's named volume stays.
    docker_compose(command, "rm", "--stop", "--force", "-v", env=env)
    docker_compose(command, "up", "-d", env=env)
    second = docker_compose(command, "ps", "-q", "ragmeter-2", env=env)
    wait_healthz(published(second), second)
    after = results(published(second), key, batch_id)["jsonl"]
    drill.check("compose: with every container removed and made again, the batch is still in PostgreSQL",
                after == rows["jsonl"],
                f"{len(after)} rows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=os.environ.get("RAGMETER_BASE_IMAGE", "ragmeter-base:bookworm"),
                        help="base image; made with debootstrap when missing (default ragmeter-base:bookworm)")
    parser.add_argument("--tag", default="ragmeter:drill", help="tag of the image built")
    parser.add_argument("--no-compose", action="store_true", help="skip the compose.yaml checks")
    args = parser.parse_args()
    # SIGTERM (a CI timeout) must still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    drill, started = Drill(), time.monotonic()
    try:
        print(f"     docker engine {ensure_engine()}; base image {args.base}: {ensure_base(args.base)}")
        drill.check("docker build", True, f"{build(args.tag, args.base):.0f} s")
        single_container(drill, args.tag, args.base)
        if not args.no_compose:
            compose(drill, args.tag, args.base)
    except (SetupFailed, subprocess.SubprocessError, httpx.HTTPError, KeyError, ValueError) as exc:
        drill.check("drill ran to the end", False, f"{type(exc).__name__}: {exc}")
    finally:
        drill.clean_up()
    print(f"{'FAILED: ' + ', '.join(drill.failed) if drill.failed else 'all checks passed'} "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if drill.failed else 0


if __name__ == "__main__":
    sys.exit(main())
