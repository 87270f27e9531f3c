"""Emit: a lock -> the files that materialise it (a venv bootstrap script, a conda env, a Dockerfile).

Every emitter is a pure function of the lock behind the :class:`Emitter` protocol: it returns file
names and their text, never reads the spec, the network or the clock, and stamps every file with the
environment id and the lock's hash. This module is the registry of targets.
"""

from __future__ import annotations

from envspec.emit.base import EmitContext, EmitError, Emitter
from envspec.emit.conda import CondaEmitter
from envspec.emit.docker import DockerEmitter
from envspec.emit.venv import VenvEmitter

__all__ = ["EmitContext", "EmitError", "Emitter", "emitters", "render_targets"]


def emitters() -> dict[str, Emitter]:
    """Every target, by name, in the order ``--target all`` writes them."""
    return {"venv": VenvEmitter(), "conda": CondaEmitter(), "docker": DockerEmitter()}


def render_targets(ctx: EmitContext, targets: list[str]) -> dict[str, str]:
    """The files of the named targets (file name -> text), sorted by name."""
    available = emitters()
    files: dict[str, str] = {}
    for name in targets:
        files.update(available[name].render(ctx))
    return dict(sorted(files.items()))
