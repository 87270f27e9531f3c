"""``envspec export-mirror``, for real: the exported folder served by ``python -m http.server``,
pypiserver and nginx on 127.0.0.1, installed from by bootstrap.sh, pip and uv after the mirror the
lock was made against is gone; its PEP 691 JSON pages and PEP 658 metadata checked against the files;
hostile files exported without a crash."""

from __future__ import annotations

import email.parser
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import quote, urljoin

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from envspec.emit.scripts.fetch import Entry
from envspec.export import export_mirror
from envspec.lock.simple import SIMPLE_JSON, IndexFile, parse_simple_html, parse_simple_json
from tests.conftest import REPO
from tests.support.graph import APP_FAST_PINS
from tests.support.hostile import hostile_files
from tests.support.index import serve_index
from tests.support.isolation import isolated_env, pip_command, uv_executable
from tests.support.servers import free_port, http_server, nginx_binary, nginx_server, pypiserver
from tests.support.wheels import build_wheel, read_wheel_metadata
from tests.test_emit_venv_faults import bootstrap, imports, make_bootstrap

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
PAGE = "http://mirror.invalid/simple/{}/"  # a base URL to resolve the pages' relative links against


def envspec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envspec", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def hashed_requirements(lock: Path) -> str:
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return "".join(
        f"{p['name']}=={p['version']} "
        + " ".join(f"--hash=sha256:{w['hashes']['sha256']}" for w in p.get("wheels", []))
        + "\n"
        for p in data["packages"]
    )


