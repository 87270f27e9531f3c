"""Build and run images daemonless with Debian's buildah and podman, all state in one cache folder.

There is no Docker engine and no registry here (see shared/notes/containers.md).  ``open_store()``
gives a :class:`ContainerStore`: storage, configuration and temporary files live under
``ENVSPEC_TEST_CONTAINERS`` (default ``/var/tmp/envspec-test-containers``), never in
``/var/lib/containers``.  ``ContainerStore.base_image()`` makes a Debian bookworm image once with
``debootstrap --variant=minbase`` from the apt mirror this machine is configured with, imports it as
:data:`BASE_IMAGE` and keeps it for later runs.

Builds use chroot isolation and host networking: Debian's crun refuses hybrid cgroups, and RUN steps
must reach a package index on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASE_IMAGE",
    "ContainerStore",
    "ContainerUnavailableError",
    "debian_mirror",
    "open_store",
]

BASE_IMAGE = "localhost/envspec-test-base:bookworm"
PYTHON_IMAGE = "localhost/envspec-test-python:bookworm"  # BASE_IMAGE with python3.11 and its venv
DEFAULT_ROOT = Path("/var/tmp/envspec-test-containers")  # noqa: S108 - a cache kept between runs, root-only
TOOLS = ("buildah", "podman", "debootstrap")
SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
INSTALL_HINT = "apt-get install -y buildah podman runc debootstrap (as root)"


# runc's re-exec guard copies its binary into a memfd and seals it; the kernel answers EBUSY while
# another process briefly pins the pages, and the RUN step fails before its command starts.
TRANSIENT_RUNTIME_ERRORS = ("sealing memfd copy: Device or resource busy",)


def _transient(stderr: str) -> bool:
    return any(marker in stderr for marker in TRANSIENT_RUNTIME_ERRORS)


class ContainerUnavailableError(Exception):
    """buildah/podman cannot build here; the message says why (tests skip with it)."""


def debian_mirror(sources: Sequence[Path] = SOURCES) -> str:
    """The Debian mirror apt uses for bookworm: a deb822 ``URIs:`` line, else a one-line ``deb`` entry."""
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {
                    m.group(1).lower(): m.group(2).strip()
                    for m in re.finditer(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.MULTILINE)
                }
                if "bookworm" in fields.get("suites", "").split() and fields.get("uris"):
                    return fields["uris"].split()[0].rstrip("/")
        else:
            for line in text.splitlines():
                match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", line)
                if match:
                    return str(match.group(1)).rstrip("/")
    raise ContainerUnavailableError(f"no Debian bookworm mirror in {', '.join(str(p) for p in sources)}")


def _storage_conf(root: Path) -> str:
    return f'[storage]\ndriver = "overlay"\ngraphroot = "{root / "storage"}"\nrunroot = "{root / "run"}"\n'


def _containers_conf() -> str:
    # podman's default ulimits need CAP_SYS_RESOURCE; it caps its own nproc hard limit at 32768
    nofile = subprocess.run(
        ["/bin/sh", "-c", "ulimit -Hn"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )


@dataclass(frozen=True)
class ContainerStore:
    """buildah and podman pointed at one folder: its storage, configuration and temporary files."""

    root: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "CONTAINERS_STORAGE_CONF": str(self.root / "storage.conf"),
                "CONTAINERS_CONF": str(self.root / "containers.conf"),
                "CONTAINERS_REGISTRIES_CONF": str(self.root / "registries.conf"),
                "BUILDAH_ISOLATION": "chroot",
                "TMPDIR": str(self.root / "tmp"),
            }
        )
        return env

    def run(
        self, tool: str, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``buildah``/``podman`` ARGS with this store; raises with its output when ``check`` fails.

        A run that fails only because the container runtime hit a known transient kernel error
        (:data:`TRANSIENT_RUNTIME_ERRORS`) is run again, at most twice: the step that failed never
        started its own command."""
        for attempt in range(3):
            result = subprocess.run(
                [tool, *args],
                capture_output=True,
                text=True,
                env=self.env,
                timeout=timeout,
                check=False,
            )
            if result.returncode == 0 or not _transient(result.stderr) or attempt == 2:
                break
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result

    def image_exists(self, name: str) -> bool:
        return self.run("podman", "image", "exists", name, check=False).returncode == 0

    def remove_image(self, name: str) -> None:
        self.run("buildah", "rmi", "--force", name, check=False)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def base_image(self) -> str:
        """:data:`BASE_IMAGE`, made by debootstrap the first time (about a minute) and kept after."""
        with self._locked():
            if self.image_exists(BASE_IMAGE):
                return BASE_IMAGE
            mirror = debian_mirror()
            with tempfile.TemporaryDirectory(dir=self.root / "tmp", prefix="rootfs-") as work:
                rootfs = Path(work) / "rootfs"
                boot = subprocess.run(
                    ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror],
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                )
                if boot.returncode != 0:
                    raise ContainerUnavailableError(f"debootstrap failed: {boot.stderr.strip()[-2000:]}")
                for leftover in (rootfs / "var/cache/apt/archives", rootfs / "var/lib/apt/lists"):
                    for entry in leftover.glob("*"):
                        if entry.is_file():
                            entry.unlink()
                tarball = Path(work) / "rootfs.tar"
                subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
                self.run("podman", "import", "--change", 'CMD ["/bin/bash"]', str(tarball), BASE_IMAGE)
            return BASE_IMAGE

    def python_image(self) -> str:
        """:data:`PYTHON_IMAGE`: the base image with Debian's python3.11 and its venv module, made
        with the network once and kept, so that a build with no network finds its interpreter."""
        base = self.base_image()
        with self._locked():
            if not self.image_exists(PYTHON_IMAGE):
                container = self.run("buildah", "from", "--pull=never", base).stdout.strip()
                try:
                    self.run(
                        "buildah",
                        "run",
                        "--network",
                        "host",
                        container,
                        "--",
                        "sh",
                        "-c",
                        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
                        " --no-install-recommends python3.11 python3.11-venv >/dev/null"
                        " && rm -rf /var/lib/apt/lists/*",
                        timeout=900,
                    )
                    self.run("buildah", "commit", "--rm", container, PYTHON_IMAGE)
                except BaseException:
                    self.run("buildah", "rm", container, check=False)
                    raise
            return PYTHON_IMAGE


def open_store(root: Path | None = None) -> ContainerStore:
    """A :class:`ContainerStore` under ``root`` (created); raises :class:`ContainerUnavailableError` when
    the tools are missing or cannot use the folder's storage."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise ContainerUnavailableError(f"{', '.join(missing)} not installed: {INSTALL_HINT}")
    if shutil.which("runc") is None:
        raise ContainerUnavailableError(f"runc not installed: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise ContainerUnavailableError("building images daemonless here needs root (chroot isolation)")
    if root is None:
        root = Path(os.environ.get("ENVSPEC_TEST_CONTAINERS", str(DEFAULT_ROOT)))
    for sub in ("storage", "run", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "storage.conf").write_text(_storage_conf(root), encoding="utf-8")
    (root / "containers.conf").write_text(_containers_conf(), encoding="utf-8")
    (root / "registries.conf").write_text("unqualified-search-registries = []\n", encoding="utf-8")
    store = ContainerStore(root)
    probe = store.run("buildah", "images", "--quiet", check=False, timeout=120)
    if probe.returncode != 0:
        raise ContainerUnavailableError(
            f"buildah cannot use its storage in {root}: {probe.stderr.strip()[-500:]}"
        )
    return store
