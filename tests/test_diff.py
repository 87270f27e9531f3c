"""`envspec diff`'s core: comparing two lock values, and rendering the comparison as text and JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from rich.text import Text

from envspec.diff import LockDiff, diff_locks, render_diff_json, render_diff_text
from envspec.lock.model import Artifact, Facts, Lock, LockedPackage
from envspec.lock.read import parse_lock
from envspec.lock.render import render_lock
from envspec.spec import Spec


def artifact(filename: str, salt: str = "") -> Artifact:
    digest = hashlib.sha256(f"{filename}{salt}".encode()).hexdigest()
    return Artifact(name=filename, url=f"https://files.example/{filename}", size=1000, sha256=digest)


def pkg(
    name: str,
    version: str,
    *,
    index: str = "pypi",
    marker: str | None = None,
    salt: str = "",
    files: tuple[str, ...] = (),
) -> LockedPackage:
    stem = f"{name.replace('-', '_')}-{version}"
    names = files or (f"{stem}-py3-none-any.whl",)
    return LockedPackage(
        name=name,
        version=version,
        index_name=index,
        index_url=f"https://{index}.example/simple",
        wheels=tuple(artifact(f, salt) for f in names),
        marker=marker,
    )


def spec(**sections: Any) -> Spec:
    """A spec with [cuda], [torch], one mirror and runtime flags; ``sections`` replace whole tables."""
    data: dict[str, Any] = {
        "env": {"name": "demo", "python": "3.11"},
        "cuda": {"version": "12.1", "driver": "535.129.03"},
        "torch": {"version": "2.1.2", "variant": "cu121"},
        "mirrors": [{"name": "pypi", "url": "https://pypi.example/simple"}],
        "runtime": {"env": {"NCCL_P2P_DISABLE": "0"}, "torch": {"deterministic": True}},
    }
    data.update(sections)
    return Spec.model_validate(data)


FACTS = Facts.model_validate(
    {
        "python-image": "python:3.11-slim-bookworm",
        "torch": {"version": "2.1.2", "variant": "cu121", "local": "cu121", "cuda": "12.1", "cudnn": "8.9"},
        "cuda": {"version": "12.1", "driver": "535.129.03", "min-driver": "525.60.13", "devel": False},
    }
)


def facts(**tables: object) -> Facts:
    """FACTS with some keys (TOML names: ``python_image`` is written ``python-image``) replaced."""
    data = FACTS.model_dump(mode="json", by_alias=True)
    data.update({key.replace("_", "-"): value for key, value in tables.items()})
    return Facts.model_validate(data)


def make_lock(
    packages: tuple[LockedPackage, ...] | None = None,
    *,
    spec_data: Spec | None = None,
    facts: Facts | None = None,
    python: str = "3.11",
    platforms: tuple[str, ...] = ("linux-x86_64",),
) -> Lock:
    """A lock as `envspec lock` writes one: its Python and platforms are the spec's [env] ones."""
    data = (spec_data if spec_data is not None else spec()).model_dump(mode="json", by_alias=True)
    data["env"].update(python=python, platforms=list(platforms))
    return Lock(
        spec_hash="sha256:" + "0" * 64,
        name="demo",
        python=python,
        platforms=platforms,
        resolver="uv",
        resolver_version="0.4.30",
        requirements=("torch==2.1.2+cu121", "numpy"),
        constraints=(),
        packages=packages
        if packages is not None
        else (pkg("torch", "2.1.2+cu121"), pkg("numpy", "1.26.4"), pkg("filelock", "3.13.1")),
        spec=Spec.model_validate(data),
        facts=facts if facts is not None else FACTS,
    )


def plain(d: LockDiff, old: str = "old.toml", new: str = "new.toml") -> str:
    return Text.from_markup(render_diff_text(d, old, new)).plain


def messages(d: LockDiff, kind: str | None = None) -> list[str]:
    return [h.message for h in d.highlights if kind is None or h.kind == kind]


