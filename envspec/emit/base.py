"""The emitter protocol and the facts every emitter reads off a lock (pure)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from envspec.artifacts import marker_platforms
from envspec.lockfile import Lock, LockedPackage


@dataclasses.dataclass(frozen=True, slots=True)
class EmitContext:
    """One lock, as emitters see it: the parsed value and the exact bytes it was read from."""

    lock: Lock
    lock_text: str
    lock_name: str  # the lockfile's name, without folders (no absolute paths in output)

    @property
    def lock_sha256(self) -> str:
        return hashlib.sha256(self.lock_text.encode("utf-8")).hexdigest()

    @property
    def env_id(self) -> str:
        return self.lock.env_id

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.lock.spec

    def section(self, *path: str) -> Mapping[str, Any]:
        """A table of the lock's normalized spec (empty when absent)."""
        node: Any = self.lock.spec
        for key in path:
            node = node.get(key, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}

    def stamp(self) -> str:
        """The one-line identity every emitted file carries."""
        return f"environment {self.env_id}; lock {self.lock_name} sha256:{self.lock_sha256}"


class Emitter(Protocol):
    """Renders one target. ``render`` returns file name -> text; it must be deterministic."""

    name: str

    def render(self, ctx: EmitContext) -> dict[str, str]: ...


def packages_for(lock: Lock, platform: str) -> list[LockedPackage]:
    """The locked packages that apply on ``platform`` (their markers hold there), by name."""
    chosen = [p for p in lock.packages if marker_platforms(p.marker, lock.python, [platform])]
    return sorted(chosen, key=lambda p: p.name)


def requirement_lines(packages: list[LockedPackage]) -> list[str]:
    """``name==version --hash=sha256:...`` lines for pip's ``--require-hashes`` mode (one per package)."""
    lines = []
    for package in packages:
        digests = sorted(a.sha256 for a in package.artifacts)
        hashes = " ".join(f"--hash=sha256:{digest}" for digest in digests)
        lines.append(f"{package.name}=={package.version} {hashes}")
    return lines


def runtime_env(ctx: EmitContext) -> list[tuple[str, str]]:
    """The ``[runtime.env]`` variables in spec order, values as text."""
    return [(str(k), str(v)) for k, v in ctx.section("runtime", "env").items()]


def torch_settings(ctx: EmitContext) -> dict[str, object]:
    """The code-only ``[runtime.torch]`` settings that are set (None means: leave torch's default)."""
    return {str(k): v for k, v in ctx.section("runtime", "torch").items() if v is not None}


def mirror_urls(ctx: EmitContext) -> list[str | None]:
    """The general mirrors' URLs in failover order; None is the installer's default index.

    A default-index mirror is written as the URL the lock actually used for it, when a package came
    from it, so that an install does not depend on the installer's configuration.
    """
    general = _general_names(ctx)
    used = {p.index_name: p.index_url for p in ctx.lock.packages}
    urls: list[str | None] = []
    for mirror in ctx.spec.get("mirrors", []) or [{"name": "default"}]:
        name = mirror.get("name")
        if name not in general:
            continue
        url = mirror.get("url") or used.get(name)
        urls.append(url.rstrip("/") if url else None)
    return urls


def scoped_urls(ctx: EmitContext) -> list[str]:
    """The indexes that serve only some packages (a PyTorch index, a private index), by name."""
    general = _general_names(ctx)
    found = {p.index_name: p.index_url for p in ctx.lock.packages if p.index_name not in general}
    return [found[name].rstrip("/") for name in sorted(found)]


def _general_names(ctx: EmitContext) -> set[str]:
    torch_index = ctx.section("torch").get("index")
    mirrors = ctx.spec.get("mirrors", []) or [{"name": "default"}]
    return {m["name"] for m in mirrors if not m.get("packages") and m["name"] != torch_index}


def emitters() -> dict[str, Emitter]:
    """Every target, by name (imported here so that each target stays one module)."""
    from envspec.emit.conda import CondaEmitter
    from envspec.emit.docker import DockerEmitter
    from envspec.emit.venv import VenvEmitter

    return {"venv": VenvEmitter(), "conda": CondaEmitter(), "docker": DockerEmitter()}
