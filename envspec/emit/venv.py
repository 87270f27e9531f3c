"""The venv target: one self-contained ``bootstrap.sh`` that builds exactly the locked environment.

The script is a data block generated here (every value shell-quoted) followed by a fixed body
(``scripts/bootstrap_body.sh``) that never changes with the lock, so no lock value can become code.
"""

from __future__ import annotations

import shlex
from importlib import resources

from packaging.utils import parse_wheel_filename

from envspec.emit.base import (
    EmitContext,
    EmitError,
    mirror_urls,
    packages_for,
    runtime_env,
    scoped_urls,
    torch_settings,
)
from envspec.emit.hook import hook_module, needs_hook
from envspec.lock.artifacts import platform_tags, target_tags
from envspec.lock.model import LockedPackage


def _script(name: str) -> str:
    return resources.files("envspec.emit").joinpath(f"scripts/{name}").read_text(encoding="utf-8")


def _q(value: str) -> str:
    return shlex.quote(value)


def _array(name: str, values: list[str]) -> str:
    return f"{name}=(" + " ".join(_q(v) for v in values) + ")"


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _heredoc(function: str, body: str, delimiter: str) -> str:
    if any(line == delimiter for line in body.split("\n")):
        raise EmitError(
            f"the text for {function} holds the line {delimiter!r}, which would end its here-document",
            hint="re-lock: a lock written by envspec never holds that line",
        )
    text = body if body.endswith("\n") or not body else body + "\n"
    return f"{function}() {{\n    cat <<'{delimiter}'\n{text}{delimiter}\n}}\n"


def activate_sh(variables: list[tuple[str, str]]) -> str:
    """The lines appended to ``bin/activate``: export each variable; ``deactivate`` restores the old ones."""
    if not variables:
        return "# envspec: no runtime environment variables\n"
    names = [name for name, _ in variables]
    lines = ["", "# envspec: runtime environment variables of this environment"]
    lines.append('eval "_envspec_venv_$(declare -f deactivate)"')
    lines.append("deactivate () {")
    for name in names:
        lines.append(f'    if [ -n "${{_ENVSPEC_OLD_{name}+x}}" ]; then')
        lines.append(f'        export {name}="$_ENVSPEC_OLD_{name}"; unset _ENVSPEC_OLD_{name}')
        lines.append(f"    else unset {name}; fi")
    lines.append('    _envspec_venv_deactivate "$@"')
    lines.append('    if [ ! "${1-}" = "nondestructive" ]; then unset -f _envspec_venv_deactivate; fi')
    lines.append("}")
    for name, value in variables:
        lines.append(f'if [ -n "${{{name}+x}}" ]; then _ENVSPEC_OLD_{name}="${name}"; fi')
        lines.append(f"export {name}={_q(value)}")
    return "\n".join(lines) + "\n"


def activate_fish(variables: list[tuple[str, str]]) -> str:
    lines = ["", "# envspec: runtime environment variables of this environment"]
    lines += [f"set -gx {name} {_fish_quote(value)}" for name, value in variables]
    return "\n".join(lines) + "\n"


def manifest_lines(
    packages: list[LockedPackage], python: str, platform: str, *, builds: bool = False
) -> list[str]:
    """``sha256 size project filename url`` for every locked file of ``packages``.

    The wheels that fit ``platform`` come first, most specific tag first, then the package's other
    wheels (another locked platform's), then its sdist: the fetcher installs the best one the
    interpreter takes, in this order when it cannot rank tags itself. Every field is validated lock
    data without spaces, so one line per file is unambiguous. ``builds``: each line starts with the
    torch builds the package belongs to (``cu126,cpu``), or ``*`` for all (a lock of several builds).
    """
    ranking = {tag: i for i, tag in enumerate(platform_tags(platform))}
    accepted = target_tags(python, platform)
    lines: list[str] = []
    for package in packages:
        ordered = []
        for wheel in package.wheels:
            wheel_tags = parse_wheel_filename(wheel.name)[3]
            rank = len(ranking) + 1
            if wheel_tags & accepted:
                rank = min((ranking.get(t.platform, len(ranking)) for t in wheel_tags), default=len(ranking))
            ordered.append((rank, wheel.name, wheel))
        files = [w for _, _, w in sorted(ordered)] + ([package.sdist] if package.sdist else [])
        prefix = f"{','.join(package.variants) or '*'} " if builds else ""
        lines += [f"{prefix}{a.sha256} {a.size} {package.name} {a.name} {a.url}" for a in files]
    return lines


