"""The test-support indexes work for real: pip and uv install from them, and faults behave."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from tests.support.graph import APP_FAST_PINS, EVIL_PINS, NATIVE_TAGS, build_evil_graph, build_graph
from tests.support.index import (
    DEFAULT_UPLOAD_TIME,
    JSON_CONTENT_TYPE,
    IndexServer,
    serve_faulty,
    serve_index,
)
from tests.support.isolation import isolated_env, local_session, pip_command, uv_executable
from tests.support.wheels import (
    ZIP_EPOCH,
    build_sdist,
    build_wheel,
    read_wheel_metadata,
    record_hash,
    wheel_filename,
)

JSON_ACCEPT = f"{JSON_CONTENT_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
TIMEOUT = 5.0
# build_wheel's output is a pure function of its arguments: the same on every machine and Python
# (checked on CPython 3.11, 3.12 and 3.13).  It changes only if the wheel layout changes on purpose.
APP_WHEEL_SHA256 = "241c02ecfabc6fd0ed117c7568b710e6eeb2c412da64d445b489afb798c71a70"


# -- helpers ---------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(command: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, env=isolated_env(), timeout=timeout, check=False
    )


def pip(*args: str, index: IndexServer) -> subprocess.CompletedProcess[str]:
    return run(pip_command(*args, "--index-url", index.url, "--no-cache-dir"))


def _uv() -> str | None:
    try:
        return uv_executable()
    except FileNotFoundError:
        return None


def uv_compile(
    tmp_path: Path, requirements: str, *indexes: str, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``uv pip compile`` of ``requirements`` against ``indexes`` (the first is ``--index-url``)."""
    source = tmp_path / "requirements.in"
    source.write_text(requirements)
    urls = ["--index-url", indexes[0], *(a for url in indexes[1:] for a in ("--extra-index-url", url))]
    command = [uv_executable(), "pip", "compile", "--no-config", *urls]
    command += ["--cache-dir", str(tmp_path / "uv-cache"), "--python", sys.executable, "--no-build"]
    command += ["--no-header", "--no-annotate", "--quiet", *extra, str(source)]
    return run(command)


needs_uv = pytest.mark.skipif(_uv() is None, reason="uv is not installed in the test environment")