def install_with_pip_and_uv(tmp_path: Path, url: str, lock: Path, *, no_deps: bool = False) -> None:
    """pip and uv each install the lock (hashes required) from ``url`` into a fresh target folder,
    resolving its dependencies there unless ``no_deps``; each target then imports es_app 1.1."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(hashed_requirements(lock), encoding="utf-8")
    common = ["--require-hashes", "--index-url", url, "-r", str(requirements), *(["--no-deps"] * no_deps)]
    pip = subprocess.run(
        pip_command("install", "--no-cache-dir", "--target", str(tmp_path / "pip-target"), *common),
        capture_output=True, text=True, check=False, env=isolated_env(),
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    try:
        uv = uv_executable()
    except FileNotFoundError:
        pytest.skip("uv is not installed next to the test interpreter or on PATH")
    installed = subprocess.run(
        [uv, "pip", "install", "--no-config", "--no-cache", "--python", sys.executable,
         "--target", str(tmp_path / "uv-target"), *common],
        capture_output=True, text=True, check=False, env=isolated_env(),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    for target in ("pip-target", "uv-target"):
        env = {**isolated_env(), "PYTHONPATH": str(tmp_path / target)}
        probe = [
            sys.executable,
            "-c",
            "import es_app, es_core; print(es_app.__version__, es_core.__version__)",
        ]
        done = subprocess.run(probe, capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
        assert done.stdout.split() == ["1.1", "2.0"], done.stderr


@pytest.fixture
def exported(tmp_path: Path, graph_root: Path) -> tuple[Path, Path, Path]:
    """A lock made against a loopback mirror that is gone afterwards, its bootstrap.sh, and its
    exported mirror."""
    with serve_index(graph_root) as index:
        script = make_bootstrap(tmp_path / "lock", [("m", index.url)], ["es-app[fast]"])
        lock = tmp_path / "lock" / "pylock.toml"
        done = envspec("export-mirror", lock, "-o", tmp_path / "mirror", "--store", tmp_path / "store")
    assert done.returncode == 0, done.stderr
    return lock, script, tmp_path / "mirror"


def test_bootstrap_installs_from_the_served_export(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    _, script, mirror = exported
    with http_server(mirror, tmp_path / "http.log") as url:
        built = bootstrap(script, "--prefix", str(tmp_path / "env"), "--mirror", url)
    assert built.returncode == 0, built.stderr
    assert "connection refused" in built.stderr  # the lock's own mirror is gone: said, then failed over
    assert imports(tmp_path / "env", "es_app")


def test_pip_and_uv_install_the_lock_from_the_served_export(
    tmp_path: Path, exported: tuple[Path, Path, Path]
) -> None:
    lock, _, mirror = exported
    with http_server(mirror, tmp_path / "http.log") as url:
        install_with_pip_and_uv(tmp_path, url, lock, no_deps=True)


def test_every_page_links_its_files_with_their_sha256(exported: tuple[Path, Path, Path]) -> None:
    lock, _, mirror = exported
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    for package in data["packages"]:
        page = (mirror / "simple" / package["name"] / "index.html").read_text(encoding="utf-8")
        for wheel in package.get("wheels", []):
            assert f"#sha256={wheel['hashes']['sha256']}" in page
            assert (mirror / "files" / wheel["name"]).is_file()
            digest = hashlib.sha256((mirror / "files" / f"{wheel['name']}.metadata").read_bytes()).hexdigest()
            assert f'data-core-metadata="sha256={digest}"' in page
            assert f'data-dist-info-metadata="sha256={digest}"' in page  # PEP 714: the old name too
        assert ('data-requires-python="&gt;=3.8"' in page) == (package["name"] == "es-app")
    listed = (mirror / "simple" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{p["name"]}/"' in listed for p in data["packages"])


def _metadata_requires_python(metadata: bytes) -> SpecifierSet | None:
    value = email.parser.BytesHeaderParser().parsebytes(metadata).get("Requires-Python")
    return SpecifierSet(value) if value else None


def _canonical(document: object) -> bytes:
    return (json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _summary(files: list[IndexFile]) -> list[tuple[object, ...]]:
    return [(f.filename, f.url, f.sha256, f.requires_python, f.metadata, f.metadata_hash) for f in files]


def test_the_json_pages_are_pep_691_and_match_the_files(exported: tuple[Path, Path, Path]) -> None:
    lock, _, mirror = exported
    locked = {p["name"]: p for p in tomllib.loads(lock.read_text(encoding="utf-8"))["packages"]}
    root_bytes = (mirror / "simple" / "index.json").read_bytes()
    root = json.loads(root_bytes)
    assert root_bytes == _canonical(root)
    assert root == {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in sorted(locked)]}
    for name, package in locked.items():
        raw = (mirror / "simple" / name / "index.json").read_bytes()
        page = json.loads(raw)
        assert raw == _canonical(page)  # sorted keys, fixed separators, one trailing newline
        assert set(page) == {"meta", "name", "files", "versions"}  # PEP 700 makes "versions" required
        assert page["meta"] == {"api-version": "1.1"}
        assert page["name"] == name
        assert page["versions"] == [package["version"]]
        by_name = {w["name"]: w for w in package["wheels"]}
        assert [f["filename"] for f in page["files"]] == sorted(by_name)
        for entry in page["files"]:
            filename = entry["filename"]
            assert set(entry) <= {"filename", "url", "hashes", "size", "requires-python", "core-metadata"}
            assert (
                urljoin(PAGE.format(name), entry["url"]) == f"http://mirror.invalid/files/{quote(filename)}"
            )
            data = (mirror / "files" / filename).read_bytes()
            assert entry["hashes"] == {"sha256": hashlib.sha256(data).hexdigest()}
            assert entry["hashes"]["sha256"] == by_name[filename]["hashes"]["sha256"]
            assert entry["size"] == len(data)
            metadata = (mirror / "files" / f"{filename}.metadata").read_bytes()
            assert metadata == read_wheel_metadata(data)
            assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
            wanted = _metadata_requires_python(metadata)
            assert (SpecifierSet(entry["requires-python"]) if "requires-python" in entry else None) == wanted
        html = (mirror / "simple" / name / "index.html").read_text(encoding="utf-8")
        from_html = parse_simple_html(html, PAGE.format(name))
        assert _summary(parse_simple_json(page, PAGE.format(name))) == _summary(from_html)


def test_exporting_again_writes_the_same_bytes(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    lock, _, mirror = exported
    again = envspec("export-mirror", lock, "-o", tmp_path / "again", "--store", tmp_path / "store")
    assert again.returncode == 0, again.stderr
    first, second = (
        {p.relative_to(d): p.read_bytes() for p in d.rglob("*") if p.is_file()}
        for d in (mirror, tmp_path / "again")
    )
    assert first == second


def test_the_exported_files_install_offline(tmp_path: Path, exported: tuple[Path, Path, Path]) -> None:
    """Removable media: the export's files folder, with no server and no network."""
    _, script, mirror = exported
    built = bootstrap(script, "--prefix", str(tmp_path / "env"), "--offline", str(mirror / "files"))
    assert built.returncode == 0, built.stderr
    assert imports(tmp_path / "env", "es_app")


