"""The inputs of one benchmark run, made once and shared by its groups: served graphs, locks, specs, commands.

Everything lives under one temporary folder; :class:`Workspace` stops the loopback mirrors and the
caller removes the folder. Locks and emitted files made here are set-up, never timed, and use a cache
of their own, so they warm nothing a timed case uses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from benchmarks.common import (
    PLATFORM_MACHINES,
    RUN_TIMEOUT_S,
    BenchError,
    Graph,
    Hashes,
    Pins,
    build_graph,
    design_sized_graph,
    parse_pylock,
    parse_requirements_txt,
    write_spec,
)
from benchmarks.engine import Log
from benchmarks.mirror import serve_static
from envspec.platforms import UV_TARGETS
from tests.support.index import serve_index
from tests.support.isolation import isolated_env

T = TypeVar("T")

MIRRORS = ("static", "serve-index")
"""How a graph is served: ``benchmarks.mirror.serve_static`` or ``tests.support.index.serve_index``."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServedGraph:
    size: int
    graph: Graph
    url: str
    spec: Path
    requirements_in: Path
    errors: Callable[[], list[str]]


def envspec(*args: str | Path) -> tuple[str, ...]:
    return (sys.executable, "-m", "envspec", *map(str, args))


def tool_env(caches: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``isolated_env()`` with every cache that follows XDG, and envspec's own, under ``caches``."""
    return {
        **isolated_env(),
        "XDG_CACHE_HOME": str(caches / "xdg"),
        "ENVSPEC_CACHE_DIR": str(caches / "envspec-cache"),
        **(extra or {}),
    }


def read_requirements(path: Path) -> tuple[Pins, Hashes]:
    return parse_requirements_txt(path.read_text(encoding="utf-8"))


def read_pylock(path: Path) -> tuple[Pins, Hashes]:
    return parse_pylock(path.read_text(encoding="utf-8"))


def hashed_requirements(lock: Path) -> str:
    """``name==version --hash=sha256:...`` for every package of a lock: what the bare installers get."""
    pins, hashes = read_pylock(lock)
    return "".join(
        f"{name}=={pins[name]} " + " ".join(f"--hash=sha256:{h}" for h in sorted(hashes[name])) + "\n"
        for name in sorted(pins)
    )


def spec_text(name: str, python: str, target: str, requirements: Sequence[str]) -> str:
    """A spec for a real requirement set: the installer's default index as its one mirror."""
    return (
        f'[env]\nname = "{name}"\npython = "{python}"\nplatforms = ["{target}"]\n\n'
        '[[mirrors]]\nname = "default"\n\n'
        f"[packages]\npython = {json.dumps(list(requirements))}\n"
    )


class Workspace:
    """The temporary folder of one run, the loopback mirrors it serves and the locks made for set-up."""

    def __init__(
        self, root: Path, python: str, target: str, uv: str, log: Log, mirror: str = "static"
    ) -> None:
        self.root = root
        self.mirror = mirror
        self.python = python
        self.target = target
        self.uv_platform = UV_TARGETS[target]
        self.uv = uv
        self.log = log
        self._stack = contextlib.ExitStack()
        self._graphs: dict[int, ServedGraph] = {}
        self._locks: dict[str, Path] = {}

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        for served in self._graphs.values():
            if served.errors():
                self.log(f"warning: the {served.size}-project mirror raised: {served.errors()[:3]}")
        self._stack.close()

    def hold(self, manager: contextlib.AbstractContextManager[T]) -> T:
        """Enter ``manager`` (a mirror a group serves itself) until the workspace closes."""
        return self._stack.enter_context(manager)

    def folder(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def graph(self, size: int) -> ServedGraph:
        """The ``size``-project graph, built and served on 127.0.0.1 the first time it is asked for."""
        if size not in self._graphs:
            home = self.folder(f"graph-{size}")
            design = design_sized_graph(self.python, PLATFORM_MACHINES[self.target], size)
            graph = build_graph(home / "index", self.python, PLATFORM_MACHINES[self.target], design)
            if self.mirror == "static":
                static = self._stack.enter_context(serve_static(home / "index"))
                url, errors = static.url, lambda: static.errors
            else:
                server = self._stack.enter_context(serve_index(home / "index"))
                url, errors = server.url, lambda: server.errors
            spec = home / "bench.toml"
            write_spec(spec, url, self.python, self.target, graph.top)
            requirements_in = home / "requirements.in"
            requirements_in.write_text("".join(f"{n}\n" for n in graph.top), encoding="utf-8")
            self.log(
                f"graph of {size}: {len(graph.projects)} projects, {graph.files} wheels,"
                f" {graph.multi_version} with several versions, {graph.platform_only} with platform"
                f" wheels only; {len(graph.top)} required; served by {self.mirror}"
            )
            self._graphs[size] = ServedGraph(size, graph, url, spec, requirements_in, errors)
        return self._graphs[size]

    def setup_run(self, argv: Sequence[str | Path], what: str) -> subprocess.CompletedProcess[str]:
        """Run a set-up command (untimed) with set-up caches; stop the benchmark if it fails."""
        command = [str(a) for a in argv]
        done = subprocess.run(
            command,
            cwd=self.root,
            env=tool_env(self.folder("setup-caches")),
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise BenchError(
                f"set-up: {what} failed: {shlex.join(command)}\n{(done.stderr + done.stdout)[-3000:]}"
            )
        return done

    def lock(self, spec: Path, name: str) -> Path:
        """``spec`` locked once by envspec (uv) into ``locks/<name>.toml``."""
        if name not in self._locks:
            out = self.folder("locks") / f"{name}.toml"
            self.log(f"set-up: locking {name}")
            self.setup_run(envspec("lock", spec, "-o", out, "--resolver", "uv"), f"envspec lock {name}")
            self._locks[name] = out
        return self._locks[name]

    def emit_venv(self, lock: Path, name: str) -> Path:
        """``bootstrap.sh`` emitted from ``lock`` (set-up)."""
        out = self.folder("emitted", name)
        self.setup_run(envspec("emit", "--lock", lock, "--target", "venv", "-o", out), f"envspec emit {name}")
        script = out / "bootstrap.sh"
        if not script.is_file():
            raise BenchError(f"set-up: envspec emit --target venv wrote no bootstrap.sh into {out}")
        return script
