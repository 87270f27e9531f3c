"""The docker target for a lock of several torch builds: the ``TORCH_VARIANT`` build argument (pure).

One Dockerfile serves every build. ``ARG TORCH_VARIANT`` (default: the lock's first build) names the
build that ``bootstrap.sh --variant`` installs; the packages, their hashes and the build's own checks
all come from that one script, as in a venv.

No ``FROM`` depends on ``TORCH_VARIANT``: a builder resolves every ``FROM`` before it runs anything, so
an unknown value there could only fail with the builder's own "image not found". The build stage's
first ``RUN`` compares the value with the lock's build names instead, and stops with a message naming
them. The value is only compared and printed (``printf %s``), never run; the names and images the
check is written with are validated lock data, shell-quoted as well.

Where the builds want different base images (a CUDA devel image per build, for nvcc), ``BASE_IMAGE``
defaults to the first build's and the same ``RUN`` refuses another build on it, with the build
argument that gives that build its own base.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable

from envspec.emit.base import EmitContext, EmitError

__all__ = ["VARIANT_OPTION", "Build", "Builds", "builds_of"]

_NAME = re.compile(r"[a-z0-9][a-z0-9.]*")  # stricter than the schema's Variant: nothing a shell reads


@dataclasses.dataclass(frozen=True, slots=True)
class Build:
    """One torch build, as the Dockerfile needs it."""

    name: str
    base: str  # the base image it is built on by default (its own view's choice)
    cuda: str | None  # its CUDA version; None for a CPU build
    min_driver: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Builds:
    """The lock's builds in its order of preference; the first is ``TORCH_VARIANT``'s default."""

    items: tuple[Build, ...]

    @property
    def default(self) -> Build:
        return self.items[0]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.items)

    @property
    def cuda(self) -> bool:
        """Whether any build runs CUDA code (the image then asks the NVIDIA runtime for the GPUs)."""
        return any(b.cuda is not None for b in self.items)

    @property
    def bases_differ(self) -> bool:
        return len({b.base for b in self.items}) > 1

    def header(self, tag: str) -> list[str]:
        """The Dockerfile's comment lines that tell how to build each build's image."""
        lines = [
            "#",
            f"# The lock holds {len(self.items)} torch builds: --build-arg TORCH_VARIANT=NAME picks the one",
            f"# the image installs (default {self.default.name}, the lock's first). One image per build:",
        ]
        for build in self.items:
            what = f"CUDA {build.cuda}" if build.cuda else "no GPU"
            if build.min_driver:
                what += f", NVIDIA driver >= {build.min_driver}"
            lines.append(f"#   {self._build_command(build, tag)}   # {what}")
        if self.cuda:
            lines.append("# Run a CUDA build's image with --gpus all.")
        if self.bases_differ:
            lines += [
                "# The builds want different base images (their CUDA's devel image), so each command names",
                "# its build's BASE_IMAGE; a build on another build's base is refused.",
            ]
        return lines

    def _build_command(self, build: Build, tag: str) -> str:
        command = f"docker build --build-arg TORCH_VARIANT={build.name}"
        if self.bases_differ and build is not self.default:
            command += f" --build-arg BASE_IMAGE={build.base}"
        return f"{command} -t {tag}:{build.name} ."

    def arg(self) -> list[str]:
        """The global ``ARG`` before the first ``FROM``."""
        return [
            "# The torch build the image installs: " + ", ".join(self.names) + " (see above).",
            f"ARG TORCH_VARIANT={self.default.name}",
        ]

    def check(self) -> list[str]:
        """The build stage's first lines: ``TORCH_VARIANT`` (and the base, where builds differ) checked."""
        names = " ".join(self.names)
        refuse = (
            "printf 'error: TORCH_VARIANT=%s is not a torch build of this lock; use one of: %s\\n'"
            f' "$TORCH_VARIANT" {shlex.quote(names)} >&2; exit 1 ;;'
        )
        lines = [
            "# TORCH_VARIANT must name one of the lock's builds; any other value stops the build here, with",
            "# their names. The value is only compared and printed, never run.",
            "ARG TORCH_VARIANT",
        ]
        if not self.bases_differ:
            return [
                *lines,
                'RUN case "$TORCH_VARIANT" in \\',
                f"        {'|'.join(shlex.quote(n) for n in self.names)}) ;; \\",
                f"        *) {refuse} \\",
                "    esac",
            ]
        bases = sorted({b.base for b in self.items})
        mismatch = (
            "printf 'error: build %s is built on its own base image, %s, and BASE_IMAGE is %s, the base"
            " of another build; build it with: --build-arg TORCH_VARIANT=%s --build-arg BASE_IMAGE=%s\\n'"
            ' "$TORCH_VARIANT" "$want" "$BASE_IMAGE" "$TORCH_VARIANT" "$want" >&2; exit 1;'
        )
        return [
            *lines,
            "ARG BASE_IMAGE",
            'RUN case "$TORCH_VARIANT" in \\',
            *(f"        {shlex.quote(b.name)}) want={shlex.quote(b.base)} ;; \\" for b in self.items),
            f"        *) {refuse} \\",
            "    esac; \\",
            '    case "$BASE_IMAGE" in \\',
            f"        {'|'.join(shlex.quote(b) for b in bases)}) \\",
            f'            if [ "$BASE_IMAGE" != "$want" ]; then {mismatch} fi ;; \\',
            "    esac",
        ]

    @staticmethod
    def label() -> str:
        """The label that names the installed build (checked in the build stage the image copies from)."""
        return 'io.envspec.torch-variant="${TORCH_VARIANT}"'


VARIANT_OPTION = '--variant "$TORCH_VARIANT"'


def builds_of(ctx: EmitContext, base_image: Callable[[EmitContext], str]) -> Builds | None:
    """The lock's builds (None for a lock of one), each with the base image ``base_image`` gives its view."""
    lock = ctx.lock
    if not lock.variants:
        return None
    items = []
    for facts in lock.variants:
        if _NAME.fullmatch(facts.name) is None:
            raise EmitError(
                f"the lock's torch build {facts.name!r} is not a plain build name",
                hint='re-lock: a build is named like "cpu", "cu126" or "rocm6.2"',
            )
        view = EmitContext(lock.select(facts.name), ctx.lock_text, ctx.lock_name)
        items.append(Build(facts.name, base_image(view), facts.torch.cuda, facts.min_driver))
    return Builds(tuple(items))
