"""The docker target: a multi-stage ``Dockerfile`` that installs the lock with the venv target's script.

The image installs the locked artifacts exactly as ``bootstrap.sh`` does on a workstation: the build
stage copies the script and runs it with ``--prefix /opt/venv``; the final stage copies that venv to
the same path (a venv is not relocatable). The Dockerfile is assembled from small section functions,
each returning its lines; every value from the lock is either validated by the spec schema (names,
paths, image references, apt packages) or written through :func:`dockerfile_quote`. A lock of several
torch builds adds the ``TORCH_VARIANT`` build argument (:mod:`envspec.emit.dockerbuilds`).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Iterable

from envspec.emit.base import EmitContext, runtime_env
from envspec.emit.dockerbuilds import VARIANT_OPTION, Builds, builds_of
from envspec.errors import EnvspecError
from envspec.platforms import python_minor
from envspec.spec import Dev
from envspec.text import describe, first_control

__all__ = ["PREFIX", "DockerEmitter", "DockerTargetError", "base_image", "dockerfile_quote"]

PREFIX = "/opt/venv"
STAGING = "/tmp/envspec"  # noqa: S108 - a folder of the build stage, inside the image
CONTEXT = "/tmp/envspec-context"  # noqa: S108 - where the build stage sees the build context
DEFAULT_JUPYTER_PORT = 8888
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHELLS = {"bash": "/bin/bash", "zsh": "/usr/bin/zsh", "fish": "/usr/bin/fish"}
ZSHRC = "envspec.zshrc"
CUDA_ENV = (("NVIDIA_VISIBLE_DEVICES", "all"), ("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"))
DL3008_REASON = (
    "# apt versions are not pinned (hadolint DL3008): the base image's release fixes the apt suite,",
    "# and pinning Debian/Ubuntu point versions breaks as soon as the archive moves on; write",
    '# "name=version" in [packages] system to pin one.',
)


class DockerTargetError(EnvspecError):
    """A lock that no Linux image can hold."""


def dockerfile_quote(value: str) -> str:
    """``value`` as one double-quoted Dockerfile word that ENV/LABEL keep exactly, with no expansion.

    Inside double quotes the Dockerfile lexer treats ``\\``, ``"`` and ``$`` specially; each is escaped
    with a backslash. Control characters (a newline would end the instruction) are refused.
    """
    bad = first_control(value)
    if bad is not None:
        raise DockerTargetError(
            f"{value!r} holds the control character {describe(bad)}; a Dockerfile cannot hold it as data"
        )
    if value.endswith("\\") or '\\"' in value:
        # BuildKit reads an escaped backslash before a quote correctly; hadolint's parser does not,
        # and a file that the linters misread is not reviewable data
        raise DockerTargetError(
            f"{value!r} has a backslash before a quote or at its end; envspec does not write that into"
            " a Dockerfile, where tools disagree on how to read it",
            hint="drop the trailing backslash, or the backslash before the quote",
        )
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def base_image(ctx: EmitContext) -> str:
    """The image ``FROM`` defaults to: the spec's override, a CUDA devel image when nvcc is wanted, else
    a slim Python image (torch wheels bundle the CUDA libraries; only the driver comes from the host).

    A lock for a patch-level Python (``3.11.7``) gets the official image of that patch release, since
    ``bootstrap.sh`` insists on the exact version then.
    """
    override = ctx.spec.targets.docker.base_image
    if override:
        return override
    cuda = ctx.lock.facts.cuda
    if cuda is not None and cuda.devel and cuda.devel_image:
        return cuda.devel_image
    python = ctx.lock.python
    minor = python_minor(python)
    image = ctx.lock.facts.python_image or f"python:{minor}-slim"
    if python != minor and image.startswith(f"python:{minor}-"):
        image = f"python:{python}-" + image.removeprefix(f"python:{minor}-")
    return image


def _jupyter_port(dev: Dev) -> int | None:
    if dev.jupyter is True:
        return DEFAULT_JUPYTER_PORT
    if dev.jupyter is False:
        return None
    return dev.jupyter


def _continued(first: str, items: Iterable[str], indent: str = "    ") -> list[str]:
    """``first`` followed by ``items``, one per line, joined with backslash continuations."""
    lines = [first, *(indent + item for item in items)]
    return [line + " \\" for line in lines[:-1]] + [lines[-1]]


def _apt_packages(names: Iterable[str]) -> list[str]:
    """apt packages by name, once each (a ``name=version`` pin wins over the bare name), sorted."""
    chosen: dict[str, str] = {}
    for entry in names:
        name = entry.split("=", 1)[0]
        if "=" in entry or name not in chosen:
            chosen[name] = entry
    return [chosen[name] for name in sorted(chosen)]


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """What the Dockerfile needs from the lock, read once."""

    user: str
    uid: int
    workdir: str
    python: str  # the interpreter's command name, python3.X
    shell: str | None
    shell_path: str
    plugins: tuple[str, ...]
    has_cuda: bool  # the lock's own facts (a lock of several builds: what they all share)
    apt: tuple[str, ...]
    port: int | None  # JupyterLab's, when it is on
    venv_files: tuple[str, ...]
    builds: Builds | None  # a lock of several torch builds: TORCH_VARIANT picks one

    @property
    def cuda(self) -> bool:
        """Whether the image runs CUDA code (for a lock of several builds: whether any build does)."""
        return self.builds.cuda if self.builds else self.has_cuda

    @property
    def zshrc(self) -> bool:
        return self.shell == "zsh"

    @classmethod
    def of(cls, ctx: EmitContext, venv_files: Iterable[str], builds: Builds | None) -> _Plan:
        docker = ctx.spec.targets.docker
        dev = ctx.spec.dev
        shell = dev.shell
        plugins = tuple(dev.shell_plugins)
        apt = [
            *ctx.spec.packages.system,
            *([shell] if shell and shell != "bash" else []),
            *plugins,
            *dev.tools,
        ]
        return cls(
            user=docker.user,
            uid=docker.uid,
            workdir=docker.workdir,
            python=f"python{python_minor(ctx.lock.python)}",
            shell=shell,
            shell_path=SHELLS.get(shell or "bash", "/bin/bash"),
            plugins=plugins,
            has_cuda=ctx.lock.facts.has_cuda,
            apt=tuple(_apt_packages(apt)),
            port=_jupyter_port(dev),
            venv_files=tuple(sorted(venv_files)),
            builds=builds,
        )


def _header(ctx: EmitContext, plan: _Plan) -> list[str]:
    name = ctx.lock.name
    run = "docker run --rm -it"
    if plan.cuda and not plan.builds:
        run += " --gpus all"
    if plan.port is not None:
        run += f" -p {plan.port}:{plan.port}"
    return [
        f"# Generated by envspec from {ctx.lock_name}: do not edit. Re-emit after re-locking.",
        f"# {ctx.stamp()}",
        "#",
        "# The image holds exactly the locked packages, installed by the venv target's bootstrap.sh",
        "# (hash-checked, no dependency resolution) into /opt/venv. Build it from this folder with",
        "# BuildKit (Docker 23 or later) or buildah/podman:",
        f"#   docker build -t {name} .",
        '#   docker build --build-arg ENVSPEC_MIRRORS="URL [URL...]" -t ' + name + " .   # other mirrors",
        f"#   docker build --network none --build-arg ENVSPEC_OFFLINE=mirror -t {name} .   # offline, from",
        "#     an `envspec export-mirror -o mirror` folder put here (see the build stage)",
        f"#   docker build --build-arg BASE_IMAGE=IMAGE -t {name} .   # another Debian/Ubuntu base",
        f"#   {run} {name}",
        *(plan.builds.header(name) if plan.builds else []),
        "",
        *(plan.builds.arg() if plan.builds else []),
        "# The base image must use apt and have " + plan.python + " (or an apt package of that name),",
        "# as Debian and Ubuntu do; the final stage reuses it, so the venv's interpreter is the same.",
        f"ARG BASE_IMAGE={plan.builds.default.base if plan.builds else base_image(ctx)}",
    ]


def _system_stage(plan: _Plan) -> list[str]:
    lines = [
        "",
        "# ---- system: the interpreter and the apt packages, shared by the build and final stages ----",
        "FROM ${BASE_IMAGE} AS system",
    ]
    lines += DL3008_REASON
    lines.append("# hadolint ignore=DL3008")
    if plan.apt:
        lines += _continued(
            "RUN export DEBIAN_FRONTEND=noninteractive",
            [
                "&& apt-get update",
                f"&& if ! command -v {plan.python} >/dev/null 2>&1; then",
                f"    apt-get install -y --no-install-recommends {plan.python} {plan.python}-venv;",
                "fi",
                "&& apt-get install -y --no-install-recommends",
                *(f"    {package}" for package in plan.apt),
                "&& rm -rf /var/lib/apt/lists/*",
            ],
        )
    else:  # the base has no apt packages to add: skip apt-get entirely when the interpreter is there
        lines += [
            f"RUN if ! command -v {plan.python} >/dev/null 2>&1; then \\",
            "        export DEBIAN_FRONTEND=noninteractive \\",
            "        && apt-get update \\",
            f"        && apt-get install -y --no-install-recommends {plan.python} {plan.python}-venv \\",
            "        && rm -rf /var/lib/apt/lists/*; \\",
            "    fi",
        ]
    return lines


def _build_stage(plan: _Plan) -> list[str]:
    flat = [name for name in plan.venv_files if "/" not in name]
    nested = [name for name in plan.venv_files if "/" in name]
    lines = [
        "",
        "# ---- build: the locked packages, installed by bootstrap.sh as the venv target installs them ----",
        "FROM system AS build",
        *(plan.builds.check() if plan.builds else []),
        "# More indexes to fetch the locked files from, after the lock's own: space-separated",
        "# simple-index URLs, tried in order. The lock's hashes still decide what may be installed.",
        'ARG ENVSPEC_MIRRORS=""',
        "# Or no network at all: a folder of the build context holding the locked files (an",
        "# `envspec export-mirror` folder, an `envspec fetch` store, or wheels), e.g. mirror.",
        'ARG ENVSPEC_OFFLINE=""',
        f"WORKDIR {STAGING}",
    ]
    if flat:
        lines.append("COPY " + " ".join(flat) + " ./")
    lines += [f"COPY {name} ./{name}" for name in nested]
    lines += [
        f"# Built where it lives in the final image ({PREFIX}): a venv is not relocatable. pip's",
        "# downloads go to a cache mount, never into a layer; the build context is mounted, read-only,",
        "# for ENVSPEC_OFFLINE, and is never copied into a layer either. The image runs on other machines",
        "# than the one building it: no check of this one's NVIDIA driver or GPUs (--no-host-check).",
        *_continued(
            f"RUN --mount=type=cache,target=/root/.cache/pip --mount=type=bind,target={CONTEXT}",
            [
                "set --;",
                f'if [ -n "$ENVSPEC_OFFLINE" ]; then set -- --offline "{CONTEXT}/$ENVSPEC_OFFLINE"; fi;',
                'for url in ${ENVSPEC_MIRRORS}; do set -- "$@" --mirror "$url"; done;',
                f"bash bootstrap.sh --prefix {PREFIX} --no-swap --no-host-check --pip-cache /root/.cache/pip"
                f' --python "$(command -v {plan.python})"'
                + (f" {VARIANT_OPTION}" if plan.builds else "")
                + ' "$@"',
            ],
        ),
    ]
    return lines


def _user(plan: _Plan) -> list[str]:
    uid, user, workdir = plan.uid, shlex.quote(plan.user), shlex.quote(plan.workdir)
    owner = f"awk -F: '$3 == {uid} {{print $1}}'"
    return [
        f"# The user the image runs as. A base image's own user or group with uid/gid {uid} (Ubuntu 24.04",
        '# has "ubuntu") gives way to it.',
        *_continued(
            f'RUN old_user="$({owner} /etc/passwd)"',
            [
                '&& if [ -n "$old_user" ]; then userdel "$old_user"; fi',
                f'&& old_group="$({owner} /etc/group)"',
                '&& if [ -n "$old_group" ]; then groupdel "$old_group"; fi',
                f"&& groupadd --gid {uid} {user}",
                f"&& useradd --uid {uid} --gid {uid} --create-home --shell {plan.shell_path} {user}",
                f"&& mkdir -p {workdir}",
                f"&& chown {uid}:{uid} {workdir}",
            ],
        ),
    ]


def _environment(ctx: EmitContext, plan: _Plan) -> list[str]:
    """ENV: the venv first on PATH, the NVIDIA variables for CUDA, then ``[runtime.env]`` (which wins)."""
    variables = runtime_env(ctx)
    given = {name for name, _ in variables}
    pairs: list[str] = []
    if "PATH" not in given:
        pairs.append(f'PATH="{PREFIX}/bin:${{PATH:-{DEFAULT_PATH}}}"')
    if "VIRTUAL_ENV" not in given:
        pairs.append(f"VIRTUAL_ENV={dockerfile_quote(PREFIX)}")
    if plan.cuda:
        pairs += [f"{name}={dockerfile_quote(value)}" for name, value in CUDA_ENV if name not in given]
    pairs += [f"{name}={dockerfile_quote(value)}" for name, value in variables]
    lines = ["# PATH keeps the base image's entries after the venv's; every other value is literal (no $)."]
    return lines + _continued("ENV " + pairs[0], pairs[1:])


def _labels(ctx: EmitContext, plan: _Plan) -> list[str]:
    description = (
        ctx.spec.env.description or f"envspec environment {ctx.lock.name} (Python {ctx.lock.python})"
    )
    labels = [
        ("org.opencontainers.image.title", ctx.lock.name),
        ("org.opencontainers.image.description", description),
        ("io.envspec.env-id", ctx.env_id),
        ("io.envspec.lock-sha256", ctx.lock_sha256),
    ]
    pairs = [f"{key}={dockerfile_quote(value)}" for key, value in labels]
    if plan.builds:
        pairs.append(plan.builds.label())
    return _continued("LABEL " + pairs[0], pairs[1:], indent="      ")


def _final_stage(ctx: EmitContext, plan: _Plan) -> list[str]:
    lines = [
        "",
        "# ---- the image: the system stage, the built environment and the user ----",
        "FROM system",
        *(["ARG TORCH_VARIANT"] if plan.builds else []),
        *_labels(ctx, plan),
        *_user(plan),
        f"COPY --from=build {PREFIX} {PREFIX}",
    ]
    if plan.zshrc:
        lines.append(f"COPY --chown={plan.uid}:{plan.uid} {ZSHRC} /home/{plan.user}/.zshrc")
    lines += _environment(ctx, plan)
    lines += [f"USER {plan.uid}:{plan.uid}", f"WORKDIR {plan.workdir}"]
    if plan.port is not None:
        lines += [
            "# JupyterLab (locked with the environment) on all interfaces; its token is in the log.",
            f"EXPOSE {plan.port}",
            "CMD " + json.dumps(["jupyter", "lab", "--ip=0.0.0.0", f"--port={plan.port}", "--no-browser"]),
        ]
    else:
        lines.append("CMD " + json.dumps([plan.shell_path]))
    return lines


def _zshrc(ctx: EmitContext, plan: _Plan) -> str:
    # zsh-syntax-highlighting wants to be sourced after every other plugin
    plugins = sorted(
        (p for p in plan.plugins if p.startswith("zsh-")), key=lambda p: p == "zsh-syntax-highlighting"
    )
    lines = [
        f"# Generated by envspec from {ctx.lock_name}: do not edit. Re-emit after re-locking.",
        f"# {ctx.stamp()}",
        "# zsh start-up for the image's user: the environment first on PATH, then the shell plugins.",
        "typeset -U path",
        f"path=({PREFIX}/bin $path)",
        "HISTFILE=~/.zsh_history HISTSIZE=10000 SAVEHIST=10000",
        "autoload -Uz compinit && compinit",
    ]
    for plugin in plugins:
        script = f"/usr/share/{plugin}/{plugin}.zsh"
        lines.append(f"[[ -r {script} ]] && source {script}")
    return "\n".join(lines) + "\n"


class DockerEmitter:
    name = "docker"

    def render(self, ctx: EmitContext) -> dict[str, str]:
        from envspec.emit.venv import VenvEmitter

        if not any(platform.startswith("linux-") for platform in ctx.lock.platforms):
            raise DockerTargetError(
                f"{ctx.lock_name} is locked for {', '.join(ctx.lock.platforms)} only: an image needs Linux",
                hint='add "linux-x86_64" (or "linux-aarch64") to [env] platforms and re-lock',
            )
        files = VenvEmitter().render(ctx)
        if "bootstrap.sh" not in files:
            raise RuntimeError("the venv target rendered no bootstrap.sh")
        plan = _Plan.of(ctx, files, builds_of(ctx, base_image))
        lines = [*_header(ctx, plan), *_system_stage(plan), *_build_stage(plan), *_final_stage(ctx, plan)]
        files["Dockerfile"] = "\n".join(lines) + "\n"
        if plan.zshrc:
            files[ZSHRC] = _zshrc(ctx, plan)
        return dict(sorted(files.items()))
