"""tools.compat_refresh against a real HTTP server on 127.0.0.1 that serves a tiny simple-repository tree."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import re
import socket
import socketserver
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import tomlkit
from packaging.tags import Tag

from envspec.compat import Compat, parse_compat
from envspec.lock import installers, net
from envspec.lock.simple import SIMPLE_JSON, parse_simple_html
from tests.support.servers import send_body
from tools.compat_refresh.__main__ import main
from tools.compat_refresh.compare import Kind, compare
from tools.compat_refresh.facts import (
    CompanionFacts,
    IndexFacts,
    python_of_tag,
    torch_pin,
    torch_python_facts,
)
from tools.compat_refresh.rewrite import apply_differences

REPO = Path(__file__).resolve().parents[1]

COMPAT_TOML = """\
# Synthetic compat data for the refresh tests: two torch series, trimmed to what the checks touch.
format = 1

[python]
known = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]

[python.images]
"3.11" = "python:3.11-slim-bookworm"

[cuda.families."11"]
min_driver = "450.80.02"

[cuda.versions."11.8"]
toolkit = "11.8.0"
images = { base = "b:11.8", runtime = "r:11.8", devel = "d:11.8", cudnn_devel = "c:11.8" }

# The 2.0 series.
[torch."2.0"]
python = ["3.8", "3.9", "3.10", "3.11"]
variants = ["cpu", "cu117", "cu118"]
experimental = ["cu118"]
pypi_default = "cu117"
cudnn = "8.5.0.96"
manylinux = "manylinux_2_17"
platforms = ["linux-x86_64"]
cuda_platforms = ["linux-x86_64"]
constraints = ["numpy<2"]
releases."2.0.0" = { torchvision = "0.15.1", torchaudio = "2.0.1" }
releases."2.0.1" = { torchvision = "0.15.2", torchaudio = "2.0.2" }  # the last 2.0

# The 2.1 series.
[torch."2.1"]
python = ["3.8", "3.9", "3.10", "3.11"]  # 2.1 wheels
variants = ["cpu", "cu118", "cu121"]  # 2.1 builds
experimental = ["cu121"]
pypi_default = "cu121"
cudnn = "8.9.2.26"
manylinux = "manylinux_2_17"
platforms = ["linux-x86_64"]
cuda_platforms = ["linux-x86_64"]
constraints = []
releases."2.1.0" = { torchvision = "0.16.0", torchaudio = "2.1.0" }

