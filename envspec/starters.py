"""Init: the starter specs that ``envspec init`` writes, shipped as package data."""

from __future__ import annotations

from importlib import resources

import tomlkit

from envspec.errors import UsageError

# name -> one-line summary shown by `envspec init --list`
TEMPLATES: dict[str, str] = {
    "dev": "the seed 'PyTorch 2.x universal dev image': torch 2.1.2 + CUDA 12.1, mirrors, JupyterLab, zsh",
    "cpu": "CPU-only torch, no CUDA: laptops, CI runners and CPU servers",
    "cuda13": "the newest torch on CUDA 13 (driver R580 or newer)",
    "research": "a deterministic research profile: reproducible kernels and flags",
    "lab": "a multi-platform lab spec: Linux x86_64/aarch64 and macOS arm64, one lock",
    "fleet": "a mixed GPU fleet: CUDA 13, CUDA 12.6 and CPU torch builds in one lock, one per machine",
    "plain": "a plain Python environment without torch or CUDA",
}


def template_text(name: str) -> str:
    """The text of a template, exactly as shipped."""
    if name not in TEMPLATES:
        raise UsageError(
            f"unknown template {name!r}",
            hint="choose one of: " + ", ".join(TEMPLATES),
        )
    return resources.files("envspec").joinpath(f"data/templates/{name}.toml").read_text(encoding="utf-8")


def render_template(name: str, env_name: str | None = None) -> str:
    """A template, with ``[env] name`` replaced when ``env_name`` is given (comments are kept)."""
    text = template_text(name)
    if env_name is None:
        return text
    document = tomlkit.parse(text)
    env = document["env"]
    if not isinstance(env, tomlkit.items.Table):  # every shipped template has an [env] table
        raise TypeError(f"template {name!r} has no [env] table")
    env["name"] = env_name
    return tomlkit.dumps(document)