def pins(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        requirement = line.split(";")[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==")
            found[name] = version
    return found


def build_app(dest: Path) -> Path:
    return build_wheel(
        dest,
        "es-app",
        "1.0",
        requires=["es-core>=1.0", 'es-util; python_version >= "3.8"'],
        extras={"fast": ["es-speed>=2"]},
        requires_python=">=3.8",
    )


def verify_record(wheel: bytes) -> dict[str, bytes]:
    """Check every RECORD row against the wheel's entries; return the entries."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        assert archive.testzip() is None
        contents = {name: archive.read(name) for name in archive.namelist()}
    record = next(name for name in contents if name.endswith(".dist-info/RECORD"))
    rows = list(csv.reader(io.StringIO(contents[record].decode())))
    assert {row[0] for row in rows} == set(contents)
    for path, digest, size in rows:
        if path == record:
            assert digest == size == ""
        else:
            assert digest == record_hash(contents[path])
            assert int(size) == len(contents[path])
    return contents


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def anchors(page: str) -> dict[str, dict[str, str | None]]:
    """The page's links by their text-less key: the file or project part of ``href``."""
    parser = Anchors()
    parser.feed(page)
    parser.close()
    return {str(link["href"]).split("#")[0].rstrip("/").rsplit("/", 1)[-1]: link for link in parser.links}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with local_session() as session:
        yield session


# -- wheels and sdists -----------------------------------------------------------------------


def test_wheels_are_byte_deterministic(tmp_path: Path) -> None:
    first = build_app(tmp_path / "a")
    second = build_app(tmp_path / "b")
    assert first.name == second.name == "es_app-1.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    assert sha256(first.read_bytes()) == APP_WHEEL_SHA256
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == [
        "es_app/__init__.py",
        "es_app-1.0.dist-info/METADATA",
        "es_app-1.0.dist-info/WHEEL",
        "es_app-1.0.dist-info/RECORD",
    ]
    for info in infos:
        assert info.date_time == ZIP_EPOCH
        assert info.external_attr >> 16 == 0o100644
        assert info.compress_type == zipfile.ZIP_STORED
    other = build_wheel(tmp_path / "c", "es-app", "1.0", requires=["es-core>=2.0"])
    assert other.read_bytes() != first.read_bytes()


def test_wheel_metadata_record_and_tags(tmp_path: Path) -> None:
    wheel = build_app(tmp_path)
    contents = verify_record(wheel.read_bytes())
    assert contents["es_app-1.0.dist-info/METADATA"].decode().splitlines() == [
        "Metadata-Version: 2.1",
        "Name: es-app",
        "Version: 1.0",
        "Summary: es-app, a test distribution built by tests.support.wheels",
        "Requires-Python: >=3.8",
        "Requires-Dist: es-core>=1.0",
        'Requires-Dist: es-util; python_version >= "3.8"',
        "Provides-Extra: fast",
        'Requires-Dist: es-speed>=2; extra == "fast"',
    ]
    assert read_wheel_metadata(wheel) == contents["es_app-1.0.dist-info/METADATA"]
    assert b'__version__ = "1.0"' in contents["es_app/__init__.py"]
    assert contents["es_app-1.0.dist-info/WHEEL"].decode().splitlines() == [
        "Wheel-Version: 1.0",
        "Generator: tests.support.wheels",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
    ]

    extra_marker = build_wheel(
        tmp_path, "es-x", "2", extras={"Win_Only": ['es-winonly; sys_platform == "win32"']}
    )
    lines = read_wheel_metadata(extra_marker).decode().splitlines()
    assert "Provides-Extra: win-only" in lines
    assert 'Requires-Dist: es-winonly; sys_platform == "win32" and extra == "win-only"' in lines

    native = build_wheel(tmp_path, "es-native", "1.0", tag=NATIVE_TAGS[0], module_source="X = 1\n")
    assert native.name == wheel_filename("es-native", "1.0", NATIVE_TAGS[0])
    contents = verify_record(native.read_bytes())
    assert contents["es_native/__init__.py"] == b"X = 1\n"
    assert contents["es_native-1.0.dist-info/WHEEL"].decode().splitlines()[2:] == [
        "Root-Is-Purelib: false",
        "Tag: cp311-cp311-manylinux2014_x86_64",
        "Tag: cp311-cp311-manylinux_2_17_x86_64",
    ]
    with pytest.raises(ValueError, match="Invalid"):
        build_wheel(tmp_path, "es-bad", "not a version")


def test_sdist_is_deterministic_and_builds_offline(tmp_path: Path) -> None:
    first, second = (
        build_sdist(
            tmp_path / sub,
            "es-app",
            "1.0",
            requires=["es-core>=1.0"],
            extras={"fast": ["es-speed>=2"]},
            requires_python=">=3.8",
        )
        for sub in ("a", "b")
    )
    assert first.name == "es_app-1.0.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [
            "es_app-1.0/PKG-INFO",
            "es_app-1.0/es_app/__init__.py",
            "es_app-1.0/pyproject.toml",
        ]
        assert {(m.mtime, m.mode, m.uid, m.gid) for m in members} == {(315532800, 0o644, 0, 0)}
        # by hand, not extractall(filter=...): Debian 12's Python 3.11.2 predates extraction filters
        for member in members:
            source = archive.extractfile(member)
            assert source is not None
            target = tmp_path / "src" / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
    pkg_info = (tmp_path / "src" / "es_app-1.0" / "PKG-INFO").read_text()
    assert "Requires-Dist: es-core>=1.0\n" in pkg_info

    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed, so the sdist cannot be built offline")
    out = tmp_path / "built"
    out.mkdir()
    code = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=tmp_path / "src" / "es_app-1.0",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    wheel = out / built.stdout.strip().splitlines()[-1]
    metadata = read_wheel_metadata(wheel).decode()
    assert "Requires-Dist: es-core>=1.0" in metadata
    assert "Requires-Dist: es-speed>=2; extra == 'fast'" in metadata  # hatchling's quoting
    assert "es_app/__init__.py" in verify_record(wheel.read_bytes())


def test_graphs(tmp_path: Path) -> None:
    graph = build_graph(tmp_path / "good")
    assert {name: len(files) for name, files in graph.items()} == {
        "es-app": 2,
        "es-core": 2,
        "es-native": 3,
        "es-speed": 1,
        "es-util": 2,
        "es-winonly": 1,
    }
    assert sorted(p.name for p in (tmp_path / "good").iterdir()) == sorted(
        f for files in graph.values() for f in files
    )
    core2 = read_wheel_metadata(tmp_path / "good" / "es_core-2.0-py3-none-any.whl").decode()
    assert 'Requires-Dist: es-winonly; sys_platform == "win32"' in core2
    evil = build_evil_graph(tmp_path / "evil")
    assert evil == {
        "es-core": ["es_core-99.0-py3-none-any.whl"],
        "es-torchlike": ["es_torchlike-1.0+cu999-py3-none-any.whl"],
        "es-util": ["es_util-99.0-py3-none-any.whl"],
    }
    assert build_graph(tmp_path / "again") == graph
    for name in graph["es-app"]:
        assert (tmp_path / "good" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


# -- the index -------------------------------------------------------------------------------


def test_html_pages(index: IndexServer, graph_root: Path, http: requests.Session) -> None:
    listing = http.get(index.url + "/", timeout=TIMEOUT)
    assert listing.status_code == 200
    assert listing.headers["Content-Type"].startswith("text/html")
    assert set(anchors(listing.text)) == {
        "es-app",
        "es-core",
        "es-native",
        "es-speed",
        "es-util",
        "es-winonly",
    }

    page = http.get(index.project_url("es-app"), timeout=TIMEOUT)
    assert page.status_code == 200
    assert 'data-requires-python="&gt;=3.8"' in page.text
    links = anchors(page.text)
    assert set(links) == {"es_app-1.0-py3-none-any.whl", "es_app-1.1-py3-none-any.whl"}
    for filename, link in links.items():
        data = (graph_root / filename).read_bytes()
        assert link["href"] == f"../../files/{filename}#sha256={sha256(data)}"
        assert link["data-requires-python"] == ">=3.8"
        metadata = http.get(index.file_url(filename) + ".metadata", timeout=TIMEOUT)
        assert metadata.content == read_wheel_metadata(data)
        assert link["data-core-metadata"] == f"sha256={sha256(metadata.content)}"
        assert link["data-dist-info-metadata"] == link["data-core-metadata"]
        served = http.get(index.file_url(filename), timeout=TIMEOUT)
        assert served.content == data
        assert served.headers["Content-Length"] == str(len(data))

    native = anchors(http.get(index.project_url("es-native"), timeout=TIMEOUT).text)
    assert all("data-requires-python" not in link for link in native.values())

    redirect = http.get(f"{index.url}/ES_App", timeout=TIMEOUT, allow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == "/simple/es-app/"
    assert http.get(f"{index.url}/Es.App/", timeout=TIMEOUT).url == index.project_url("es-app")
    assert http.get(index.project_url("es-missing"), timeout=TIMEOUT).status_code == 404
    assert http.get(index.file_url("es_missing-1.0-py3-none-any.whl"), timeout=TIMEOUT).status_code == 404
    assert http.get(index.base_url + "/files/../graph", timeout=TIMEOUT).status_code == 404
    assert "/simple/es-app/" in index.requests
    assert {"es-app", "es-native", "es-missing"} <= index.requested_projects()
    assert "es-core" not in index.requested_projects()


def test_json_pages(graph_root: Path, http: requests.Session) -> None:
    times = {"es_app-1.1-py3-none-any.whl": "2025-06-30T12:00:00.123456Z"}
    with serve_index(graph_root, upload_times=times) as index:
        listing = http.get(index.url + "/", headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        assert listing.headers["Content-Type"] == JSON_CONTENT_TYPE
        assert listing.json()["meta"] == {"api-version": "1.1"}
        assert {"name": "es-winonly"} in listing.json()["projects"]

        page = http.get(index.project_url("es-app"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        assert page.headers["Content-Type"] == JSON_CONTENT_TYPE
        doc = page.json()
        assert doc["meta"] == {"api-version": "1.1"}
        assert doc["name"] == "es-app"
        assert doc["versions"] == ["1.0", "1.1"]
        files = {f["filename"]: f for f in doc["files"]}
        assert set(files) == {"es_app-1.0-py3-none-any.whl", "es_app-1.1-py3-none-any.whl"}
        for filename, entry in files.items():
            data = (graph_root / filename).read_bytes()
            assert entry["url"] == index.file_url(filename)
            assert entry["hashes"] == {"sha256": sha256(data)}
            assert entry["requires-python"] == ">=3.8"
            assert entry["size"] == len(data)
            assert entry["yanked"] is False
            assert entry["core-metadata"] == {"sha256": sha256(read_wheel_metadata(data))}
            assert http.get(entry["url"], timeout=TIMEOUT).content == data
        assert files["es_app-1.0-py3-none-any.whl"]["upload-time"] == DEFAULT_UPLOAD_TIME
        assert files["es_app-1.1-py3-none-any.whl"]["upload-time"] == times["es_app-1.1-py3-none-any.whl"]

        native = http.get(index.project_url("es-native"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        assert {f["requires-python"] for f in native.json()["files"]} == {None}
        html_preferred = {"Accept": f"text/html, {JSON_CONTENT_TYPE};q=0.5"}
        page = http.get(index.project_url("es-app"), headers=html_preferred, timeout=TIMEOUT)
        assert page.headers["Content-Type"].startswith("text/html")

    with serve_index(graph_root, json=False, metadata=False) as plain:
        page = http.get(plain.project_url("es-app"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        assert page.headers["Content-Type"].startswith("text/html")
        assert "data-core-metadata" not in page.text
        assert "data-dist-info-metadata" not in page.text
        missing = http.get(plain.file_url("es_app-1.0-py3-none-any.whl") + ".metadata", timeout=TIMEOUT)
        assert missing.status_code == 404
    with serve_index(graph_root, metadata=False) as no_metadata:
        page = http.get(no_metadata.project_url("es-app"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        assert {f["core-metadata"] for f in page.json()["files"]} == {False}


def test_range_and_head_requests(index: IndexServer, graph_root: Path, http: requests.Session) -> None:
    filename = "es_core-2.0-py3-none-any.whl"
    data = (graph_root / filename).read_bytes()
    url = index.file_url(filename)
    size = len(data)
    for header, start, end in [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, size - 1),
        ("bytes=-22", size - 22, size - 1),
        (f"bytes=5-{size + 100}", 5, size - 1),
    ]:
        part = http.get(url, headers={"Range": header}, timeout=TIMEOUT)
        assert part.status_code == 206, header
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert part.content == data[start : end + 1]
    for header in (f"bytes={size}-", "bytes=-0", "bytes=9-3"):
        refused = http.get(url, headers={"Range": header}, timeout=TIMEOUT)
        assert refused.status_code == 416, header
        assert refused.headers["Content-Range"] == f"bytes */{size}"
    whole = http.get(url, headers={"Range": "bytes=0-1,4-5"}, timeout=TIMEOUT)
    assert (whole.status_code, whole.content) == (200, data)
    head = http.head(url, timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(size)
    assert head.headers["Accept-Ranges"] == "bytes"
    assert head.content == b""
    assert [r.method for r in index.records][-1] == "HEAD"


def test_concurrent_requests_are_all_recorded(index: IndexServer) -> None:
    def fetch() -> None:
        with local_session() as session:
            assert session.get(index.project_url("es-util"), timeout=TIMEOUT).status_code == 200

    threads = [threading.Thread(target=fetch) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert index.requests == ["/simple/es-util/"] * 16
    index.clear_requests()
    assert index.requests == []


def test_new_files_appear_and_server_stops(tmp_path: Path, http: requests.Session) -> None:
    root = tmp_path / "root"
    build_wheel(root, "es-util", "1.0")
    before = {t for t in threading.enumerate() if t.name.startswith("index-")}
    with serve_index(root) as index:
        assert set(anchors(http.get(index.project_url("es-util"), timeout=TIMEOUT).text)) == {
            "es_util-1.0-py3-none-any.whl"
        }
        build_wheel(root, "es-util", "1.1")
        (root / "notes.txt").write_text("not a distribution")
        assert set(anchors(http.get(index.project_url("es-util"), timeout=TIMEOUT).text)) == {
            "es_util-1.0-py3-none-any.whl",
            "es_util-1.1-py3-none-any.whl",
        }
    http.close()  # drop the keep-alive connection before checking that nothing listens any more
    with pytest.raises(requests.ConnectionError):
        http.get(index.url + "/", timeout=TIMEOUT)
    assert {t for t in threading.enumerate() if t.name.startswith("index-")} == before


# -- pip and uv against the index ------------------------------------------------------------


def test_pip_downloads_and_installs(
    index: IndexServer, evil_root: Path, graph_root: Path, tmp_path: Path
) -> None:
    native = pip(
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux2014_x86_64",
        "--dest",
        str(tmp_path / "dl"),
        "es-app==1.0",
        "es-native",
        index=index,
    )
    assert native.returncode == 0, native.stderr
    downloaded = sorted(p.name for p in (tmp_path / "dl").iterdir())
    native_wheel = wheel_filename("es-native", "1.0", NATIVE_TAGS[0])
    assert downloaded == ["es_app-1.0-py3-none-any.whl", native_wheel]
    assert (tmp_path / "dl" / native_wheel).read_bytes() == (graph_root / native_wheel).read_bytes()

    with serve_index(evil_root) as evil:
        installed = pip("install", "--no-deps", "--target", str(tmp_path / "t"), "es-torchlike", index=evil)
        assert installed.returncode == 0, installed.stderr
        assert evil.requested_projects() == {"es-torchlike"}
        assert evil.errors == []
    source = (tmp_path / "t" / "es_torchlike" / "__init__.py").read_text()
    assert '__version__ = "1.0+cu999"' in source
    assert (tmp_path / "t" / "es_torchlike-1.0+cu999.dist-info" / "METADATA").is_file()
    assert "Looking in links" not in native.stdout  # pip.conf's find-links stayed out
    assert all(line.startswith("/simple/es-") or line.startswith("/files/es") for line in index.requests)


@needs_uv
def test_uv_compiles_against_the_index(index: IndexServer, evil_root: Path, tmp_path: Path) -> None:
    with serve_index(evil_root) as evil:
        linux = ("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28")
        result = uv_compile(tmp_path, "es-app[fast]\nes-native\n", index.url, extra=linux)
        assert result.returncode == 0, result.stderr
        assert pins(result.stdout) == {**APP_FAST_PINS, "es-native": "1.0"}
        assert "es-winonly" not in index.requested_projects()  # its marker is false on Linux
        assert evil.requests == []

        universal = uv_compile(tmp_path, "es-app[fast]\n", index.url, extra=("--universal",))
        assert universal.returncode == 0, universal.stderr
        assert "es-winonly==1.0 ; sys_platform == 'win32'" in universal.stdout.splitlines()

        local = uv_compile(tmp_path, "es-torchlike\n", evil.url)
        assert local.returncode == 0, local.stderr
        assert pins(local.stdout) == {"es-torchlike": EVIL_PINS["es-torchlike"]}

        # The bait works: an unscoped extra index wins es-core and es-util for uv.
        mixed = uv_compile(tmp_path, "es-app[fast]\n", index.url, evil.url, extra=linux)
        assert mixed.returncode == 0, mixed.stderr
        got = pins(mixed.stdout)
        assert (got["es-core"], got["es-util"]) == (EVIL_PINS["es-core"], EVIL_PINS["es-util"])
        assert evil.errors == []


@needs_uv
def test_uv_uses_range_requests_without_pep658(graph_root: Path, tmp_path: Path) -> None:
    with serve_index(graph_root, metadata=False) as index:
        result = uv_compile(tmp_path, "es-util\n", index.url)
        assert result.returncode == 0, result.stderr
        assert pins(result.stdout) == {"es-util": "1.1"}
        assert any(r.range is not None for r in index.records if r.path.startswith("/files/"))
        assert not any(r.path.endswith(".metadata") for r in index.records)
        assert index.errors == []


# -- faults ----------------------------------------------------------------------------------


def test_refuse(http: requests.Session) -> None:
    with serve_faulty("refuse") as mirror:
        assert mirror.port > 0
        with pytest.raises(requests.ConnectionError):
            http.get(mirror.url + "/", timeout=TIMEOUT)
        assert mirror.requests == []


def test_hang_times_out_and_stops_promptly(http: requests.Session) -> None:
    started = time.monotonic()
    with serve_faulty("hang", hang_seconds=30) as mirror:
        with pytest.raises(requests.ReadTimeout):
            http.get(mirror.project_url("es-app"), timeout=(TIMEOUT, 0.3))
        with pytest.raises(requests.ReadTimeout):
            http.get(mirror.file_url("es_app-1.0-py3-none-any.whl"), timeout=(TIMEOUT, 0.3))
        assert mirror.requests == ["/simple/es-app/", "/files/es_app-1.0-py3-none-any.whl"]
    assert time.monotonic() - started < 5


def test_hang_is_bounded(http: requests.Session) -> None:
    with (
        serve_faulty("hang", hang_seconds=0.2) as mirror,
        pytest.raises(requests.ConnectionError),  # closed without an answer
    ):
        http.get(mirror.url + "/", timeout=(TIMEOUT, TIMEOUT))


def test_error(http: requests.Session) -> None:
    with serve_faulty("error") as mirror:
        for url in (mirror.url + "/", mirror.project_url("es-app"), mirror.file_url("x.whl")):
            assert http.get(url, timeout=TIMEOUT).status_code == 503
        assert http.head(mirror.url + "/", timeout=TIMEOUT).status_code == 503
        assert len(mirror.requests) == 4
    with serve_faulty("error", status=500) as mirror:
        assert http.get(mirror.url + "/", timeout=TIMEOUT).status_code == 500


def test_tamper_bytes(graph_root: Path, tmp_path: Path, http: requests.Session) -> None:
    filename = "es_util-1.1-py3-none-any.whl"
    real = (graph_root / filename).read_bytes()
    with serve_faulty("tamper-bytes", graph_root) as mirror:
        page = http.get(mirror.project_url("es-util"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        entry = next(f for f in page.json()["files"] if f["filename"] == filename)
        assert entry["hashes"] == {"sha256": sha256(real)}
        served = http.get(mirror.file_url(filename), timeout=TIMEOUT).content
        assert sha256(served) != sha256(real)
        assert len(served) == len(real) == entry["size"]  # only a hash check can tell
        assert b"TAMPERED = True" in verify_record(served)["es_util/__init__.py"]
        html_links = anchors(http.get(mirror.project_url("es-util"), timeout=TIMEOUT).text)
        assert html_links[filename]["href"] == f"../../files/{filename}#sha256={sha256(real)}"

        result = pip("download", "--no-deps", "--dest", str(tmp_path / "dl"), "es-util==1.1", index=mirror)
        assert result.returncode != 0
        assert "DO NOT MATCH THE HASHES" in result.stderr
        assert not (tmp_path / "dl" / filename).exists()
        assert mirror.errors == []


def test_tamper_index(graph_root: Path, tmp_path: Path, http: requests.Session) -> None:
    filename = "es_util-1.1-py3-none-any.whl"
    real = (graph_root / filename).read_bytes()
    with serve_index(graph_root) as honest, serve_faulty("tamper-index", graph_root) as mirror:
        honest_page = http.get(
            honest.project_url("es-util"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT
        )
        page = http.get(mirror.project_url("es-util"), headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT)
        honest_hashes = {f["filename"]: f["hashes"]["sha256"] for f in honest_page.json()["files"]}
        hashes = {f["filename"]: f["hashes"]["sha256"] for f in page.json()["files"]}
        assert set(hashes) == set(honest_hashes)
        assert all(hashes[name] != honest_hashes[name] for name in hashes)
        served = http.get(mirror.file_url(filename), timeout=TIMEOUT).content
        assert sha256(served) == hashes[filename] != sha256(real)
        assert b"TAMPERED = True" in verify_record(served)["es_util/__init__.py"]
        # the metadata is unchanged, so a resolver sees the same dependency graph
        assert http.get(mirror.file_url(filename) + ".metadata", timeout=TIMEOUT).content == (
            read_wheel_metadata(real)
        )

        result = pip("install", "--no-deps", "--target", str(tmp_path / "t"), "es-util==1.1", index=mirror)
        assert result.returncode == 0, result.stderr
        assert "TAMPERED = True" in (tmp_path / "t" / "es_util" / "__init__.py").read_text()
        assert mirror.errors == []


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown fault mode"), serve_faulty("flaky"):  # type: ignore[arg-type]
        pass
    with pytest.raises(ValueError, match="needs the root"), serve_faulty("tamper-bytes"):
        pass


def test_isolated_env_drops_pip_and_uv_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://example.invalid/simple")
    monkeypatch.setenv("UV_INDEX_URL", "https://example.invalid/simple")
    env = isolated_env()
    assert "PIP_EXTRA_INDEX_URL" not in env
    assert "UV_INDEX_URL" not in env
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert "UV_HTTP_RETRIES" not in env
    assert isolated_env(fail_fast=True)["UV_HTTP_RETRIES"] == "0"


@needs_uv
def test_uv_fails_fast_against_faulty_mirrors(tmp_path: Path) -> None:
    source = tmp_path / "requirements.in"
    source.write_text("es-app\n")
    for mode in ("refuse", "error", "hang"):
        with serve_faulty(mode) as mirror:
            started = time.monotonic()
            command = [uv_executable(), "pip", "compile", "--no-config", "--index-url", mirror.url]
            command += ["--cache-dir", str(tmp_path / "uv-cache"), str(source)]
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=isolated_env(fail_fast=True),
                timeout=60,
                check=False,
            )
            assert result.returncode != 0, mode
            assert f"Failed to fetch: {mirror.url}/es-app/" in result.stderr, mode
            assert time.monotonic() - started < 10, mode