# Trailing comment: must survive a rewrite.
"""


def _metadata(name: str, version: str, torch: str | None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", "Requires-Dist: numpy"]
    if torch is not None:
        lines.append(f"Requires-Dist: torch=={torch}")
    return "\n".join(lines) + "\n\n"


@dataclasses.dataclass
class Entry:
    filename: str
    metadata: str | None = None  # served at <file>.metadata when set
    attribute: str = "data-core-metadata"  # or data-dist-info-metadata / core-metadata / dist-info-metadata
    with_hash: bool = True  # the metadata attribute carries sha256=...; else "true"


@dataclasses.dataclass
class Tree:
    """A simple-repository tree on disk: ``simple/<project>/`` pages and a PyTorch-style ``whl/torch/``."""

    root: Path
    url: str
    agents: list[str]  # the User-Agent of every request the server answered
    pages: dict[str, list[Entry]] = dataclasses.field(default_factory=dict)
    json_pages: set[str] = dataclasses.field(default_factory=set)

    @property
    def index_url(self) -> str:
        return f"{self.url}/simple/"

    @property
    def torch_index(self) -> str:
        return f"{self.url}/whl"

    def add(
        self,
        page: str,
        filename: str,
        metadata: str | None = None,
        attribute: str = "data-core-metadata",
        with_hash: bool = True,
    ) -> None:
        self.pages.setdefault(page, []).append(Entry(filename, metadata, attribute, with_hash))

    def render(self) -> None:
        for page, entries in self.pages.items():
            folder = self.root / page
            folder.mkdir(parents=True, exist_ok=True)
            anchors: list[str] = []
            files: list[dict[str, object]] = []
            for entry in sorted(entries, key=lambda e: e.filename):
                store = self.root / "files" / page / entry.filename
                store.parent.mkdir(parents=True, exist_ok=True)
                content = entry.filename.encode()  # a few bytes: nobody installs these
                store.write_bytes(content)
                digest = hashlib.sha256(content).hexdigest()
                href = f"/files/{page}/{quote(entry.filename)}"
                attribute = ""
                record: dict[str, object] = {
                    "filename": entry.filename,
                    "url": href,
                    "hashes": {"sha256": digest},
                }
                if entry.metadata is not None:
                    meta = entry.metadata.encode()
                    (store.parent / (entry.filename + ".metadata")).write_bytes(meta)
                    meta_hash = hashlib.sha256(meta).hexdigest()
                    value = f"sha256={meta_hash}" if entry.with_hash else "true"
                    attribute = f' {entry.attribute}="{value}"'
                    key = entry.attribute.removeprefix("data-")
                    record[key] = {"sha256": meta_hash} if entry.with_hash else True
                anchors.append(f'<a href="{href}#sha256={digest}"{attribute}>{entry.filename}</a><br/>')
                files.append(record)
            body = "<!DOCTYPE html>\n<html><body>\n" + "\n".join(anchors) + "\n</body></html>\n"
            (folder / "index.html").write_text(body, encoding="utf-8")
            if page in self.json_pages:
                document = {"meta": {"api-version": "1.1"}, "name": page.rsplit("/", 1)[-1], "files": files}
                (folder / "index.json").write_text(json.dumps(document), encoding="utf-8")


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus PEP 691: ``index.json`` for a folder when the client asks for JSON."""

    def __init__(
        self,
        request: socket.socket,
        client_address: tuple[str, int],
        server: socketserver.BaseServer,
        *,
        directory: str,
        agents: list[str],
    ) -> None:
        self.agents = agents
        super().__init__(request, client_address, server, directory=directory)

    def do_GET(self) -> None:
        self.agents.append(self.headers.get("User-Agent", ""))
        accept = self.headers.get("Accept", "")
        if self.path.endswith("/") and SIMPLE_JSON in accept:
            candidate = Path(self.translate_path(self.path)) / "index.json"
            if candidate.is_file():
                send_body(self, candidate.read_bytes(), SIMPLE_JSON)
                return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    root = tmp_path / "www"
    root.mkdir()
    agents: list[str] = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root), agents=agents)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        built = Tree(root, f"http://127.0.0.1:{server.server_address[1]}", agents)
        _baseline(built)
        built.render()
        yield built
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


PYTHONS = ("cp38", "cp39", "cp310", "cp311")


def _torch_wheels(tree: Tree, version: str, pythons: tuple[str, ...] = PYTHONS) -> None:
    for tag in pythons:
        tree.add("simple/torch", f"torch-{version}-{tag}-{tag}-manylinux1_x86_64.whl")


def _builds(tree: Tree, version: str, labels: tuple[str, ...]) -> None:
    for label in labels:
        tree.add("whl/torch", f"torch-{version}+{label}-cp311-cp311-linux_x86_64.whl")


def _companion(
    tree: Tree,
    name: str,
    version: str,
    torch: str | None,
    *,
    attribute: str = "data-core-metadata",
    with_hash: bool = True,
) -> None:
    metadata = _metadata(name, version, torch) if torch is not None else None
    for tag in ("cp310", "cp311"):
        filename = f"{name}-{version}-{tag}-{tag}-manylinux1_x86_64.whl"
        tree.add(f"simple/{name}", filename, metadata, attribute, with_hash)