def with_torch(**changes: str) -> Facts:
    return facts(torch={**FACTS.model_dump(mode="json", by_alias=True)["torch"], **changes})


# --- comparing ---------------------------------------------------------------------------------


def test_identical_locks_do_not_differ() -> None:
    d = diff_locks(make_lock(), make_lock())
    assert d.empty
    assert not d.env_id_changed
    assert d.highlights == ()
    assert "no differences" in plain(d)
    assert json.loads(render_diff_json(d))["differs"] is False


def test_added_removed_and_changed_pins() -> None:
    old = make_lock((pkg("torch", "2.1.2+cu121"), pkg("numpy", "1.26.4"), pkg("filelock", "3.13.1")))
    new = make_lock((pkg("torch", "2.1.2+cu121"), pkg("numpy", "2.0.0"), pkg("sympy", "1.12")))
    d = diff_locks(old, new)
    assert not d.empty
    assert d.env_id_changed
    assert [(p.name, p.version) for p in d.added] == [("sympy", "1.12")]
    assert [(p.name, p.version) for p in d.removed] == [("filelock", "3.13.1")]
    assert [(c.name, c.old_version, c.new_version, c.same_version) for c in d.changed] == [
        ("numpy", "1.26.4", "2.0.0", False)
    ]
    assert messages(d, "files") == []


def test_pins_are_paired_by_normalized_name_and_marker() -> None:
    wheel = ("typing_extensions-4.9.0-py3-none-any.whl",)  # the same file under both spellings
    old = make_lock((pkg("Typing_Extensions", "4.9.0", marker="python_version < '3.12'", files=wheel),))
    new = make_lock((pkg("typing-extensions", "4.9.0", marker='python_version < "3.12"', files=wheel),))
    assert diff_locks(old, new).empty


def test_same_pin_under_two_markers_are_two_pins() -> None:
    old = make_lock((pkg("triton", "2.1.0", marker="platform_machine == 'x86_64'"),))
    new = make_lock(
        (
            pkg("triton", "2.1.0", marker="platform_machine == 'x86_64'"),
            pkg("triton", "2.1.0", marker="platform_machine == 'aarch64'", salt="arm"),
        )
    )
    d = diff_locks(old, new)
    assert [(p.name, p.marker) for p in d.added] == [("triton", 'platform_machine == "aarch64"')]
    assert d.changed == ()
    assert '+ triton 2.1.0 ; platform_machine == "aarch64"' in plain(d)


def test_same_version_with_different_hashes_is_flagged() -> None:
    old = make_lock((pkg("numpy", "1.26.4"),))
    new = make_lock((pkg("numpy", "1.26.4", salt="re-uploaded"),))
    d = diff_locks(old, new)
    assert not d.empty
    (change,) = d.changed
    assert change.same_version
    assert change.rehashed == ("numpy-1.26.4-py3-none-any.whl",)
    assert change.files_added == change.files_removed == ()
    (message,) = messages(d, "files")
    assert "numpy 1.26.4: same version, different files" in message
    assert "re-upload or a different index" in message
    text = plain(d)
    assert "~ numpy 1.26.4 (same version, different files)" in text.splitlines()[-1]
    assert json.loads(render_diff_json(d))["changed"][0]["same-version-different-files"] is True


def test_same_version_with_other_files_is_flagged_with_counts() -> None:
    old = make_lock((pkg("numpy", "1.26.4", files=("numpy-1.26.4-cp311-manylinux_x86_64.whl",)),))
    new = make_lock(
        (
            pkg(
                "numpy",
                "1.26.4",
                files=("numpy-1.26.4-cp311-manylinux_x86_64.whl", "numpy-1.26.4-cp311-manylinux_aarch64.whl"),
            ),
        )
    )
    d = diff_locks(old, new)
    (change,) = d.changed
    assert change.rehashed == ()
    assert change.files_added == ("numpy-1.26.4-cp311-manylinux_aarch64.whl",)
    assert messages(d, "files") == ["numpy 1.26.4: same version, different files (1 added, 0 removed)"]


