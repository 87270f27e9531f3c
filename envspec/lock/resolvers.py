"""Resolvers: pip-tools and uv, each run as a subprocess with a hermetic environment, behind one Protocol.

A backend gets requirements, constraints and exactly one index (the loopback router) and returns pins.
It never computes hashes: envspec takes them from the indexes afterwards, so neither backend downloads
files only to hash them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from envspec.errors import EnvspecError
from envspec.lock.installers import hermetic_env, tool_path, tool_version
from envspec.platforms import HOSTS, UV_TARGETS

RESOLVE_TIMEOUT = 3600


class ResolutionError(EnvspecError):
    """The requirements cannot be satisfied (or the backend failed); the message names the conflict."""

    output: str = ""  # everything the backend printed

    @property
    def hash_mismatch(self) -> bool:
        """Whether the backend refused a download whose hash differs from its index page."""
        text = self.output.lower()
        return "do not match the hashes" in text or "hashmismatch" in text or "hash mismatch" in text


@dataclasses.dataclass(frozen=True, slots=True)
class Pin:
    name: NormalizedName
    version: str
    marker: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ResolveRequest:
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    index_url: str
    python: str  # as the spec says it: "3.11" (any 3.11.x) or "3.11.7"
    platforms: tuple[str, ...]
    allow_builds: bool
    prereleases: bool
    preferences: tuple[Pin, ...] = ()
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    # envspec's cache folder (each backend keeps its caches under it), or None for a cold lock
    cache_dir: Path | None = None


class Resolver(Protocol):
    name: str

    def version(self) -> str: ...

    def unsupported(self, request: ResolveRequest) -> str | None:
        """Why this backend cannot lock ``request`` correctly, or None when it can."""
        ...

    def resolve(self, request: ResolveRequest, workdir: Path) -> tuple[Pin, ...]: ...


def ca_bundle() -> str | None:
    """A CA bundle the user points TLS clients at (pip has its own setting; hermetic runs drop it)."""
    for key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT"):
        value = os.environ.get(key)
        if value and Path(value).is_file():
            return value
    return None


def host_platform() -> str | None:
    import platform

    return HOSTS.get((sys.platform, platform.machine()))


def _write_inputs(request: ResolveRequest, workdir: Path) -> tuple[Path, Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    constraints = workdir / "constraints.txt"
    constraints.write_text("".join(f"{c}\n" for c in request.constraints), encoding="utf-8")
    requirements = workdir / "requirements.in"
    requirements.write_text("".join(f"{r}\n" for r in request.requirements), encoding="utf-8")
    output = workdir / "pins.txt"
    # existing pins are preferences: both backends keep them unless asked to upgrade
    output.write_text(
        "".join(
            f"{p.name}=={p.version}" + (f" ; {p.marker}" if p.marker else "") + "\n"
            for p in request.preferences
        ),
        encoding="utf-8",
    )
    return requirements, constraints, output


def parse_pins(text: str) -> tuple[Pin, ...]:
    """Pins from a compiled requirements file (``name==version`` with an optional ``; marker``)."""
    pins: list[Pin] = []
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        line = re.sub(r"\s--hash=\S+", "", line)
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            raise ResolutionError(f"the resolver wrote a line envspec cannot read: {raw!r}") from None
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator not in ("==", "==="):
            raise ResolutionError(f"the resolver left {raw!r} unpinned")
        pins.append(
            Pin(
                canonicalize_name(requirement.name),
                specs[0].version,
                str(requirement.marker) if requirement.marker else None,
            )
        )
    return tuple(sorted(pins, key=lambda p: (p.name, p.marker or "")))


_CONFLICT = re.compile(
    r"(conflict|could not find|no matching distribution|cannot install|requires|because|"
    r"unsatisfiable|no solution|not found|no version|is not available|depends on)",
    re.I,
)


def summarize_failure(output: str, limit: int = 12) -> str:
    """The few lines of a resolver's output that name the conflict, without the surrounding dump."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    picked = [line for line in lines if _CONFLICT.search(line) and "Traceback" not in line]
    chosen = picked or lines[-limit:]
    return "\n".join(chosen[:limit])


def _upgrade_args(request: ResolveRequest) -> list[str]:
    """``--upgrade`` / ``--upgrade-package NAME``: both backends spell them the same way."""
    args = ["--upgrade"] if request.upgrade else []
    for name in request.upgrade_packages:
        args += ["--upgrade-package", name]
    return args


def _run(command: Sequence[str], workdir: Path, what: str) -> None:
    try:
        result = subprocess.run(
            list(command),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=RESOLVE_TIMEOUT,
            check=False,
            env=hermetic_env(),
        )
    except FileNotFoundError:
        raise ResolutionError(
            f"{what} is not installed", hint="pip install envspec brings pip-tools; pip install uv"
        ) from None
    except subprocess.TimeoutExpired:
        raise ResolutionError(f"{what} did not finish within {RESOLVE_TIMEOUT} s") from None
    if result.returncode != 0:
        error = ResolutionError(
            f"{what} could not resolve the requirements:\n"
            + summarize_failure(result.stderr + "\n" + result.stdout),
            hint="loosen or change the requirements named above",
        )
        error.output = result.stderr + "\n" + result.stdout
        raise error