def _baseline(tree: Tree) -> None:
    """An index that agrees with COMPAT_TOML (plus files every check must ignore)."""
    for version in ("2.0.0", "2.0.1", "2.1.0"):
        _torch_wheels(tree, version)
    tree.add("simple/torch", "torch-1.13.1-cp310-cp310-manylinux1_x86_64.whl")  # older than the data
    tree.add("simple/torch", "torch-2.2.0rc1-cp312-cp312-manylinux1_x86_64.whl")  # a pre-release
    tree.add("simple/torch", "torch-2.1.0-cp313-cp313t-manylinux1_x86_64.whl")  # free-threaded
    tree.add("simple/torch", "torch-2.1.0-pp39-pypy39_pp73-manylinux1_x86_64.whl")  # PyPy
    tree.add("simple/torch", "torch-2.1.0-cp312-abi3-manylinux1_x86_64.whl")  # abi3
    tree.add("simple/torch", "torch-2.1.0-cp37-cp37m-manylinux1_x86_64.whl")  # too old a CPython
    tree.add("simple/torch", "torch-2.1.0.tar.gz")

    for version in ("2.0.0", "2.0.1"):
        _builds(tree, version, ("cpu", "cu117", "cu118"))
    _builds(tree, "2.1.0", ("cpu", "cu118", "cu121", "rocm5.6", "cpu.cxx11.abi"))
    tree.add("whl/torch", "torch-2.1.0-cp311-none-macosx_11_0_arm64.whl")  # no local label

    _companion(tree, "torchvision", "0.14.1", None)  # older than the data: never looked up
    _companion(tree, "torchvision", "0.15.1", "2.0.0")
    _companion(tree, "torchvision", "0.15.2", "2.0.1", attribute="data-dist-info-metadata", with_hash=False)
    _companion(tree, "torchvision", "0.16.0", "2.1.0")

    tree.json_pages.add("simple/torchaudio")
    _companion(tree, "torchaudio", "2.0.1", "2.0.0", attribute="data-core-metadata")
    _companion(tree, "torchaudio", "2.0.2", "2.0.1", attribute="data-dist-info-metadata", with_hash=False)
    _companion(tree, "torchaudio", "2.1.0", None)  # no metadata served: keep the data's value


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "compat.toml"
    path.write_text(COMPAT_TOML, encoding="utf-8")
    return path


def _args(tree: Tree, data: Path, *extra: str) -> list[str]:
    return [
        "--index-url",
        tree.index_url,
        "--torch-index",
        tree.torch_index,
        "--data",
        str(data),
        "--timeout",
        "10",
        *extra,
    ]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines()]


def _error(err: str) -> str:
    """The message of an error the command printed; every error comes with a hint line."""
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("error: ")
    assert lines[1].startswith("  hint: ")
    return lines[0].removeprefix("error: ")


# -- end to end ---------------------------------------------------------------------------------------


def test_agreement_exits_0(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, _args(tree, data))
    assert (code, err) == (0, "")
    assert "the data agrees with the indexes" in out
    # Every request went through the lock's HTTP session (envspec.lock.net.http_session).
    assert tree.agents
    assert set(tree.agents) == {net.USER_AGENT}
    assert "torchaudio 2.1.0: no core metadata on the index; kept the data file's value" in _lines(out)
    assert "torch: ignored 1 older release (the data starts at series 2.0)" in _lines(out)
    assert "torchvision 0.14.1" not in out