def test_a_new_url_for_the_same_file_is_no_difference() -> None:
    old = make_lock((pkg("numpy", "1.26.4"),))
    moved = pkg("numpy", "1.26.4")
    wheel = dataclasses.replace(moved.wheels[0], url="https://elsewhere.example/numpy.whl")
    new = make_lock((dataclasses.replace(moved, wheels=(wheel,)),))
    assert diff_locks(old, new).empty


def test_torch_build_change_is_highlighted() -> None:
    old = make_lock(
        (pkg("torch", "2.1.2+cu118"), pkg("numpy", "1.26.4")),
        facts=with_torch(variant="cu118", local="cu118", cuda="11.8"),
    )
    new = make_lock((pkg("torch", "2.1.2+cu121"), pkg("numpy", "1.26.4")))
    d = diff_locks(old, new)
    assert messages(d, "torch") == ["torch build cu118 -> cu121 (CUDA 11.8 -> 12.1)"]
    assert d.highlights[0].kind == "torch"  # what matters most comes first
    text = plain(d)
    assert "torch build cu118 -> cu121 (CUDA 11.8 -> 12.1)" in text
    assert "~ torch 2.1.2+cu118 -> 2.1.2+cu121" in text


def test_torch_build_from_the_local_label_without_facts() -> None:
    old = make_lock((pkg("torch", "2.1.2+cu118"),), facts=Facts())
    new = make_lock((pkg("torch", "2.2.0+cu121"),), facts=Facts())
    assert messages(diff_locks(old, new), "torch") == [
        "torch version 2.1.2 -> 2.2.0",
        "torch build cu118 -> cu121",
    ]


def test_torch_added_and_removed() -> None:
    with_ = make_lock((pkg("torch", "2.1.2+cpu"),), facts=Facts())
    without = make_lock((pkg("numpy", "1.26.4"),), facts=Facts())
    assert messages(diff_locks(without, with_), "torch") == ["torch 2.1.2 (cpu) added"]
    assert messages(diff_locks(with_, without), "torch") == ["torch 2.1.2 (cpu) removed"]


def test_cuda_fact_changes_are_highlighted() -> None:
    old = make_lock(facts=facts(cuda={"version": "11.8", "driver": "535.129.03", "min-driver": "450.80.02"}))
    d = diff_locks(old, make_lock())
    assert messages(d, "cuda") == ["CUDA 11.8 -> 12.1", "minimum driver 450.80.02 -> 525.60.13"]
    assert not d.empty


def test_nvidia_packages_are_grouped_into_one_highlight() -> None:
    common = (pkg("torch", "2.1.2+cu121"), pkg("numpy", "1.26.4"))
    old = make_lock((*common, pkg("nvidia-cublas-cu11", "11.11.3.6"), pkg("nvidia-cudnn-cu11", "8.7.0.84")))
    new = make_lock(
        (
            *common,
            pkg("nvidia-cublas-cu12", "12.1.3.1"),
            pkg("nvidia-cudnn-cu12", "8.9.2.26"),
            pkg("nvidia-nccl-cu12", "2.18.1"),
            pkg("cuda-python", "12.1.0"),
        )
    )
    d = diff_locks(old, new)
    nvidia = [m for m in messages(d) if "nvidia" in m]
    assert nvidia == [
        "CUDA runtime wheels: 6 nvidia-*/cuda-* packages differ (4 added, 2 removed), cu11 -> cu12"
    ]
    # every pin is still listed
    assert len(d.added) == 4
    assert len(d.removed) == 2


def test_one_changed_nvidia_package() -> None:
    old = make_lock((pkg("nvidia-nccl-cu12", "2.18.1"),))
    new = make_lock((pkg("nvidia-nccl-cu12", "2.19.3"),))
    assert messages(diff_locks(old, new), "cuda") == [
        "CUDA runtime wheels: 1 nvidia-*/cuda-* package differ (1 changed)"
    ]


