"""`envspec diff` of locks of several torch builds: build by build, what every build shares told once."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from envspec.diff import (
    BuildsDiff,
    LockDiff,
    compare_locks,
    diff_builds,
    diff_locks,
    render_diff_json,
    render_diff_text,
)
from envspec.lock.model import BuildFacts, Facts, Lock, LockedPackage
from envspec.lock.read import parse_lock
from envspec.lock.render import render_lock
from envspec.spec import Spec

from .conftest import REPO
from .test_diff import make_lock, pkg

BUILDS = ("cu130", "cu126", "cpu")
CUDA = {"cu130": "13.0", "cu126": "12.6", "cpu": None}
FLOOR = {"cu130": "580", "cu126": "525.60.13", "cpu": None}
ARCH = {"cu130": ("7.5", "12.0"), "cu126": ("5.0", "9.0"), "cpu": (None, None)}
NVIDIA = {
    "cu130": (("nvidia-cublas-cu13", "13.0.2"), ("nvidia-cudnn-cu13", "9.20.0.48")),
    "cu126": (("nvidia-cublas-cu12", "12.6.4"), ("nvidia-cudnn-cu12", "9.20.0.48")),
    "cpu": (),
}


def build_facts(name: str, version: str = "2.13.0", changes: Mapping[str, Any] | None = None) -> BuildFacts:
    """A build's facts as `envspec lock` records them; ``changes`` replace keys (TOML names)."""
    arch_min, arch_max = ARCH[name]
    data: dict[str, Any] = {
        "name": name,
        "min-driver": FLOOR[name],
        "torch": {
            "version": version,
            "variant": name,
            "local": name,
            "cuda": CUDA[name],
            "arch-min": arch_min,
            "arch-max": arch_max,
        },
    }
    for key, value in (changes or {}).items():
        if isinstance(value, Mapping):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return BuildFacts.model_validate(data)


def lab_lock(
    builds: tuple[str, ...] = BUILDS,
    *,
    torch: str = "2.13.0",
    shared: tuple[LockedPackage, ...] | None = None,
    own: Mapping[str, tuple[LockedPackage, ...]] | None = None,
    facts: Mapping[str, BuildFacts] | None = None,
    cuda: Mapping[str, object] | None = None,
) -> Lock:
    """A lock of ``builds`` as `envspec lock` writes one: torch and nvidia wheels per build, the rest
    shared. ``own`` replaces a build's nvidia wheels, ``facts`` a build's facts."""
    packages = list(shared if shared is not None else (pkg("filelock", "3.16.1"),))
    for name in builds:
        wheels = (own or {}).get(name, tuple(pkg(n, v) for n, v in NVIDIA[name]))
        mine = (pkg("torch", f"{torch}+{name}", index="pytorch"), *wheels)
        packages.extend(dataclasses.replace(p, variants=(name,)) for p in mine)
    data: dict[str, Any] = {
        "env": {"name": "lab", "python": "3.11", "platforms": ["linux-x86_64"]},
        "torch": {"version": torch, "variants": list(builds), "index": "pytorch"},
        "mirrors": [
            {"name": "pypi", "url": "https://pypi.example/simple"},
            {"name": "pytorch", "url": "https://download.pytorch.example/whl/{variant}"},
        ],
    }
    if cuda is not None:
        data["cuda"] = cuda
    return Lock(
        spec_hash="sha256:" + "1" * 64,
        name="lab",
        python="3.11",
        platforms=("linux-x86_64",),
        resolver="uv",
        resolver_version="0.4.30",
        requirements=tuple(f"torch=={torch}+{n}" for n in builds),
        constraints=(),
        packages=tuple(packages),
        spec=Spec.model_validate(data),
        facts=Facts.model_validate({"python-image": "python:3.11-slim-bookworm"}),
        variants=tuple((facts or {}).get(n, build_facts(n, torch)) for n in builds),
    )


def by_builds(old: Lock, new: Lock) -> BuildsDiff:
    d = compare_locks(old, new)
    assert isinstance(d, BuildsDiff)
    return d


def plain(d: LockDiff | BuildsDiff) -> str:
    return Text.from_markup(render_diff_text(d, "old.toml", "new.toml")).plain


