"""The package graphs the locker tests resolve.  All names start with ``es-`` and exist on no
public index, so resolving them anywhere but 127.0.0.1 fails loudly.

``build_graph`` (the index a spec assigns):

=================  =====================================================================
es-app 1.0, 1.1    ``es-core>=1.0``, ``es-util; python_version >= "3.8"``,
                   extra ``fast``: ``es-speed>=2``; Requires-Python ``>=3.8``
es-core 1.0        no dependencies
es-core 2.0        ``es-util>=1.1``, ``es-winonly; sys_platform == "win32"``
es-util 1.0, 1.1   no dependencies
es-speed 2.0       no dependencies
es-winonly 1.0     no dependencies (reached only on Windows)
es-native 1.0      platform wheels only: cp311 manylinux x86_64, cp311 macOS arm64,
                   cp312 manylinux x86_64 (pure-Python content; the tags are what matter)
=================  =====================================================================

For ``es-app[fast]`` on CPython 3.11/Linux a resolver picks es-app 1.1, es-core 2.0,
es-util 1.1 and es-speed 2.0 (:data:`APP_FAST_PINS`).

``build_evil_graph`` (a second index that must never win for projects not assigned to it):
es-core 99.0 and es-util 99.0 (higher than anything honest), and es-torchlike 1.0+cu999 (a
local version only this index serves, like a PyTorch CUDA build).
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.support.wheels import build_wheel

__all__ = ["APP_FAST_PINS", "EVIL_PINS", "NATIVE_TAGS", "build_evil_graph", "build_graph"]

NATIVE_TAGS = (
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-cp311-macosx_11_0_arm64",
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
)
APP_FAST_PINS = {"es-app": "1.1", "es-core": "2.0", "es-util": "1.1", "es-speed": "2.0"}
"""What ``es-app[fast]`` resolves to on CPython 3.11/Linux against ``build_graph``'s index."""
EVIL_PINS = {"es-core": "99.0", "es-util": "99.0", "es-torchlike": "1.0+cu999"}


def _built(paths: list[Path]) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for path in paths:
        name = canonicalize_name(parse_wheel_filename(path.name)[0])
        graph.setdefault(name, []).append(path.name)
    return {name: sorted(files) for name, files in sorted(graph.items())}


def build_graph(dest: Path) -> dict[str, list[str]]:
    """Build the honest graph's wheels into ``dest``; return ``{project: [file names]}``."""
    app_requires = ["es-core>=1.0", 'es-util; python_version >= "3.8"']
    paths = [
        *(
            build_wheel(
                dest,
                "es-app",
                version,
                requires=app_requires,
                extras={"fast": ["es-speed>=2"]},
                requires_python=">=3.8",
            )
            for version in ("1.0", "1.1")
        ),
        build_wheel(dest, "es-core", "1.0"),
        build_wheel(dest, "es-core", "2.0", requires=["es-util>=1.1", 'es-winonly; sys_platform == "win32"']),
        build_wheel(dest, "es-util", "1.0"),
        build_wheel(dest, "es-util", "1.1"),
        build_wheel(dest, "es-speed", "2.0"),
        build_wheel(dest, "es-winonly", "1.0"),
        *(build_wheel(dest, "es-native", "1.0", tag=tag) for tag in NATIVE_TAGS),
    ]
    return _built(paths)


def build_evil_graph(dest: Path) -> dict[str, list[str]]:
    """Build the second index's wheels into ``dest``; return ``{project: [file names]}``."""
    paths = [
        build_wheel(dest, "es-core", "99.0"),
        build_wheel(dest, "es-util", "99.0"),
        build_wheel(dest, "es-torchlike", "1.0+cu999"),
    ]
    return _built(paths)