class PipTools:
    """pip-compile from pip-tools, run by the interpreter envspec runs in (so: host-only locks)."""

    name = "pip-tools"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "piptools", "compile"]

    def version(self) -> str:
        try:  # the installed distribution's version: no second interpreter start just to ask
            return importlib.metadata.version("pip-tools")
        except importlib.metadata.PackageNotFoundError:
            return tool_version([sys.executable, "-m", "piptools", "compile"])

    def unsupported(self, request: ResolveRequest) -> str | None:
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        host = minor if request.python.count(".") == 1 else ".".join(map(str, sys.version_info[:3]))
        if request.python != host:
            return f"pip-tools locks only for the Python that runs it ({host}), not {request.python}"
        if tuple(request.platforms) != (host_platform(),):
            wanted = ", ".join(request.platforms)
            return f"pip-tools locks only for this machine's platform ({host_platform()}), not {wanted}"
        return None

    def resolve(self, request: ResolveRequest, workdir: Path) -> tuple[Pin, ...]:
        requirements, constraints, output = _write_inputs(request, workdir)
        if request.constraints:
            requirements.write_text(requirements.read_text() + f"-c {constraints.name}\n", encoding="utf-8")
        # pip-tools' own cache of each release's dependencies is keyed by name and version only, so it
        # gets a folder per index URL (the router's URL names the mirrors behind it). pip's HTTP cache
        # stays off: on the benchmark's loopback graphs it made locks slower, not faster.
        tools_cache = workdir / "cache"
        if request.cache_dir is not None:
            key = hashlib.sha256(request.index_url.encode()).hexdigest()[:16]
            tools_cache = request.cache_dir / "pip-tools" / key
        pip_args = ["--no-cache-dir", "--retries", "0"]
        bundle = ca_bundle()
        if bundle:
            pip_args += ["--cert", bundle]
        if not request.allow_builds:
            pip_args += ["--only-binary", ":all:"]
        for host in request.trusted_hosts:
            pip_args += ["--trusted-host", host]
        command = [
            *self.command(),
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--no-emit-index-url",
            "--no-emit-trusted-host",
            "--no-emit-find-links",
            "--strip-extras",
            "--allow-unsafe",
            "--no-reuse-hashes",
            "--index-url",
            request.index_url,
            "--output-file",
            output.name,
            "--pip-args",
            shlex.join(pip_args),  # pip-tools splits it with shlex: paths may hold spaces
            "--cache-dir",
            str(tools_cache),
        ]
        if request.prereleases:
            command.append("--pre")
        command += [*_upgrade_args(request), requirements.name]
        _run(command, workdir, "pip-compile")
        return parse_pins(output.read_text(encoding="utf-8"))


class Uv:
    """``uv pip compile``: locks for any Python version and platform, or universally (with markers)."""

    name = "uv"

    def executable(self) -> str:
        found = tool_path("uv")
        if found is None:
            raise ResolutionError("uv is not installed", hint="pip install uv (or use --resolver pip-tools)")
        return str(found)

    def version(self) -> str:
        executable = self.executable()
        if Path(executable).parent == Path(sys.executable).parent:
            try:  # the uv wheel installed beside envspec: its version without running it
                return importlib.metadata.version("uv")
            except importlib.metadata.PackageNotFoundError:
                pass
        return tool_version([executable])

    def unsupported(self, request: ResolveRequest) -> str | None:
        del request  # uv locks any target
        return None if tool_path("uv") else "uv is not installed"

    def resolve(self, request: ResolveRequest, workdir: Path) -> tuple[Pin, ...]:
        requirements, constraints, output = _write_inputs(request, workdir)
        command = [
            self.executable(),
            "pip",
            "compile",
            "--no-config",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--no-strip-markers" if len(request.platforms) > 1 else "--strip-extras",
            "--index-url",
            request.index_url,
            "--index-strategy",
            "first-index",
            "--output-file",
            output.name,
            "--python-version",
            request.python,
            "--cache-dir",
            str(request.cache_dir / "uv" if request.cache_dir else workdir / "cache"),
        ]
        if len(request.platforms) > 1:
            command.append("--universal")
        else:
            command += ["--python-platform", UV_TARGETS[request.platforms[0]]]
        if request.constraints:
            command += ["--constraint", constraints.name]
        if not request.allow_builds:
            command += ["--only-binary", ":all:"]
        if request.prereleases:
            command += ["--prerelease", "allow"]
        for host in request.trusted_hosts:
            command += ["--allow-insecure-host", host]
        command += [*_upgrade_args(request), requirements.name]
        _run(command, workdir, "uv")
        return parse_pins(output.read_text(encoding="utf-8"))


BACKENDS: dict[str, Resolver] = {"pip-tools": PipTools(), "uv": Uv()}


def choose(name: str, request: ResolveRequest) -> Resolver:
    """``auto`` picks uv when it is installed (it is a dependency of envspec), else pip-tools where it
    gives a correct lock (the host's Python and platform).

    uv reads a wheel's metadata with byte ranges where an index publishes no PEP 658 file; pip
    downloads the whole wheel. Locking ``specs/dev.toml`` (torch 2.1.2 with CUDA 12.1) took uv 4 s,
    and pip-compile 18 s and 5.7 GB of wheels read, every time, for the same pins.
    """
    if name == "auto":
        if BACKENDS["uv"].unsupported(request) is None:
            return BACKENDS["uv"]
        if BACKENDS["pip-tools"].unsupported(request) is None:
            return BACKENDS["pip-tools"]
        return BACKENDS["uv"]  # and its error says uv is not installed
    backend = BACKENDS[name]
    reason = backend.unsupported(request)
    if reason is not None:
        raise ResolutionError(
            f"--resolver {name} cannot lock this spec: {reason}",
            hint="use --resolver uv (or auto), which locks for any Python and platform",
        )
    return backend


def trusted_hosts(urls: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted({urlsplit(u).hostname or "" for u in urls} - {""}))