def test_runtime_flag_changes_are_highlighted_with_old_and_new_values() -> None:
    old = make_lock(
        spec_data=spec(
            runtime={
                "env": {"NCCL_P2P_DISABLE": "0", "OMP_NUM_THREADS": 8},
                "torch": {"deterministic": True, "float32_matmul_precision": "high"},
            }
        )
    )
    new = make_lock(
        spec_data=spec(
            runtime={
                "env": {"NCCL_P2P_DISABLE": "1", "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"},
                "torch": {"float32_matmul_precision": "medium", "cudnn_benchmark": True},
            }
        )
    )
    d = diff_locks(old, new)
    assert not d.empty
    assert d.changed == ()
    assert d.added == d.removed == ()
    assert messages(d, "runtime") == [
        'runtime.env.NCCL_P2P_DISABLE: "0" -> "1"',
        'runtime.env.OMP_NUM_THREADS: "8" -> (unset)',  # the spec stores every value as a string
        'runtime.env.PYTORCH_CUDA_ALLOC_CONF: (unset) -> "expandable_segments:True"',
        "runtime.torch.cudnn_benchmark: (unset) -> true",
        "runtime.torch.deterministic: true -> (unset)",
        'runtime.torch.float32_matmul_precision: "high" -> "medium"',
    ]
    assert (d.flags[0].key, d.flags[0].old, d.flags[0].new) == ("runtime.env.NCCL_P2P_DISABLE", "0", "1")
    assert d.settings == ()  # flags are not repeated among the other settings


def test_user_content_is_escaped_in_the_markup() -> None:
    new = make_lock(spec_data=spec(runtime={"env": {"NCCL_P2P_DISABLE": "0", "X": "[bold]y[/]"}}))
    d = diff_locks(make_lock(), new)
    assert 'runtime.env.X: (unset) -> "[bold]y[/]"' in plain(d)


def test_mirror_url_change_and_index_change() -> None:
    mirrors = [
        {"name": "pypi", "url": "https://pypi.example/simple"},
        {"name": "internal", "url": "https://old.internal.example/simple"},
    ]
    moved = [
        {"name": "pypi", "url": "https://pypi.example/simple"},
        {"name": "internal", "url": "https://new.internal.example/simple"},
    ]
    old = make_lock((pkg("numpy", "1.26.4"), pkg("filelock", "3.13.1")), spec_data=spec(mirrors=mirrors))
    new = make_lock(
        (pkg("numpy", "1.26.4", index="internal"), pkg("filelock", "3.13.1")), spec_data=spec(mirrors=moved)
    )
    d = diff_locks(old, new)
    assert not d.empty
    assert [(m.name, m.change, m.old, m.new) for m in d.mirrors] == [
        ("internal", "changed", "https://old.internal.example/simple", "https://new.internal.example/simple")
    ]
    assert [(i.name, i.old, i.new) for i in d.indexes] == [("numpy", "pypi", "internal")]
    assert d.changed == ()  # same files: the pin itself did not change
    assert messages(d, "mirrors") == [
        "mirror internal: https://old.internal.example/simple -> https://new.internal.example/simple",
        "index pypi -> internal for 1 package: numpy",
    ]


def test_mirrors_added_removed_and_reordered() -> None:
    a = {"name": "a", "url": "https://a.example/simple"}
    b = {"name": "b", "url": "https://b.example/simple"}
    c = {"name": "c", "url": "http://c.example/simple", "trusted": True, "packages": ["my-lib"]}
    old = make_lock(spec_data=spec(mirrors=[a, b]))
    new = make_lock(spec_data=spec(mirrors=[b, a, c]))
    d = diff_locks(old, new)
    assert messages(d, "mirrors") == [
        "mirror c added: http://c.example/simple (trusted) only for my-lib",
        'mirror order ["a", "b"] -> ["b", "a"]',
    ]
    assert d.mirror_order is not None
    assert diff_locks(new, old).mirrors[0].change == "removed"