def _export_files(tmp_path: Path, files: list[Path]) -> Path:
    """Export ``files`` through a store of their own, as ``export-mirror`` does after its fetch."""
    (tmp_path / "store" / "sha256").mkdir(parents=True)
    entries = []
    for path in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (tmp_path / "store" / "sha256" / digest).write_bytes(data)
        is_wheel = path.name.endswith(".whl")
        project = (parse_wheel_filename if is_wheel else parse_sdist_filename)(path.name)[0]
        entries.append(Entry(digest, len(data), project, path.name, f"http://127.0.0.1:9/{path.name}"))
    export_mirror(entries, tmp_path / "store", tmp_path / "mirror")
    return tmp_path / "mirror"


def test_hostile_files_export_without_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "dists"
    folder.mkdir()
    cases = hostile_files(folder)
    mirror = _export_files(tmp_path, [path for path, _, _ in cases.values()])
    for project, (path, requires, published) in cases.items():
        html = (mirror / "simple" / project / "index.html").read_text(encoding="utf-8")
        page = json.loads((mirror / "simple" / project / "index.json").read_bytes())
        (listed,) = page["files"]
        assert listed.get("requires-python") == requires, project
        assert ("core-metadata" in listed) is published, project
        assert (mirror / "files" / f"{path.name}.metadata").exists() is published, project
        assert ("data-core-metadata" in html) is published, project
        (parsed,) = parse_simple_html(html, PAGE.format(project))
        assert parsed.requires_python == requires, project  # escaped so that it reads back the same
        assert "<script>" not in html
        assert "<b>" not in html
    arbitrary = (mirror / "simple" / "es-h-arbitrary" / "index.html").read_text(encoding="utf-8")
    assert 'data-requires-python="===&quot;&gt;&lt;b&gt;"' in arbitrary
    rng = (mirror / "simple" / "es-h-range" / "index.html").read_text(encoding="utf-8")
    assert 'data-requires-python="&lt;4,&gt;=3.8"' in rng


