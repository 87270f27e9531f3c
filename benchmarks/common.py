"""What the benchmarks share: the synthetic package graph, reading what lockers write, and the setup facts.

``bench_lock`` and ``run`` both import from here. Nothing here times anything (see ``engine``).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tests.support.isolation import isolated_env
from tests.support.wheels import build_wheel

LAYERS = (6, 12, 18, 22, 22)
"""Projects per layer of ``bench_lock``'s graph, top first: 80 in all; the spec requires the top layer."""
SEED = 751
"""The graph is a pure function of this seed, its layers and the host's Python and platform."""
PREFIX = "bench"
PLATFORM_ONLY = 7
"""Projects with platform wheels only in ``bench_lock``'s 80-project graph (scaled for other sizes)."""
RUN_TIMEOUT_S = 900
REPO = Path(__file__).resolve().parent.parent
PLATFORM_MACHINES = {"linux-x86_64": "x86_64", "linux-aarch64": "aarch64"}

Pins = dict[str, str]
Hashes = dict[str, frozenset[str]]


class BenchError(RuntimeError):
    """A run failed or wrote something unreadable: the benchmark stops and says why."""


# --------------------------------------------------------------------------------------------------
# the synthetic graph


@dataclasses.dataclass(frozen=True, slots=True)
class Release:
    version: str
    requires: tuple[str, ...]
    requires_python: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    name: str
    layer: int
    releases: tuple[Release, ...]
    tags: tuple[str, ...] = ("py3-none-any",)


@dataclasses.dataclass(frozen=True, slots=True)
class Graph:
    projects: tuple[Project, ...]
    top: tuple[str, ...]
    files: int
    multi_version: int
    platform_only: int


def _platform_tags(python: str, machine: str) -> tuple[str, ...]:
    """Binary-only wheels: one for this host's CPython and machine, four that a lock for it must leave out."""
    cp = "cp" + python.replace(".", "")
    other = "aarch64" if machine == "x86_64" else "x86_64"
    return (
        f"{cp}-{cp}-manylinux_2_17_{machine}.manylinux2014_{machine}",
        f"{cp}-{cp}-manylinux_2_17_{other}.manylinux2014_{other}",
        f"{cp}-{cp}-macosx_11_0_arm64",
        f"{cp}-{cp}-win_amd64",
        "cp399-cp399-manylinux_2_17_x86_64.manylinux2014_x86_64",
    )


def scaled_layers(size: int) -> tuple[int, ...]:
    """``size`` projects split over five layers in the proportions of :data:`LAYERS` (largest remainder)."""
    total = sum(LAYERS)
    exact = [size * n / total for n in LAYERS]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: size - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


def scaled_platform_only(size: int) -> int:
    return max(2, round(size * PLATFORM_ONLY / sum(LAYERS)))