def test_many_packages_moving_index_make_one_line() -> None:
    names = [f"lib{i}" for i in range(8)]
    old = make_lock(tuple(pkg(n, "1.0") for n in names))
    new = make_lock(tuple(pkg(n, "1.0", index="internal") for n in names))
    assert messages(diff_locks(old, new), "mirrors") == [
        "index pypi -> internal for 8 packages: lib0, lib1, lib2, lib3, lib4 and 3 more"
    ]


def test_python_and_platforms_changes() -> None:
    new = make_lock(python="3.12", platforms=("linux-x86_64", "linux-aarch64"))
    d = diff_locks(make_lock(), new)
    assert not d.empty
    assert messages(d, "python") == ["Python 3.11 -> 3.12"]
    assert messages(d, "platforms") == ["platforms linux-x86_64 -> linux-x86_64, linux-aarch64"]


def test_a_resolver_change_alone_is_informational() -> None:
    new = dataclasses.replace(make_lock(), resolver="pip-tools", resolver_version="7.4.1")
    d = diff_locks(make_lock(), new)
    assert d.empty
    assert d.resolver is not None
    (highlight,) = d.highlights
    assert highlight.informational
    assert highlight.message == "resolver uv 0.4.30 -> pip-tools 7.4.1"
    assert "resolver uv 0.4.30 -> pip-tools 7.4.1" in plain(d)


def test_other_spec_settings_and_facts_are_differences() -> None:
    new = make_lock(
        spec_data=spec(packages={"system": ["git", "htop"]}),
        facts=facts(python_image="python:3.11-slim-trixie"),
    )
    d = diff_locks(make_lock(), new)
    assert not d.empty
    assert [(s.key, s.old, s.new) for s in d.settings] == [
        ("spec.packages.system", None, ("git", "htop")),
        ("facts.python-image", "python:3.11-slim-bookworm", "python:3.11-slim-trixie"),
    ]
    assert 'spec.packages.system: (unset) -> ["git", "htop"]' in plain(d)


def test_a_torch_spec_change_is_not_repeated_as_a_setting() -> None:
    old = make_lock(spec_data=spec(torch={"version": "2.1.2", "variant": "cu118"}))
    assert diff_locks(old, make_lock()).settings == ()


# --- rendering ---------------------------------------------------------------------------------


def _busy_diff() -> LockDiff:
    old = make_lock(
        (
            pkg("torch", "2.1.2+cu118"),
            pkg("numpy", "1.26.4"),
            pkg("filelock", "3.13.1"),
            pkg("six", "1.16.0"),
        ),
        facts=with_torch(variant="cu118", local="cu118", cuda="11.8"),
    )
    new = make_lock(
        (
            pkg("torch", "2.1.2+cu121"),
            pkg("numpy", "1.26.4", salt="x"),
            pkg("attrs", "23.2.0"),
            pkg("six", "1.16.0"),
        ),
        spec_data=spec(runtime={"env": {"NCCL_P2P_DISABLE": "1"}, "torch": {"deterministic": True}}),
    )
    return diff_locks(old, new)


def test_text_output_lists_highlights_then_pins_by_name() -> None:
    d = _busy_diff()
    lines = plain(d, "a/pylock.toml", "b/pylock.toml").splitlines()
    assert lines[0] == "a/pylock.toml -> b/pylock.toml"
    assert lines[1].startswith("environment id: ")
    assert " -> " in lines[1]
    assert "highlights:" in lines
    assert lines.index("highlights:") < lines.index("pins: 1 added, 1 removed, 2 changed")
    assert "  ! torch build cu118 -> cu121 (CUDA 11.8 -> 12.1)" in lines
    assert '  ! runtime.env.NCCL_P2P_DISABLE: "0" -> "1"' in lines
    pins = lines[lines.index("pins: 1 added, 1 removed, 2 changed") + 1 :]
    assert pins == [
        "  + attrs 23.2.0",
        "  - filelock 3.13.1",
        "  ~ numpy 1.26.4 (same version, different files)",
        "  ~ torch 2.1.2+cu118 -> 2.1.2+cu121",
    ]
    assert render_diff_text(d, "a", "b").endswith("\n")