def _build_arrays(ctx: EmitContext) -> list[str]:
    """A lock of several torch builds: each build's name, needs and environment, one array each."""
    lock = ctx.lock
    views = [lock.select(name) for name in lock.variant_names]
    rows = {
        "ENVSPEC_VARIANTS": [b.name for b in lock.variants],
        "ENVSPEC_VARIANT_MIN_DRIVER": [b.min_driver or "" for b in lock.variants],
        "ENVSPEC_VARIANT_ARCH_MIN": [b.torch.arch_min or "" for b in lock.variants],
        "ENVSPEC_VARIANT_ARCH_MAX": [b.torch.arch_max or "" for b in lock.variants],
        "ENVSPEC_VARIANT_ENV_ID": [v.env_id for v in views],
        "ENVSPEC_VARIANT_PACKAGE_COUNT": [str(len(packages_for(v, ctx.platform))) for v in views],
    }
    lines = ["# the lock's torch builds in order of preference, and what each needs (empty: one build)"]
    return lines + [_array(name, values) for name, values in rows.items()]


class VenvEmitter:
    name = "venv"

    def render(self, ctx: EmitContext) -> dict[str, str]:
        lock, spec = ctx.lock, ctx.spec
        packages = packages_for(lock, ctx.platform)
        settings = torch_settings(ctx)
        variables = runtime_env(ctx)
        system = [*spec.packages.system, *spec.dev.tools]
        mirrors = ["" if url is None else url for url in mirror_urls(ctx)]
        data = [
            "#!/usr/bin/env bash",
            f"# Generated by envspec from {ctx.lock_name}: do not edit. Re-emit after re-locking.",
            f"# {ctx.stamp()}",
            "#",
            "# Builds a virtual environment with exactly the locked packages (hash-checked, no dependency",
            "# resolution), the runtime environment variables in its activate scripts and the torch",
            "# settings in a start-up hook. Run `bash bootstrap.sh --help` for the options.",
            "set -euo pipefail",
            "",
            f"ENVSPEC_ENV_ID={_q(ctx.env_id)}",
            f"ENVSPEC_LOCK_SHA256={_q(ctx.lock_sha256)}",
            f"ENVSPEC_PYTHON={_q(lock.python)}",
            f"ENVSPEC_DEFAULT_PREFIX={_q(spec.targets.venv.prefix)}",
            f"ENVSPEC_TIMEOUT={_q(str(spec.network.timeout))}",
            f"ENVSPEC_RETRIES={_q(str(spec.network.retries))}",
            f"ENVSPEC_ONLY_BINARY={0 if spec.packages.allow_builds else 1}",
            f"ENVSPEC_HAS_HOOK={1 if needs_hook(settings, variables) else 0}",
            f"ENVSPEC_PACKAGE_COUNT={len(packages)}",
            "# the oldest NVIDIA driver the lock's CUDA build runs on (empty: no CUDA)",
            f"ENVSPEC_MIN_DRIVER={_q(lock.facts.cuda.min_driver or '' if lock.facts.cuda else '')}",
            "# the GPU compute capabilities the lock's CUDA build has kernels for (empty: not known)",
            f"ENVSPEC_ARCH_MIN={_q(lock.facts.torch.arch_min or '' if lock.facts.torch else '')}",
            f"ENVSPEC_ARCH_MAX={_q(lock.facts.torch.arch_max or '' if lock.facts.torch else '')}",
            *_build_arrays(ctx),
            "# mirrors in failover order; an empty one is the installer's default index",
            _array("ENVSPEC_MIRRORS", mirrors),
            "# indexes that serve only some packages (a PyTorch index, a private index)",
            _array("ENVSPEC_EXTRA_INDEXES", scoped_urls(ctx)),
            _array("ENVSPEC_SYSTEM_PACKAGES", sorted(set(system))),
            "",
        ]
        tag = ctx.lock_sha256[:12]
        parts = [
            "\n".join(data),
            _heredoc(
                "envspec_hook_module",
                hook_module(settings, variables, ctx.stamp()) if needs_hook(settings, variables) else "",
                f"ENVSPEC_HOOK_{tag}",
            ),
            _heredoc("envspec_activate_sh", activate_sh(variables), f"ENVSPEC_ACTIVATE_{tag}"),
            _heredoc("envspec_activate_fish", activate_fish(variables), f"ENVSPEC_FISH_{tag}"),
            _heredoc(
                "envspec_manifest",
                "\n".join(manifest_lines(packages, lock.python, ctx.platform, builds=bool(lock.variants))),
                f"ENVSPEC_MANIFEST_{tag}",
            ),
            _heredoc("envspec_lock_text", ctx.lock_text, f"ENVSPEC_LOCK_{tag}"),
            _heredoc("envspec_fetch_py", _script("fetch.py"), "ENVSPEC_FETCH_PY"),
            _heredoc("envspec_supervise_py", _script("supervise.py"), "ENVSPEC_SUPERVISE_PY"),
            _script("bootstrap_body.sh"),
        ]
        return {"bootstrap.sh": "\n".join(parts)}