def design_graph(
    python: str,
    machine: str,
    seed: int = SEED,
    layers: Sequence[int] = LAYERS,
    platform_only_count: int = PLATFORM_ONLY,
) -> tuple[tuple[Project, ...], tuple[str, ...]]:
    """The layered graph: every project of layer k+1 is required by at least one project of layer k.

    About one project in five below the top has releases 1.0, 1.1 and 2.0, required as ``>=1.0`` or
    ``>=1.0,<2`` (so the resolver has choices); some of those have a 2.0 that needs Python >= 3.12,
    which a 3.11 lock must skip. One conflict forces backtracking: project A (one release) requires
    ``B<2`` while project C 1.1 and 2.0 require ``B>=2``, so only C 1.0 fits. A few projects ship
    platform wheels only.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible, not secret
    names = [[f"{PREFIX}-l{layer}-{i:02d}" for i in range(size)] for layer, size in enumerate(layers)]
    below_top = [n for layer in names[1:] for n in layer]
    multi = set(rng.sample(below_top, len(below_top) // 5))
    gated = {n for n in sorted(multi) if rng.random() < 0.3}
    platform_only = set(rng.sample(sorted(set(below_top) - multi), platform_only_count))

    # the backtracking conflict, between layers 1 and 2
    multi_l1 = sorted(n for n in names[1] if n in multi)
    multi_l2 = sorted(n for n in names[2] if n in multi and n not in gated)
    single_l1 = sorted(n for n in names[1] if n not in multi)
    if not (multi_l1 and multi_l2 and single_l1):
        raise RuntimeError("the seed gives no project for the backtracking conflict; change SEED")
    conflict_a, conflict_b, conflict_c = single_l1[0], multi_l2[0], multi_l1[0]

    children: dict[str, list[str]] = {}
    for layer in range(len(layers) - 1):
        parents, kids = names[layer], names[layer + 1]
        picked: dict[str, list[str]] = {p: [] for p in parents}
        for j, kid in enumerate(kids):  # coverage: every kid has a parent
            picked[parents[j % len(parents)]].append(kid)
        for parent in parents:
            want = rng.choice((2, 3))
            spare = [k for k in kids if k not in picked[parent]]
            rng.shuffle(spare)
            while len(picked[parent]) < want and spare:
                picked[parent].append(spare.pop())
            children[parent] = sorted(picked[parent])
    if conflict_b not in children[conflict_a]:
        children[conflict_a] = sorted([*children[conflict_a], conflict_b])

    def requirement(parent: str, child: str) -> str:
        if parent == conflict_a and child == conflict_b:
            return f"{child}>=1.0,<2"
        if child in multi:
            return f"{child}{rng.choice(('>=1.0', '>=1.0,<2'))}"
        return f"{child}>=1.0"

    projects: list[Project] = []
    for layer, layer_names in enumerate(names):
        for name in layer_names:
            requires = tuple(requirement(name, c) for c in children.get(name, ()))
            releases: tuple[Release, ...]
            if name in multi:
                conflict = (f"{conflict_b}>=2",) if name == conflict_c else ()
                releases = (
                    Release("1.0", requires),
                    Release("1.1", requires + conflict),
                    Release("2.0", requires + conflict, ">=3.12" if name in gated else None),
                )
            else:
                releases = (Release("1.0", requires),)
            tags = _platform_tags(python, machine) if name in platform_only else ("py3-none-any",)
            projects.append(Project(name, layer, releases, tags))
    return tuple(projects), tuple(names[0])


def design_sized_graph(python: str, machine: str, size: int) -> tuple[tuple[Project, ...], tuple[str, ...]]:
    """A graph of ``size`` projects: the first seed from :data:`SEED` on that gives the conflict."""
    for seed in range(SEED, SEED + 100):
        try:
            return design_graph(python, machine, seed, scaled_layers(size), scaled_platform_only(size))
        except RuntimeError:
            continue
    raise RuntimeError(f"no seed from {SEED} on gives a {size}-project graph with its conflict")


def build_graph(
    root: Path,
    python: str,
    machine: str,
    design: tuple[tuple[Project, ...], tuple[str, ...]] | None = None,
    module_source: Callable[[str, str, bool], str | None] | None = None,
) -> Graph:
    """Build the wheels of ``design`` (default: ``bench_lock``'s 80-project graph) into ``root``;
    ``module_source(name, version, fits_host)`` gives a wheel's ``__init__.py`` (None: the default),
    ``fits_host`` being true for the first tag of a project, the one for this host."""
    projects, top = design_graph(python, machine) if design is None else design
    files = 0
    for project in projects:
        for release in project.releases:
            for n, tag in enumerate(project.tags):
                build_wheel(
                    root,
                    project.name,
                    release.version,
                    requires=release.requires,
                    requires_python=release.requires_python,
                    tag=tag,
                    module_source=module_source(project.name, release.version, n == 0)
                    if module_source
                    else None,
                )
                files += 1
    return Graph(
        projects=projects,
        top=top,
        files=files,
        multi_version=sum(len(p.releases) > 1 for p in projects),
        platform_only=sum(p.tags != ("py3-none-any",) for p in projects),
    )


def write_spec(path: Path, mirror_url: str, python: str, target: str, top: Sequence[str]) -> None:
    requirements = ", ".join(json.dumps(name) for name in top)
    path.write_text(
        f'[env]\nname = "bench"\npython = "{python}"\nplatforms = ["{target}"]\n\n'
        f'[[mirrors]]\nname = "loopback"\nurl = "{mirror_url}"\ntrusted = true\n\n'
        "[network]\ntimeout = 10\nretries = 0\n\n"
        f"[packages]\npython = [{requirements}]\n",
        encoding="utf-8",
    )


# --------------------------------------------------------------------------------------------------
# reading what the lockers wrote


def parse_requirements_txt(text: str) -> tuple[Pins, Hashes]:
    """``name==version`` pins and their ``--hash=sha256:`` values from a compiled requirements file."""
    pins: Pins = {}
    hashes: dict[str, frozenset[str]] = {}
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        words = line.split()
        spec = " ".join(w for w in words if not w.startswith("--hash="))
        spec = spec.split(" #", 1)[0]
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            raise ValueError(f"unreadable line in compiled requirements: {raw!r}") from None
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"unpinned line in compiled requirements: {raw!r}")
        name = canonicalize_name(requirement.name)
        pins[name] = specifiers[0].version
        hashes[name] = frozenset(
            w.removeprefix("--hash=sha256:") for w in words if w.startswith("--hash=sha256:")
        )
    return pins, hashes


def parse_pylock(text: str) -> tuple[Pins, Hashes]:
    """Pins and the sha256 of every file listed per package in a PEP 751 lock."""
    data = tomllib.loads(text)
    pins: Pins = {}
    hashes: dict[str, frozenset[str]] = {}
    for package in data.get("packages", []):
        name = canonicalize_name(str(package["name"]))
        pins[name] = str(package["version"])
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        hashes[name] = frozenset(str(f["hashes"]["sha256"]) for f in files)
    return pins, hashes


# --------------------------------------------------------------------------------------------------
# numbers and setup facts


def summary(times: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def source_revision() -> str:
    """The commit of the envspec being measured, with ``+dirty`` when envspec/ has uncommitted edits."""
    git = shutil.which("git")
    if git is None:
        return "?"
    try:
        head = subprocess.run(
            [git, "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(REPO), "status", "--porcelain", "--", "envspec"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def reported_version(*argv: str) -> str:
    """The version a command prints (``?`` where it prints none or fails)."""
    done = subprocess.run(argv, capture_output=True, text=True, env=isolated_env(), check=False)
    found = re.search(r"\b\d+(?:\.\d+)+\b", done.stdout + done.stderr)
    return found.group(0) if done.returncode == 0 and found else "?"


def tool_versions(uv: str) -> dict[str, str]:
    """The version each tool reports (``?`` where it reports none)."""
    py = sys.executable
    return {
        "envspec-commit": source_revision(),
        "python": platform.python_version(),
        "pip-tools": reported_version(py, "-m", "piptools", "compile", "--version"),
        "pip": reported_version(py, "-m", "pip", "--version"),
        "uv": reported_version(uv, "--version"),
        "envspec": reported_version(py, "-m", "envspec", "--version"),
    }