def test_text_output_of_an_empty_diff() -> None:
    lines = plain(diff_locks(make_lock(), make_lock())).splitlines()
    assert lines[0] == "old.toml -> new.toml"
    assert lines[1].endswith("(unchanged)")
    assert lines[2] == "no differences"
    assert len(lines) == 3


def test_file_names_are_escaped() -> None:
    text = plain(diff_locks(make_lock(), make_lock()), "[old].toml", "new.toml")
    assert text.startswith("[old].toml -> new.toml")


def test_json_output_is_valid_deterministic_and_complete() -> None:
    d = _busy_diff()
    out = render_diff_json(d)
    assert out == render_diff_json(_busy_diff())  # the same bytes every time
    assert out.endswith("}\n")
    assert out.startswith('{\n  "differs": true,')
    data = json.loads(out)
    assert list(data) == [
        "differs",
        "env-id",
        "highlights",
        "added",
        "removed",
        "changed",
        "flags",
        "mirrors",
        "mirror-order",
        "indexes",
        "python",
        "platforms",
        "resolver",
        "settings",
    ]
    assert data["env-id"] == {"old": d.old_env_id, "new": d.new_env_id, "changed": True}
    assert data["added"] == [
        {"name": "attrs", "version": "23.2.0", "marker": None, "index": "pypi"},
    ]
    assert [p["name"] for p in data["removed"]] == ["filelock"]
    assert data["changed"][1] == {
        "name": "torch",
        "marker": None,
        "old-version": "2.1.2+cu118",
        "new-version": "2.1.2+cu121",
        "same-version-different-files": False,
        "rehashed": [],
        "files-added": [],
        "files-removed": [],
    }
    assert data["changed"][0]["rehashed"] == ["numpy-1.26.4-py3-none-any.whl"]
    assert data["flags"] == [{"key": "runtime.env.NCCL_P2P_DISABLE", "old": "0", "new": "1"}]
    assert {
        "kind": "torch",
        "message": "torch build cu118 -> cu121 (CUDA 11.8 -> 12.1)",
        "informational": False,
    } in data["highlights"]
    assert data["python"] is None
    assert data["mirrors"] == []


def test_json_lists_are_json_lists() -> None:
    d = diff_locks(make_lock(), make_lock(platforms=("linux-x86_64", "linux-aarch64")))
    data = json.loads(render_diff_json(d))
    assert data["platforms"] == {
        "key": "platforms",
        "old": ["linux-x86_64"],
        "new": ["linux-x86_64", "linux-aarch64"],
    }


# --- the lockfile round trip -------------------------------------------------------------------


def test_a_rendered_and_parsed_lock_does_not_differ_from_the_original() -> None:
    sdist = artifact("filelock-3.13.1.tar.gz")
    original = make_lock(
        (
            pkg("torch", "2.1.2+cu121", index="pytorch"),
            pkg("numpy", "1.26.4", files=("numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.whl",)),
            dataclasses.replace(pkg("filelock", "3.13.1"), sdist=sdist),
            pkg("triton", "2.1.0", marker="platform_machine == 'x86_64'"),
            dataclasses.replace(pkg("six", "1.16.0"), wheels=(), sdist=artifact("six-1.16.0.tar.gz")),
        ),
        spec_data=spec(
            mirrors=[
                {"name": "pypi", "url": "https://pypi.example/simple"},
                {"name": "pytorch", "url": "https://download.pytorch.example/whl/cu121"},
            ],
            runtime={"env": {"OMP_NUM_THREADS": 4, "NCCL_P2P_DISABLE": "1"}, "torch": {"num_threads": 4}},
        ),
    )
    parsed = parse_lock(render_lock(original), "pylock.toml")
    d = diff_locks(original, parsed)
    assert d.empty, render_diff_text(d, "original", "parsed")
    assert d.highlights == ()
    assert not d.env_id_changed
    assert diff_locks(parsed, original).empty


