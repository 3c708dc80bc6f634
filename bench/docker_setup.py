"""What the Docker drill needs first: a docker engine, a base image, the image built, a compose tool.

Works on a fresh Debian machine without a registry: dockerd is started when it is not running, and the base image is
made with debootstrap when it is missing (both need root).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Debian's own client: another `docker` earlier on PATH may lack BuildKit support for this engine.
DOCKER = os.environ.get("RAGMETER_DOCKER") or ("/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = os.environ.get("RAGMETER_DEBIAN_MIRROR", "http://deb.debian.org/debian")


class SetupFailed(RuntimeError):
    pass


def docker(*args: str, timeout: float = 120, check: bool = True, stderr: bool = False) -> str:
    """Run the docker client; its stdout (or its stderr). A failure raises with its stderr."""
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise SetupFailed(f"docker {' '.join(args[:3])}... exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return (done.stderr if stderr else done.stdout).strip()


def wait_for(condition, deadline_s: float, what: str, every: float = 0.5):
    """Poll `condition` until it returns something truthy (returned), or fail after `deadline_s` naming `what`."""
    end = time.monotonic() + deadline_s
    while True:
        if value := condition():
            return value
        if time.monotonic() > end:
            raise SetupFailed(f"{what}: not reached within {deadline_s:.0f} s")
        time.sleep(every)


def engine_up() -> bool:
    return subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode == 0


def ensure_engine() -> str:
    """The engine's version, starting dockerd first when none answers."""
    if not engine_up():
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not Path(dockerd).exists():
            raise SetupFailed("no docker engine: apt-get install -y docker.io")
        # Its own session: it outlives the drill, as a system service would; it keeps its own copy of the log file.
        with open(Path(tempfile.gettempdir()) / "dockerd.log", "ab") as log:
            subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
        wait_for(engine_up, 120, "dockerd answering `docker info`", every=1)
    return docker("version", "--format", "{{.Server.Version}}")


def image_exists(tag: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True, timeout=30).returncode == 0


def ensure_base(tag: str) -> str:
    """A Debian bookworm image with python3 and its venv module under `tag`, made with debootstrap if missing."""
    if image_exists(tag):
        return "present"
    if not shutil.which("debootstrap"):
        raise SetupFailed(f"base image {tag} is missing and debootstrap is not installed: "
                          "apt-get install -y debootstrap")
    with tempfile.TemporaryDirectory(prefix="ragmeter-base-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                        "bookworm", str(root), DEBIAN_MIRROR], check=True, capture_output=True, timeout=1800)
        # Downloaded packages and indexes are 90 MB that no image needs.
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([DOCKER, "import", "-", tag], stdin=tar.stdout, check=True, capture_output=True, timeout=600)
        if tar.wait() != 0:
            raise SetupFailed("tar of the debootstrap root failed")
    return "made with debootstrap"


def build(tag: str, base: str, dockerfile: Path | None = None, context: Path = ROOT) -> float:
    """docker build with BuildKit on `base`; the host's CA goes in as a build secret only. Seconds taken.

    The image `tag` named before is removed when the build replaced it, so repeated runs do not pile up images."""
    previous = docker("image", "inspect", "-f", "{{.Id}}", tag, check=False)
    args = ["build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-t", tag]
    if HOST_CA.exists():
        args += ["--secret", f"id=ca,src={HOST_CA}"]
    if dockerfile is not None:
        args += ["-f", str(dockerfile)]
    started = time.monotonic()
    done = subprocess.run([DOCKER, *args, str(context)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "DOCKER_BUILDKIT": "1"})
    if done.returncode != 0:
        raise SetupFailed(f"docker build of {tag} failed:\n{done.stderr[-4000:]}")
    took = time.monotonic() - started
    if previous and previous != docker("image", "inspect", "-f", "{{.Id}}", tag):
        docker("rmi", previous, check=False)  # refused while a container still uses it: then it stays
    return took


def image_mb(tag: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag)) / 1e6


def compose_command() -> list[str] | None:
    """The compose tool here: the docker CLI plugin, else docker-compose (Debian's v1); None when neither works."""
    for command in ([DOCKER, "compose"], ["docker-compose"]):
        try:
            if subprocess.run([*command, "version"], capture_output=True, timeout=60).returncode == 0:
                return command
        except FileNotFoundError:
            continue
    return None