def test_new_python_tag(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _torch_wheels(tree, "2.1.0", ("cp312",))
    tree.render()
    code, out, _ = _run(capsys, _args(tree, data))
    assert code == 1
    assert "1 difference:" in out
    assert "torch 2.1 python: added 3.12 (now 3.8, 3.9, 3.10, 3.11, 3.12)" in _lines(out)


def test_dropped_python_and_new_variant(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree.pages["simple/torch"] = [e for e in tree.pages["simple/torch"] if "-2.0.1-cp38" not in e.filename]
    tree.pages["simple/torch"] = [e for e in tree.pages["simple/torch"] if "-2.0.0-cp38" not in e.filename]
    _builds(tree, "2.1.0", ("cu124",))
    tree.render()
    code, out, _ = _run(capsys, _args(tree, data))
    assert code == 1
    assert _lines(out)[3:6] == [
        "2 differences:",
        "torch 2.0 python: removed 3.8 (now 3.9, 3.10, 3.11)",
        "torch 2.1 variants: added cu124 (now cpu, cu118, cu121, cu124)",
    ]


def test_companion_change(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _companion(tree, "torchvision", "0.16.1", "2.1.0")  # a newer torchvision for the same torch
    tree.render()
    code, out, _ = _run(capsys, _args(tree, data))
    assert code == 1
    assert "torch 2.1.0 torchvision: 0.16.0 -> 0.16.1" in _lines(out)


def test_unknown_releases(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _torch_wheels(tree, "2.1.1")
    _torch_wheels(tree, "3.0.0", ("cp312",))
    _builds(tree, "2.1.1", ("cpu", "cu118", "cu121"))
    tree.render()
    code, out, _ = _run(capsys, _args(tree, data, "--json"))
    assert code == 1
    report = json.loads(out)
    assert report["status"] == "differs"
    assert [(d["kind"], d["release"], d["applicable"]) for d in report["differences"]] == [
        ("unknown-release", "2.1.1", True),
        ("unknown-release", "3.0.0", False),
    ]
    assert [d["message"] for d in report["differences"]] == [
        "unknown release 2.1.1 (series 2.1)",
        "unknown release 3.0.0 (series 3.0 is not in the data; add the series by hand)",
    ]


def test_write_updates_only_what_changed(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _torch_wheels(tree, "2.1.0", ("cp312",))
    _torch_wheels(tree, "2.1.1", (*PYTHONS, "cp312"))
    _torch_wheels(tree, "3.0.0", ("cp312",))
    _builds(tree, "2.1.1", ("cpu", "cu118", "cu121", "cu124"))
    _companion(tree, "torchvision", "0.16.1", "2.1.0")
    _companion(tree, "torchvision", "0.16.2", "2.1.1")
    _companion(tree, "torchaudio", "2.1.1", "2.1.1")
    tree.render()
    target = data.parent / "written.toml"
    target.write_text("stale", encoding="utf-8")

    code, out, err = _run(capsys, _args(tree, data, "--write", str(target)))
    assert err == ""
    assert code == 1  # 3.0.0 needs a new series, which is never invented
    assert f"wrote {target}: 6 of 7 applied" in _lines(out)
    assert "not applied: unknown release 3.0.0 (series 3.0 is not in the data; add the series by hand)" in (
        _lines(out)
    )

    expected = (
        COMPAT_TOML.replace(
            'python = ["3.8", "3.9", "3.10", "3.11"]  # 2.1 wheels',
            'python = ["3.8", "3.9", "3.10", "3.11", "3.12"]  # 2.1 wheels',
        )
        .replace(
            'variants = ["cpu", "cu118", "cu121"]  # 2.1 builds',
            'variants = ["cpu", "cu118", "cu121", "cu124"]  # 2.1 builds',
        )
        .replace(
            'releases."2.1.0" = { torchvision = "0.16.0", torchaudio = "2.1.0" }\n',
            'releases."2.1.0" = { torchvision = "0.16.1", torchaudio = "2.1.0" }\n'
            'releases."2.1.1" = { torchvision = "0.16.2", torchaudio = "2.1.1" }\n',
        )
    )
    assert target.read_text(encoding="utf-8") == expected
    updated = parse_compat(target.read_text(encoding="utf-8"))
    assert updated.companions("2.1.1").torchvision == "0.16.2"
    assert [p.name for p in data.parent.iterdir() if p.name.endswith(".tmp")] == []

    # The written file now agrees except for the series a person must add; writing again changes nothing.
    code, out, _ = _run(capsys, _args(tree, target, "--write", str(target)))
    assert code == 1
    assert "wrote" in out
    assert "0 of 1 applied" in out
    assert target.read_text(encoding="utf-8") == expected


def test_write_without_differences_keeps_bytes(
    tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crlf = data.parent / "crlf.toml"
    crlf.write_bytes(COMPAT_TOML.replace("\n", "\r\n").encode())
    for path in (data, crlf):
        before = path.read_bytes()
        code, out, _ = _run(capsys, _args(tree, path, "--write", str(path)))
        assert code == 0, out
        assert path.read_bytes() == before


def test_write_new_release_in_crlf_file(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crlf = data.parent / "crlf.toml"
    crlf.write_bytes(COMPAT_TOML.replace("\n", "\r\n").encode())
    _torch_wheels(tree, "2.0.2")
    _companion(tree, "torchvision", "0.15.3", "2.0.2")
    tree.render()
    code, _, _ = _run(capsys, _args(tree, crlf, "--write", str(crlf)))
    assert code == 0
    text = crlf.read_bytes().decode()
    assert "\n" not in text.replace("\r\n", "")
    assert (
        'releases."2.0.1" = { torchvision = "0.15.2", torchaudio = "2.0.2" }  # the last 2.0\r\n'
        'releases."2.0.2" = { torchvision = "0.15.3" }\r\n\r\n# The 2.1 series.\r\n'
    ) in text
    assert parse_compat(text).companions("2.0.2").torchvision == "0.15.3"


def test_output_is_deterministic(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _torch_wheels(tree, "2.1.0", ("cp312",))
    _torch_wheels(tree, "2.1.1")
    _builds(tree, "2.0.1", ("cu121",))
    _companion(tree, "torchvision", "0.16.1", "2.1.0")
    tree.render()
    for extra in ((), ("--json",)):
        first = _run(capsys, _args(tree, data, *extra))
        second = _run(capsys, _args(tree, data, *extra))
        assert first == second
        assert first[0] == 1


def test_unreachable_index_exits_2(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{port}/simple"
    argv = ["--index-url", closed, "--torch-index", tree.torch_index, "--data", str(data)]

    code, out, err = _run(capsys, argv)
    assert (code, out) == (2, "")
    assert _error(err) == f"cannot read {closed}/torch/: connection refused"

    code, out, err = _run(capsys, [*argv, "--json"])
    assert (code, err) == (2, "")
    report = json.loads(out)
    assert report.pop("hint")
    assert report == {"status": "error", "error": f"cannot read {closed}/torch/: connection refused"}

    result = subprocess.run(
        [sys.executable, "-m", "tools.compat_refresh", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"cannot read {closed}/torch/" in result.stderr


def test_missing_page_and_bad_data_exit_2(tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, _args(tree, data, "--torch-index", f"{tree.url}/nowhere"))
    assert code == 2
    assert _error(err) == f"cannot read {tree.url}/nowhere/torch/: HTTP 404 File not found"

    data.write_text(COMPAT_TOML.replace("format = 1", "format = 7"), encoding="utf-8")
    code, _, err = _run(capsys, _args(tree, data))
    assert code == 2
    assert _error(err) == f"{data} is not valid compat data: format: Input should be less than or equal to 1"

    code, _, err = _run(capsys, _args(tree, data.parent / "absent.toml"))
    assert code == 2
    assert _error(err).startswith("cannot read the data file ")

    data.write_text(COMPAT_TOML, encoding="utf-8")
    code, _, err = _run(capsys, ["--index-url", "ftp://127.0.0.1/simple", "--data", str(data)])
    assert code == 2
    assert _error(err) == "--index-url 'ftp://127.0.0.1/simple' is not an http(s) URL"

    code, _, err = _run(capsys, _args(tree, data, "--write", str(data / "out.toml")))  # parent is a file
    assert code == 2
    assert _error(err).startswith("cannot write ")


@pytest.fixture
def fresh_default_index() -> Iterator[None]:
    """``installers.default_index_url`` is cached per process: forget it before and after the test."""
    installers.default_index_url.cache_clear()
    yield
    installers.default_index_url.cache_clear()


@pytest.mark.usefixtures("fresh_default_index")
def test_default_index_is_the_installers(
    tree: Tree,
    data: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(installers.DEFAULT_INDEX_ENV, tree.index_url)
    code, out, _ = _run(capsys, ["--torch-index", tree.torch_index, "--data", str(data)])
    assert code == 0
    assert f"default index: {tree.index_url}" in _lines(out)

    # pip's configuration is not consulted, as for `envspec lock`: only its built-in default counts.
    installers.default_index_url.cache_clear()
    monkeypatch.delenv(installers.DEFAULT_INDEX_ENV)
    config = data.parent / "pip.conf"
    config.write_text(f"[global]\nindex-url = {tree.index_url}\n", encoding="utf-8")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    builtin = installers.default_index_url()
    assert builtin != tree.index_url
    assert re.fullmatch(r"https://[^/\s]+/simple/?", builtin)


def test_tool_names_no_registry_host_and_stays_out_of_the_wheel() -> None:
    for module in sorted((REPO / "tools").rglob("*.py")):
        assert re.search(r"https?://\w", module.read_text(encoding="utf-8")) is None, module
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["envspec"]
    tomlkit.parse((REPO / "envspec" / "data" / "compat.toml").read_text(encoding="utf-8"))


# -- pure functions -----------------------------------------------------------------------------------


def test_python_of_tag() -> None:
    assert python_of_tag(Tag("cp311", "cp311", "linux_x86_64")) == "3.11"
    assert python_of_tag(Tag("cp315", "cp315", "linux_x86_64")) == "3.15"
    assert python_of_tag(Tag("cp313", "cp313t", "linux_x86_64")) is None
    assert python_of_tag(Tag("cp312", "abi3", "linux_x86_64")) is None
    assert python_of_tag(Tag("pp39", "pypy39_pp73", "linux_x86_64")) is None
    assert python_of_tag(Tag("cp37", "cp37m", "linux_x86_64")) is None
    assert python_of_tag(Tag("cp316", "cp316", "linux_x86_64")) is None


def test_torch_python_facts_ignore_prereleases_and_yanked() -> None:
    files = parse_simple_html(
        '<a href="torch-2.1.0-cp311-cp311-linux_x86_64.whl">torch-2.1.0-cp311-cp311-linux_x86_64.whl</a>'
        '<a href="torch-2.1.0-cp312-cp312-linux_x86_64.whl" data-yanked>'
        "torch-2.1.0-cp312-cp312-linux_x86_64.whl</a>"
        '<a href="torch-2.2.0.dev1-cp312-cp312-linux_x86_64.whl">'
        "torch-2.2.0.dev1-cp312-cp312-linux_x86_64.whl</a>"
        '<a href="torch-2.1.1.tar.gz">torch-2.1.1.tar.gz</a><a href="README">README</a>',
        "http://h.invalid/simple/torch/",
    )
    assert torch_python_facts(files) == {"2.1.0": frozenset({"3.11"}), "2.1.1": frozenset()}


def test_torch_pin() -> None:
    assert torch_pin(_metadata("torchvision", "0.16.0", "2.1.0")) == "2.1.0"
    assert torch_pin("Name: tv\nRequires-Dist: torch (==2.0.1)\n\n") == "2.0.1"
    assert torch_pin("Name: tv\nRequires-Dist: torch==2.0.1+cu118\n\n") == "2.0.1"
    assert torch_pin("Name: tv\nRequires-Dist: torch>=2.0\n\n") is None
    assert torch_pin("Name: tv\nRequires-Dist: numpy\n\n") is None
    assert (
        torch_pin("Name: tv\nRequires-Dist: torch==2.1.0\nRequires-Dist: torch==9; extra == 'x'\n\n")
        == "2.1.0"
    )


def _compat() -> Compat:
    return parse_compat(COMPAT_TOML)


def _facts(**companions: CompanionFacts) -> IndexFacts:
    pythons = {release: frozenset({"3.8", "3.9", "3.10", "3.11"}) for release in ("2.0.0", "2.0.1", "2.1.0")}
    variants = {
        "2.0.0": frozenset({"cpu", "cu117", "cu118"}),
        "2.0.1": frozenset({"cpu", "cu117", "cu118"}),
        "2.1.0": frozenset({"cpu", "cu118", "cu121"}),
    }
    return IndexFacts(pythons, variants, companions)


def test_compare_keeps_companions_without_metadata() -> None:
    report = compare(_compat(), _facts(torchaudio=CompanionFacts({}, ("2.0.1", "2.0.2", "2.1.0"))))
    assert report.differences == ()
    assert report.notes == (
        "torchvision: not checked",
        "torchaudio: the index serves no core metadata (PEP 658); kept the data file's torchaudio values",
    )


def test_compare_drops_a_companion_that_pins_another_torch() -> None:
    pins: dict[str, str | None] = {"0.15.1": "2.0.0", "0.15.2": "2.0.0", "0.16.0": None}
    report = compare(_compat(), _facts(torchvision=CompanionFacts(pins)))
    assert [(d.kind, d.release, d.old, d.new) for d in report.differences] == [
        (Kind.COMPANION, "2.0.0", "0.15.1", "0.15.2"),
        (Kind.COMPANION, "2.0.1", "0.15.2", None),
    ]
    assert "torchvision 0.16.0: its metadata pins no exact torch release; kept" in report.notes

    doc = tomlkit.parse(COMPAT_TOML)
    applied = apply_differences(doc, report.differences)
    assert applied == list(report.differences)
    text = doc.as_string()
    assert 'releases."2.0.0" = { torchvision = "0.15.2", torchaudio = "2.0.1" }\n' in text
    assert 'releases."2.0.1" = { torchaudio = "2.0.2" }  # the last 2.0\n' in text
    assert parse_compat(text).companions("2.0.1").torchvision is None


def test_metadata_that_does_not_match_its_hash_exits_2(
    tree: Tree, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "torchvision-0.16.0-cp310-cp310-manylinux1_x86_64.whl.metadata"
    (tree.root / "files" / "simple" / "torchvision" / name).write_text(
        _metadata("torchvision", "0.16.0", "2.1.1"), encoding="utf-8"
    )
    code, out, err = _run(capsys, _args(tree, data))
    assert (code, out) == (2, "")
    assert _error(err) == f"{tree.url}/files/simple/torchvision/{name}: sha256 does not match the index page"