def test_a_round_tripped_lock_does_not_differ_from_itself() -> None:
    """Every kind of setting survives the file: aliases, dates, companions, a mirror without a URL."""
    original = make_lock(
        spec_data=spec(
            torch={"version": "2.1.2", "variant": "cu121", "with": ["torchvision"], "index": "pypi"},
            mirrors=[{"name": "pypi"}, {"name": "internal", "url": "https://i.example/simple"}],
            packages={"python": ["numpy<2"], "system": ["git"], "pip_options": ["--only-binary=:all:"]},
            dev={"shell": "zsh", "jupyter": 8888},
            lock={"exclude_newer": "2025-06-01T00:00:00Z"},
            targets={"docker": {"base_image": "nvidia/cuda:12.1.1-runtime-ubuntu22.04", "uid": 1001}},
        ),
        facts=facts(
            torch={"version": "2.1.2", "variant": "cu121", "companions": {"torchvision": "0.16.2"}},
            cuda={
                "version": "12.1",
                "min-driver": "525.60.13",
                "devel": True,
                "devel-image": "nvidia/cuda:x",
            },
        ),
    )
    text = render_lock(original)
    parsed = parse_lock(text, "pylock.toml")
    assert render_lock(parsed) == text
    for old, new in ((parsed, parsed), (original, parsed), (parsed, parse_lock(text, "again.toml"))):
        d = diff_locks(old, new)
        assert d.empty, render_diff_text(d, "old", "new")
        assert d.highlights == ()
        assert d.settings == ()
    assert plain(diff_locks(parsed, parsed)).splitlines()[2:] == ["no differences"]


def _json_keys(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_keys(item)


def test_json_keys_are_kebab_case_like_the_other_commands() -> None:
    a = {"name": "a", "url": "https://a.example/simple"}
    b = {"name": "b", "url": "https://b.example/simple"}
    c = {"name": "c", "url": "https://c.example/simple"}
    old = make_lock(
        (pkg("numpy", "1.26.4"), pkg("six", "1.16.0"), pkg("attrs", "23.2.0")), spec_data=spec(mirrors=[a, b])
    )
    new = make_lock(
        (pkg("numpy", "1.26.4", salt="x", index="b"), pkg("six", "1.17.0"), pkg("idna", "3.7")),
        spec_data=spec(mirrors=[b, a, c], runtime={"env": {"NCCL_P2P_DISABLE": "1"}}, dev={"jupyter": True}),
        facts=facts(python_image="python:3.12-slim"),
        python="3.12",
        platforms=("linux-aarch64",),
    )
    d = diff_locks(old, dataclasses.replace(new, resolver="pip-tools"))
    data = json.loads(render_diff_json(d))
    assert [k for k, value in data.items() if value in (None, [])] == []  # every field is filled in
    keys = set(_json_keys(data))
    assert {"env-id", "mirror-order", "old-version", "new-version", "same-version-different-files"} <= keys
    assert {"files-added", "files-removed"} <= keys
    assert sorted(k for k in keys if not re.fullmatch(r"[a-z]+(-[a-z]+)*", k)) == []


def test_a_boolean_is_not_the_number_one() -> None:
    old = make_lock(spec_data=spec(dev={"jupyter": True}))  # [dev] jupyter is true, false or a port
    new = make_lock(spec_data=spec(dev={"jupyter": 1}))
    d = diff_locks(old, new)
    assert [(s.key, s.old, s.new) for s in d.settings] == [("spec.dev.jupyter", True, 1)]
    assert "spec.dev.jupyter: true -> 1" in plain(d)
