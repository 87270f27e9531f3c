"""The emitter protocol and the facts every emitter reads off a lock (pure).

Emitters receive an :class:`EmitContext`: the typed, validated :class:`Lock` and the exact bytes it
was read from. Every value they write comes from typed fields (the spec's own defaults included),
never from a default repeated here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Protocol

from envspec.errors import EnvspecError
from envspec.lock.artifacts import marker_platforms
from envspec.lock.model import Lock, LockedPackage
from envspec.platforms import install_platform
from envspec.spec import Mirror, Spec
from envspec.text import describe, first_control


class EmitError(EnvspecError):
    """A lock that a target cannot hold as data."""


@dataclasses.dataclass(frozen=True, slots=True)
class EmitContext:
    """One lock, as emitters see it: the parsed value and the exact bytes it was read from."""

    lock: Lock
    lock_text: str
    lock_name: str  # the lockfile's name, without folders (no absolute paths in output)

    def __post_init__(self) -> None:
        bad = first_control(self.lock_name)
        if bad is not None or "/" in self.lock_name or not self.lock_name:
            raise EmitError(
                f"the lock's file name {self.lock_name!r} "
                + (f"holds the control character {describe(bad)}" if bad else "is not a plain file name"),
                hint="rename the lockfile (e.g. pylock.<name>.toml): its name is written into every"
                " emitted file",
            )

    @property
    def lock_sha256(self) -> str:
        return hashlib.sha256(self.lock_text.encode("utf-8")).hexdigest()

    @property
    def env_id(self) -> str:
        return self.lock.env_id

    @property
    def spec(self) -> Spec:
        return self.lock.spec

    @property
    def platform(self) -> str:
        """The platform whose pins a Linux install takes (linux-x86_64 when locked)."""
        return install_platform(self.lock.platforms)

    def stamp(self) -> str:
        """The one-line identity every emitted file carries (no line breaks: see __post_init__)."""
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
    """The ``[runtime.env]`` variables in spec order."""
    return list(ctx.spec.runtime.env.items())


def torch_settings(ctx: EmitContext) -> dict[str, str | bool | int]:
    """The code-only ``[runtime.torch]`` settings that are set (unset ones keep torch's default)."""
    settings = ctx.spec.runtime.torch.model_dump(exclude_none=True)
    return {str(k): v for k, v in settings.items()}


def _mirrors(spec: Spec) -> tuple[Mirror, ...]:
    return spec.mirrors or (Mirror(name="default"),)


def _general_names(spec: Spec) -> set[str]:
    torch_index = spec.torch.index if spec.torch else None
    return {m.name for m in _mirrors(spec) if not m.packages and m.name != torch_index}


def mirror_urls(ctx: EmitContext) -> list[str | None]:
    """The general mirrors' URLs in failover order; None is the installer's default index.

    A default-index mirror is written as the URL the lock actually used for it, when a package came
    from it, so that an install does not depend on the installer's configuration.
    """
    general = _general_names(ctx.spec)
    used = {p.index_name: p.index_url for p in ctx.lock.packages}
    urls: list[str | None] = []
    for mirror in _mirrors(ctx.spec):
        if mirror.name not in general:
            continue
        url = mirror.url or used.get(mirror.name)
        urls.append(url.rstrip("/") if url else None)
    return urls


def scoped_urls(ctx: EmitContext) -> list[str]:
    """The indexes that serve only some packages (a PyTorch index, a private index), by name."""
    general = _general_names(ctx.spec)
    found = {p.index_name: p.index_url for p in ctx.lock.packages if p.index_name not in general}
    return [found[name].rstrip("/") for name in sorted(found)]
