"""Emit: a lock -> the files that materialise it (a venv bootstrap script, a conda env, a Dockerfile).

Every emitter is a pure function of the lock behind the :class:`Emitter` protocol: it returns file
names and their text, never reads the spec, the network or the clock, and stamps every file with the
environment id and the lock's hash.
"""

from __future__ import annotations

from envspec.emit.base import EmitContext, Emitter, emitters

__all__ = ["EmitContext", "Emitter", "emitters"]
