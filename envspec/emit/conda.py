"""The conda target: ``environment.yml`` (conda packages + the lock's hashed pip pins), condarc, the hook.

conda resolves the conda packages (python and ``[packages] conda``) from the channels when the
environment is created: envspec cannot lock them. Only the ``pip:`` section is locked: conda writes its
lines verbatim to a requirements file and runs ``pip install -r`` on it, so option lines
(``--index-url``, ``--only-binary``) and ``--hash`` options work there as in any requirements file.
A lock of several torch builds gets one environment file per build (:func:`environment_files`).

Every YAML value goes through a YAML dumper, never string formatting; a string that YAML 1.1 (PyYAML,
conda-lock) and YAML 1.2 (ruamel.yaml, conda itself) could read differently is always quoted.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from envspec.emit.base import (
    EmitContext,
    mirror_urls,
    packages_for,
    requirement_lines,
    runtime_env,
    scoped_urls,
    torch_settings,
)
from envspec.emit.hook import MODULE_NAME, PTH_NAME, hook_module, hook_pth, needs_hook
from envspec.platforms import CONDA_SUBDIRS

ENVIRONMENT_FILE = "environment.yml"
CONDARC_FILE = "condarc"  # conda reads a file of this name given by CONDARC (".condarc" or "condarc")

# conda's shell activators write variables into shell code without escaping the value:
# sh/bash/zsh `export NAME='value'`, fish `set -gx NAME "value"`, csh `setenv NAME "value"`,
# PowerShell `$Env:NAME = "value"`, cmd.exe `NAME=value` (conda/activate.py, 2026).
_POSIX_UNSAFE = "'"
_OTHER_SHELLS_UNSAFE = '"$`\\%!'
_CONDA_RESERVED = {"PATH"}  # conda ignores these in `variables` (with a warning)
_CONDA_UNSET_MARKER = "***unset***"  # conda's value for "unset this variable"

# Strings that YAML 1.1 or 1.2 resolve to booleans or null when written plain.
_KEYWORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"})
_PLAIN_START = re.compile(r"[A-Za-z]|--[A-Za-z]")


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, with indented block sequences (as conda's own files are written)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)


def _represent_str(dumper: _Dumper, data: str) -> yaml.ScalarNode:
    """Plain only for strings that start with a letter (or ``--option``) and are no YAML keyword.

    PyYAML still quotes a plain candidate it cannot write plain (``: ``, `` #``); what this adds is
    quoting for numbers, dates, ``1e3``, ``0o17`` and the like, which YAML 1.2 would not read as text.
    """
    plain = _PLAIN_START.match(data) is not None and data.lower() not in _KEYWORDS
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=None if plain else "'")


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text for a mapping: keys in the given order, block style, unicode as is, no line folding."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
        indent=2,
    )


def _comment(lines: list[str]) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def env_name(ctx: EmitContext) -> str:
    """The conda environment's name: ``[targets.conda] name``, else ``[env] name``."""
    return ctx.spec.targets.conda.name or ctx.spec.env.name


def python_spec(python: str) -> str:
    """The conda match spec for the lock's Python: ``python=3.11`` (any 3.11.x) or ``python=3.11.7``."""
    parts = python.split(".")
    return "python=" + ".".join(parts[:3] if len(parts) >= 3 else parts[:2])


def channels(ctx: EmitContext) -> list[str]:
    """The spec's channels, then ``nodefaults`` so that the user's configured channels stay out."""
    found = list(ctx.spec.targets.conda.channels)
    if "defaults" not in found and "nodefaults" not in found:
        found.append("nodefaults")
    return found


def _conda_name(spec: str) -> str:
    bare = spec.split("::", 1)[-1]
    match = re.match(r"[A-Za-z0-9_.-]+", bare)
    return match.group(0).lower() if match else bare


def pip_option_lines(ctx: EmitContext) -> list[str]:
    """The requirements-file options before the pins: indexes, trusted hosts, hash and binary modes."""
    general = mirror_urls(ctx)
    urls: list[str] = []
    lines: list[str] = []
    if general and general[0] is not None:
        lines.append(f"--index-url {general[0]}")
        urls.append(general[0])
    for url in [*general[1:], *scoped_urls(ctx)]:
        if url is not None and url not in urls:  # a later default-index mirror served nothing: skip it
            lines.append(f"--extra-index-url {url}")
            urls.append(url)
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.netloc:  # the spec allows http only for trusted mirrors
            line = f"--trusted-host {parts.netloc.rsplit('@', 1)[-1]}"
            if line not in lines:
                lines.append(line)
    lines.append("--require-hashes")
    if not ctx.spec.packages.allow_builds:
        lines.append("--only-binary=:all:")
    return lines


def variable_problems(ctx: EmitContext) -> list[str]:
    """The ``[runtime.env]`` variables that conda's activation does not carry verbatim, with why.

    ``environment.yml`` holds every value exactly; conda stores it exactly too. But ``conda activate``
    (and ``conda run``) turn each variable into shell code without escaping it.
    """
    problems = []
    for name, value in runtime_env(ctx):
        if name in _CONDA_RESERVED:
            problems.append(f"{name}: conda ignores it in `variables`")
        elif value == _CONDA_UNSET_MARKER:
            problems.append(f"{name}: conda reads this value as 'unset the variable'")
        elif any(c in value for c in _POSIX_UNSAFE):
            problems.append(
                f"{name}: holds a single quote; sh/bash/zsh activation (export {name}='...') breaks"
                " or runs part of the value as code"
            )
        elif any(c in value for c in _OTHER_SHELLS_UNSAFE):
            problems.append(
                f"{name}: fish, csh, PowerShell or cmd.exe activation may expand or reject it"
                " (sh/bash/zsh carry it verbatim)"
            )
    return problems


def hook_command(name: str) -> str:
    """The post-create command that copies the torch start-up hook into the env's site-packages."""
    code = (
        "import shutil, sysconfig; d = sysconfig.get_paths()['purelib']; "
        f"shutil.copy('{MODULE_NAME}', d); shutil.copy('{PTH_NAME}', d)"
    )
    return f'conda run -n {name} python -c "{code}"'


def environment_yml(
    ctx: EmitContext, file_name: str = ENVIRONMENT_FILE, about: list[str] | None = None
) -> str:
    """The environment file ``file_name`` of ``ctx``'s lock; ``about``: header lines after the stamp."""
    lock = ctx.lock
    name = env_name(ctx)
    platform = ctx.platform
    conda_specs = list(ctx.spec.packages.conda)
    pins = requirement_lines(packages_for(lock, platform))
    dependencies: list[Any] = [python_spec(lock.python), *conda_specs]
    if pins:
        if "pip" not in {_conda_name(s) for s in conda_specs}:
            dependencies.append("pip")
        dependencies.append({"pip": [*pip_option_lines(ctx), *pins]})
    document: dict[str, Any] = {"name": name, "channels": channels(ctx), "dependencies": dependencies}
    variables = runtime_env(ctx)
    if variables:
        document["variables"] = dict(variables)

    subdir = CONDA_SUBDIRS.get(platform, platform)
    header = [
        f"Generated by envspec from {ctx.lock_name}: do not edit. Re-emit after re-locking.",
        ctx.stamp(),
        *(["", *about] if about else []),
        "",
        f"Create it (from this folder): CONDARC=./condarc conda env create -f {file_name}",
        "",
        "Not locked: conda resolves python and the conda packages from the channels when it creates",
        "the environment. Locked: the pip section, pinned and hash-checked (pip --require-hashes).",
        f"The pip section holds the pins for {platform} (conda subdir {subdir}); a conda environment",
        "is per platform, so this file installs there only.",
        "",
        "With no network for the pip section: take the locked files from a folder (the files/ of an",
        "envspec export-mirror folder, or of a pack unpacked with --extract); the hashes still decide:",
        "  PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/mirror/files CONDARC=./condarc \\",
        f"      conda env create -f {file_name}",
        "conda's own packages still come from the channels (a local channel, with no network).",
    ]
    if needs_hook(torch_settings(ctx), runtime_env(ctx)):
        header += [
            "",
            "Runtime flags: after creating the env, install the start-up hook (it applies the torch",
            "settings and sets the runtime variables for the env's python even when the env is not",
            f"activated; {MODULE_NAME} and {PTH_NAME}, next to this file) into its site-packages,",
            "from this folder:",
            f"  {hook_command(name)}",
        ]
    problems = variable_problems(ctx)
    if problems:
        header += ["", "WARNING: conda's activation does not carry these variables verbatim:"]
        header += [f"  {problem}" for problem in problems]
    return _comment(header) + dump_yaml(document)


def condarc(ctx: EmitContext) -> str:
    network = ctx.spec.network
    settings: dict[str, Any] = {
        "remote_read_timeout_secs": float(network.timeout),
        "remote_max_retries": network.retries,
        "channel_priority": "strict",
    }
    header = [
        f"Generated by envspec from {ctx.lock_name}: do not edit. Re-emit after re-locking.",
        ctx.stamp(),
        "",
        "conda settings for creating this environment ([network] timeout and retries, strict channel",
        "priority). Use it for one command, on top of your own configuration:",
        "  CONDARC=./condarc conda env create -f environment.yml",
        "or copy these keys into ~/.condarc.",
    ]
    return _comment(header) + dump_yaml(settings)


def build_file(name: str) -> str:
    """The environment file of one torch build of a lock of several: ``environment.<build>.yml``."""
    return f"environment.{name}.yml"


def environment_files(ctx: EmitContext) -> dict[str, str]:
    """``environment.yml``; for a lock of several torch builds, also one file per build.

    A conda environment holds one torch build, so each build gets the file its own view of the lock
    gives (:meth:`Lock.select`: its pip pins and indexes, stamped with its environment id), named
    ``environment.<build>.yml``. ``environment.yml`` is the first build's, the lock's preferred one,
    so that the usual command creates a working environment; its header says so.
    """
    lock = ctx.lock
    if not lock.variants:
        return {ENVIRONMENT_FILE: environment_yml(ctx)}
    names = lock.variant_names
    files: dict[str, str] = {}
    for facts in lock.variants:
        view = EmitContext(lock.select(facts.name), ctx.lock_text, ctx.lock_name)
        needs = f"CUDA {facts.torch.cuda}" if facts.torch.cuda else "no GPU"
        if facts.min_driver:
            needs += f", NVIDIA driver >= {facts.min_driver}"
        holds = f"The lock holds {len(names)} torch builds: {', '.join(names)}."
        each = f"{build_file('<build>')} installs each build."
        if facts.name == names[0]:
            about = [
                holds,
                f"This file installs the first, {facts.name} ({needs}),",
                f"as {build_file(facts.name)} does; {each}",
            ]
            files[ENVIRONMENT_FILE] = environment_yml(view, ENVIRONMENT_FILE, about)
        about = [holds, f"This file installs {facts.name} ({needs});", each]
        files[build_file(facts.name)] = environment_yml(view, build_file(facts.name), about)
    return files


class CondaEmitter:
    name = "conda"

    def render(self, ctx: EmitContext) -> dict[str, str]:
        files = {**environment_files(ctx), CONDARC_FILE: condarc(ctx)}
        settings, variables = torch_settings(ctx), runtime_env(ctx)
        if needs_hook(settings, variables):
            files[MODULE_NAME] = hook_module(settings, variables, ctx.stamp())
            files[PTH_NAME] = f"# Generated by envspec: {ctx.stamp()}\n" + hook_pth()
        return files