def section(text: str, title: str) -> list[str]:
    """The lines of one titled part of the text (``all builds``, ``build cu130``), title left out."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i]), len(lines))
    return lines[start + 1 : end]


def messages(d: LockDiff | BuildsDiff) -> list[str]:
    return [h.message for h in d.highlights]


# --- comparing ---------------------------------------------------------------------------------


def test_ordinary_locks_still_get_the_ordinary_diff() -> None:
    old, new = make_lock(), make_lock((pkg("torch", "2.1.2+cu121"), pkg("numpy", "2.0.0")))
    d = compare_locks(old, new)
    assert isinstance(d, LockDiff)
    assert d == diff_locks(old, new)
    assert render_diff_text(d, "a", "b") == render_diff_text(diff_locks(old, new), "a", "b")
    assert diff_builds(old, old).empty  # two ordinary locks compared as one build each
    assert diff_builds(old, new).builds[0].diff.changed == d.changed


def test_identical_locks_of_builds_do_not_differ() -> None:
    d = by_builds(lab_lock(), lab_lock())
    assert d.empty
    assert d.compared == BUILDS
    assert plain(d).splitlines()[2:] == ["builds: cu130, cu126, cpu (unchanged)", "no differences"]
    data = json.loads(render_diff_json(d))
    assert data["differs"] is False
    assert [b["differs"] for b in data["per-build"]] == [False, False, False]


def test_a_change_in_every_build_is_told_once() -> None:
    old = lab_lock()
    new = lab_lock(shared=(pkg("filelock", "3.16.2"),))
    d = by_builds(old, new)
    assert not d.empty
    assert [(c.name, c.old_version, c.new_version) for c in d.shared.changed] == [
        ("filelock", "3.16.1", "3.16.2")
    ]
    assert all(b.empty for b in d.builds)
    text = plain(d)
    assert text.count("filelock") == 1
    assert section(text, "all builds (cu130, cu126, cpu):") == [
        "  pins: 0 added, 0 removed, 1 changed",
        "    ~ filelock 3.16.1 -> 3.16.2",
    ]
    assert section(text, "build cpu:")[1:] == ["  no other differences"]


def test_a_change_in_one_build_stays_with_it() -> None:
    wheels = (pkg("nvidia-cublas-cu13", "13.1.0"), pkg("nvidia-cudnn-cu13", "9.20.0.48"))
    d = by_builds(lab_lock(), lab_lock(own={"cu130": wheels}))
    assert d.shared.empty
    cu130, cu126, cpu = d.builds
    assert [(c.name, c.new_version) for c in cu130.diff.changed] == [("nvidia-cublas-cu13", "13.1.0")]
    assert messages(cu130.diff) == ["CUDA runtime wheels: 1 nvidia-*/cuda-* package differ (1 changed)"]
    assert cu126.empty
    assert cpu.empty
    assert cu130.diff.env_id_changed
    assert not cu126.diff.env_id_changed
    text = plain(d)
    assert "all builds" not in text
    assert "    ~ nvidia-cublas-cu13 13.0.2 -> 13.1.0" in section(text, "build cu130:")
    assert section(text, "build cu126:")[1:] == ["  no other differences"]


def test_a_new_torch_in_every_build() -> None:
    d = by_builds(lab_lock(), lab_lock(torch="2.14.0"))
    assert messages(d.shared) == ["torch version 2.13.0 -> 2.14.0"]
    assert [(f.key, f.old, f.new) for f in d.shared_facts] == [("facts.torch.version", "2.13.0", "2.14.0")]
    # each build's torch pin is its own: 2.13.0+cu130 -> 2.14.0+cu130
    for build in d.builds:
        assert [(c.name, c.new_version) for c in build.diff.changed] == [("torch", f"2.14.0+{build.name}")]
        assert build.diff.highlights == ()
        assert build.facts == ()
    text = plain(d)
    assert text.count("torch version 2.13.0 -> 2.14.0") == 1
    assert "facts.torch.version" not in text  # the highlight tells it


def test_build_facts_driver_floor_and_kernel_range() -> None:
    new_cu130 = build_facts(
        "cu130", changes={"min-driver": "590", "torch": {"arch-min": "8.0", "cudnn": "9.21"}}
    )
    d = by_builds(lab_lock(), lab_lock(facts={"cu130": new_cu130}))
    cu130 = d.builds[0]
    assert messages(cu130.diff) == [
        "GPU kernels: compute capability 7.5-12.0 -> 8.0-12.0",
        "minimum driver 580 -> 590",
    ]
    assert [(f.key, f.old, f.new) for f in cu130.facts] == [
        ("facts.min-driver", "580", "590"),
        ("facts.torch.arch-min", "7.5", "8.0"),
        ("facts.torch.cudnn", None, "9.21"),
    ]
    assert cu130.diff.settings == ()  # a view's facts.torch.* are the build's facts
    assert all(b.empty for b in d.builds[1:])
    lines = section(plain(d), "build cu130:")
    assert "    ! minimum driver 580 -> 590" in lines
    assert '    ~ facts.torch.cudnn: (unset) -> "9.21"' in lines  # what no highlight tells
    assert not any("arch-min" in line for line in lines)


def test_builds_added_removed_and_reordered() -> None:
    d = by_builds(lab_lock(), lab_lock(("cpu", "cu130")))
    assert (d.added, d.removed) == ((), ("cu126",))
    assert d.order is not None
    assert (d.order.old, d.order.new) == (("cu130", "cpu"), ("cpu", "cu130"))
    assert messages(d) == [
        "build cu126 removed (torch 2.13.0+cu126, CUDA 12.6, minimum driver 525.60.13)",
        "builds' order of preference cu130, cpu -> cpu, cu130",
    ]
    assert d.compared == ("cpu", "cu130")  # NEW's order
    assert plain(d).splitlines()[2] == "builds: cu130, cu126, cpu -> cpu, cu130"
    back = by_builds(lab_lock(("cpu", "cu130")), lab_lock())
    assert back.added == ("cu126",)
    assert messages(back)[0] == "build cu126 added (torch 2.13.0+cu126, CUDA 12.6, minimum driver 525.60.13)"


def test_nvidia_counts_that_read_alike_stay_with_their_builds() -> None:
    builds = ("cu130", "cu126")
    new = lab_lock(
        builds,
        own={
            "cu130": (pkg("nvidia-cublas-cu13", "13.0.2"), pkg("nvidia-cudnn-cu13", "9.21.0")),
            "cu126": (pkg("nvidia-cublas-cu12", "12.6.4"), pkg("nvidia-cudnn-cu12", "9.21.0")),
        },
    )
    d = by_builds(lab_lock(builds), new)
    assert d.shared.highlights == ()
    wheels = "CUDA runtime wheels: 1 nvidia-*/cuda-* package differ (1 changed)"
    assert [messages(b.diff) for b in d.builds] == [[wheels], [wheels]]


def test_the_fleet_driver_and_gpus_are_told_for_the_whole_lock() -> None:
    old = lab_lock(cuda={"version": "12.6", "driver": "560.35.03"})
    new = lab_lock(cuda={"version": "12.6", "driver": "570.86.10", "gpus": ["8.0", "9.0"]})
    d = by_builds(old, new)
    assert messages(d) == ["fleet driver 560.35.03 -> 570.86.10"]
    assert [(s.key, s.new) for s in d.shared.settings] == [("spec.cuda.gpus", ("8.0", "9.0"))]
    assert all(b.empty for b in d.builds)


def test_with_one_build_compared_nothing_is_lifted_out_but_the_lock_wide() -> None:
    old = lab_lock(("cu126",), shared=(), cuda={"version": "12.6", "gpus": ["8.0"]})
    new = lab_lock(("cu126", "cpu"), cuda={"version": "12.6"})
    d = by_builds(old, new)
    assert d.added == ("cpu",)
    assert [(s.key, s.old, s.new) for s in d.shared.settings] == [("spec.cuda.gpus", ("8.0",), None)]
    (cu126,) = d.builds
    assert [p.name for p in cu126.diff.added] == ["filelock"]
    text = plain(d)
    assert "all builds" not in text
    assert section(text, "the lock:") == ["  other settings:", '    ~ spec.cuda.gpus: ["8.0"] -> (unset)']


def test_an_ordinary_lock_is_one_build_named_by_its_torch() -> None:
    facts = build_facts("cu126")
    single = dataclasses.replace(
        lab_lock(("cu126",)),
        packages=tuple(dataclasses.replace(p, variants=()) for p in lab_lock(("cu126",)).packages),
        spec=Spec.model_validate(
            {
                "env": {"name": "lab", "python": "3.11", "platforms": ["linux-x86_64"]},
                "torch": {"version": "2.13.0", "variant": "cu126", "index": "pytorch"},
                "mirrors": [
                    {"name": "pypi", "url": "https://pypi.example/simple"},
                    {"name": "pytorch", "url": "https://download.pytorch.example/whl/cu126"},
                ],
            }
        ),
        facts=Facts.model_validate({"python-image": "python:3.11-slim-bookworm", "torch": facts.torch}),
        variants=(),
    )
    d = by_builds(single, lab_lock())
    assert (d.old_single, d.new_single) == (True, False)
    assert (d.added, d.removed, d.compared) == (("cu130", "cpu"), (), ("cu126",))
    assert messages(d)[0] == "one build (cu126) -> builds cu130, cu126, cpu"
    (cu126,) = d.builds
    assert cu126.diff.added == cu126.diff.removed == ()
    assert cu126.diff.changed == ()
    # the ordinary lock recorded no driver floor (no [cuda]); the build's is checked at install
    assert messages(cu126.diff) == ["minimum driver (none) -> 525.60.13"]
    assert plain(d).splitlines()[2] == "builds: cu126 (one build) -> cu130, cu126, cpu"
    assert messages(by_builds(lab_lock(), single))[0] == "builds cu130, cu126, cpu -> one build (cu126)"


def test_with_no_build_in_common_the_preferred_builds_are_compared() -> None:
    old = make_lock((pkg("torch", "2.1.2+cu121"), pkg("filelock", "3.16.1")))
    d = by_builds(old, lab_lock(("cu130", "cpu")))
    (only,) = d.builds
    assert (only.name, only.old_name) == ("cu130", "cu121")
    assert (d.removed, d.added) == (("cu121",), ("cu130", "cpu"))
    assert "torch build cu121 -> cu130 (CUDA 12.1 -> 13.0)" in messages(only.diff)
    assert "build cu130 (compared with cu121):" in plain(d).splitlines()


def test_the_example_in_the_docs_is_what_envspec_diff_shows() -> None:
    old = lab_lock()
    nvidia = (pkg("nvidia-cublas-cu13", "13.1.0.3"), pkg("nvidia-cudnn-cu13", "9.20.0.48"))
    cu130 = build_facts("cu130", "2.13.1", changes={"min-driver": "580.65.06", "torch": {"arch-min": "8.0"}})
    new = lab_lock(
        ("cu130", "cpu"),
        torch="2.13.1",
        shared=(pkg("filelock", "3.16.2"), pkg("attrs", "25.3.0")),
        own={"cu130": nvidia},
        facts={"cu130": cu130},
    )
    text = Text.from_markup(render_diff_text(compare_locks(old, new), "pylock.toml", "new/pylock.toml")).plain
    example = f"$ envspec diff pylock.toml new/pylock.toml\n{text}```"
    assert example in (REPO / "docs" / "diff.md").read_text(encoding="utf-8")


# --- JSON --------------------------------------------------------------------------------------


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_json_of_a_comparison_build_by_build() -> None:
    old = lab_lock()
    new = lab_lock(
        ("cu130", "cpu"),
        shared=(pkg("filelock", "3.16.2"),),
        facts={"cu130": build_facts("cu130", changes={"min-driver": "590"})},
    )
    d = by_builds(old, new)
    out = render_diff_json(d)
    assert out == render_diff_json(by_builds(old, new))
    data = json.loads(out)
    assert list(data) == ["differs", "env-id", "builds", "highlights", "all-builds", "per-build"]
    assert data["differs"] is True
    assert data["env-id"] == {"old": old.env_id, "new": new.env_id, "changed": True}
    assert data["builds"] == {
        "old": ["cu130", "cu126", "cpu"],
        "new": ["cu130", "cpu"],
        "old-single": False,
        "new-single": False,
        "added": [],
        "removed": ["cu126"],
        "order": None,
    }
    shared = data["all-builds"]
    assert list(shared)[:3] == ["builds", "facts", "highlights"]
    assert shared["builds"] == ["cu130", "cpu"]
    assert [c["name"] for c in shared["changed"]] == ["filelock"]
    cu130, cpu = data["per-build"]
    assert list(cu130)[:6] == ["name", "compared-with", "differs", "env-id", "facts", "highlights"]
    assert cu130["facts"] == [{"key": "facts.min-driver", "old": "580", "new": "590"}]
    assert cu130["env-id"]["old"] == old.select("cu130").env_id
    assert (cpu["name"], cpu["differs"], cpu["changed"]) == ("cpu", False, [])
    assert sorted(k for k in _keys(data) if not re.fullmatch(r"[a-z]+(-[a-z]+)*", k)) == []


def test_a_lock_of_builds_survives_the_file() -> None:
    lock = lab_lock(cuda={"version": "12.6", "driver": "560.35.03", "gpus": ["8.0"]})
    parsed = parse_lock(render_lock(lock), "pylock.toml")
    for old, new in ((lock, parsed), (parsed, lock), (parsed, parsed)):
        d = by_builds(old, new)
        assert d.empty, render_diff_text(d, "old", "new")