def test_wheels_built_by_the_test_helpers_carry_their_requires_python(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dists", "es-rp", "1.0", requires_python="!=3.9.*,>=3.8")
    mirror = _export_files(tmp_path, [wheel])
    (listed,) = json.loads((mirror / "simple" / "es-rp" / "index.json").read_bytes())["files"]
    assert SpecifierSet(listed["requires-python"]) == SpecifierSet("!=3.9.*,>=3.8")
    assert (mirror / "files" / f"{wheel.name}.metadata").read_bytes() == read_wheel_metadata(wheel)


def test_pip_and_uv_install_the_lock_from_pypiserver(
    tmp_path: Path, exported: tuple[Path, Path, Path]
) -> None:
    """pypiserver on the export's files folder (docs/export-mirror.md): it builds its own pages."""
    if importlib.util.find_spec("pypiserver") is None:
        pytest.skip("pypiserver is not installed (it is in the dev extra: pip install -e '.[dev]')")
    lock, _, mirror = exported
    with pypiserver(mirror / "files", tmp_path / "pypiserver.log") as url:
        with urllib.request.urlopen(url + "es-app/", timeout=5) as response:  # noqa: S310 - loopback
            page = response.read().decode()
        assert "es_app-1.1-py3-none-any.whl" in page
        assert ".metadata" not in page  # the PEP 658 files beside the wheels are no packages to it
        install_with_pip_and_uv(tmp_path, url, lock)


def _docs_nginx_block(port: int, root: Path) -> str:
    """The nginx block of docs/export-mirror.md, exactly, with this test's port and root."""
    text = (REPO / "docs" / "export-mirror.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```nginx\n(.*?)```", text, re.S)
    lines = [line.removeprefix("  ") for line in block.splitlines()]  # the block is indented in a list
    block = "\n".join(lines)
    assert block.count("listen 8080;") == 1
    assert block.count("root /srv/mirror;") == 1
    return block.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace(
        "root /srv/mirror;", f"root {root};"
    )


def _get(url: str, accept: str | None) -> tuple[str, bytes]:
    headers = {"Accept": accept} if accept else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - a loopback http URL
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the same
        return response.headers["Content-Type"], response.read()


def test_nginx_with_the_documented_config_serves_json_and_html(
    tmp_path: Path, exported: tuple[Path, Path, Path]
) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx; .ci/run installs it as root)")
    lock, _, mirror = exported
    port = free_port()
    folder = tmp_path / "nginx"
    with nginx_server(binary, folder, _docs_nginx_block(port, mirror), port) as url:
        content_type, body = _get(url + "es-app/", PIP_ACCEPT)
        assert content_type == SIMPLE_JSON
        assert body == (mirror / "simple" / "es-app" / "index.json").read_bytes()
        content_type, body = _get(url + "es-app/", None)
        assert content_type == "text/html; charset=utf-8"
        assert body == (mirror / "simple" / "es-app" / "index.html").read_bytes()
        content_type, body = _get(url, "application/vnd.pypi.simple.v1+json")
        assert (content_type, json.loads(body)["meta"]) == (SIMPLE_JSON, {"api-version": "1.1"})
        install_with_pip_and_uv(tmp_path, url, lock)
        log = folder / "access.log"
        installs = log.read_text(encoding="utf-8").splitlines()
        report = tmp_path / "report.json"
        resolved = subprocess.run(
            pip_command("install", "--dry-run", "--ignore-installed", "--no-cache-dir", "--quiet",
                        "--report", str(report), "--index-url", url, "es-app[fast]"),
            capture_output=True, text=True, check=False, env=isolated_env(),
        )  # fmt: skip
        assert resolved.returncode == 0, resolved.stderr
        resolution = log.read_text(encoding="utf-8").splitlines()[len(installs) :]
    picked = json.loads(report.read_text(encoding="utf-8"))["install"]
    assert {i["metadata"]["name"]: i["metadata"]["version"] for i in picked} == APP_FAST_PINS
    # pip resolved from the JSON pages and the wheels' METADATA files alone, no wheel downloaded
    assert {line.split()[1] for line in resolution} == {
        *(f"/simple/{name}/index.json" for name in APP_FAST_PINS),
        *(
            f"/files/{name.replace('-', '_')}-{v}-py3-none-any.whl.metadata"
            for name, v in APP_FAST_PINS.items()
        ),
    }
    uv = [line for line in installs if '"uv/' in line]  # uv read the JSON pages and METADATA files too
    assert f'GET /simple/es-app/index.json 200 "{SIMPLE_JSON}"' in "\n".join(uv)
    assert sum(".whl.metadata 200" in line for line in uv) == len(APP_FAST_PINS)
    assert not (folder / "nginx.pid").exists()  # stopped: nginx removes its pid file on the way out
