"""The router's pages keep everything resolvers need: hashes, Requires-Python, metadata, yanking."""

from __future__ import annotations

import functools
import hashlib
import json
import socket
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
import requests

from envspec.compat import Compat
from envspec.load import load_spec
from envspec.lock.diskcache import DiskCache
from envspec.lock.index import IndexClient, ProjectPage
from envspec.lock.plan import plan_lock
from envspec.lock.router import _bind, render_page, router_key, router_url, serve
from envspec.lock.simple import SIMPLE_JSON, IndexFile, parse_simple_html
from envspec.lock.trust import Verifier
from tests.support.index import IndexServer
from tests.support.isolation import isolated_env
from tests.support.servers import in_thread, send_body
from tests.support.wheels import build_wheel
from tests.test_lock_build import envspec, write_spec


def test_rendered_page_parses_back_to_the_same_files() -> None:
    files = (
        IndexFile("b-1.0.tar.gz", "https://f.invalid/b-1.0.tar.gz", {"sha256": "ab" * 32}, None),
        IndexFile(
            "a-1.0-py3-none-any.whl",
            "https://f.invalid/a%2B1.whl",
            {"sha256": "cd" * 32},
            '>=3.8,<4; "quoted"',
            metadata=True,
            metadata_hash=("sha256", "ef" * 32),
            yanked=True,
        ),
    )
    page = render_page("demo", files)
    back = parse_simple_html(page, "http://127.0.0.1:1/simple/demo/")
    assert [f.filename for f in back] == ["a-1.0-py3-none-any.whl", "b-1.0.tar.gz"]
    a = back[0]
    assert a.url == "https://f.invalid/a%2B1.whl"
    assert a.sha256 == "cd" * 32
    assert a.requires_python == '>=3.8,<4; "quoted"'
    assert a.metadata
    assert a.metadata_hash == ("sha256", "ef" * 32)
    assert a.yanked
    assert not back[1].yanked


def _bound(port_file: Path) -> int:
    """Bind the router as a lock does (the verifier is never used before a request) and let it go."""
    unused = cast(Verifier, SimpleNamespace(client=None))
    server = _bind(unused, passthrough=True, port_file=port_file, key="k")
    port = int(server.server_address[1])
    server.server_close()
    return port


@pytest.mark.parametrize("content", [b"", b"abc", b"99999", b"0", b"-5", b"80", b"\xff\xfe", b"1e3"])
def test_a_damaged_port_file_gives_a_free_port_and_is_rewritten(tmp_path: Path, content: bytes) -> None:
    port_file = tmp_path / "router-port"
    port_file.write_bytes(content)
    port = _bound(port_file)
    assert 1024 <= port <= 65535
    assert port_file.read_text(encoding="ascii") == f"{port}\n"


def test_the_router_takes_its_port_again_or_another_when_it_is_held(tmp_path: Path) -> None:
    port_file = tmp_path / "router-port"
    port = _bound(port_file)
    assert _bound(port_file) == port  # the resolvers' caches, keyed by URL, stay valid
    with socket.socket() as holder:  # another program on that port: any free one, remembered
        holder.bind(("127.0.0.1", port))
        holder.listen()
        other = _bound(port_file)
    assert other != port
    assert port_file.read_text(encoding="ascii") == f"{other}\n"


def _client(*urls: str, scoped: dict[str, str] | None = None, cutoff: str | None = None) -> IndexClient:
    """What router_key reads of a client: its plan's indexes and their URLs."""
    plan = SimpleNamespace(
        mirrors=[SimpleNamespace(url=u) for u in urls],
        scoped={k: SimpleNamespace(url=v) for k, v in (scoped or {}).items()},
        exclude_newer=cutoff,
    )
    return cast(IndexClient, SimpleNamespace(plan=plan, url_of=lambda index: index.url.rstrip("/") + "/"))


def test_the_router_url_names_the_mirrors_behind_it() -> None:
    """A resolver's cache keyed by the router's URL never gets another spec's pages."""
    base = router_key(_client("http://a/simple"), passthrough=True)
    assert router_key(_client("http://a/simple/"), passthrough=True) == base
    others = [
        router_key(_client("http://b/simple"), passthrough=True),
        router_key(_client("http://a/simple", "http://b/simple"), passthrough=True),
        router_key(_client("http://b/simple", "http://a/simple"), passthrough=True),
        router_key(_client("http://a/simple", scoped={"torch": "http://t/"}), passthrough=True),
        router_key(_client("http://a/simple", cutoff="2024-01-01T00:00:00Z"), passthrough=True),
        router_key(_client("http://a/simple"), passthrough=False),
    ]
    assert len({base, *others}) == len(others) + 1


def test_a_resolver_hanging_up_is_not_reported_but_a_bug_is(capsys: pytest.CaptureFixture[str]) -> None:
    server = _bind(cast(Verifier, SimpleNamespace(client=None)), passthrough=True, port_file=None, key="k")
    try:
        for failure, reported in ((ConnectionResetError(104, "reset"), False), (KeyError("bug"), True)):
            try:
                raise failure
            except Exception:
                server.handle_error(None, ("127.0.0.1", 1))
            assert ("Traceback" in capsys.readouterr().err) is reported
    finally:
        server.server_close()


@pytest.mark.parametrize(
    ("upstream", "fresh"), [("max-age=600", True), ("max-age=0, must-revalidate", False)]
)
def test_a_passed_on_page_keeps_what_is_left_of_its_index_max_age(
    tmp_path: Path, index: IndexServer, compat: Compat, upstream: str, fresh: bool
) -> None:
    index.set_page_cache_control(upstream)
    spec = write_spec(tmp_path / "s.toml", [("local", index.url)], ["es-util"])
    plan = plan_lock(load_spec(spec).spec, compat)
    client = IndexClient(plan, lambda: index.url, DiskCache(tmp_path / "cache"))
    try:
        with serve(Verifier(client, tmp_path), passthrough=True) as server:
            url = router_url(server) + "es-util/"
            first = requests.get(url, headers={"Accept": SIMPLE_JSON}, timeout=5)
            again = requests.get(
                url, headers={"Accept": SIMPLE_JSON, "If-None-Match": first.headers["ETag"]}, timeout=5
            )
    finally:
        client.close()
    assert first.status_code == 200
    max_age = int(first.headers["Cache-Control"].split(",")[0].removeprefix("max-age="))
    assert (550 <= max_age <= 600) if fresh else max_age == 0
    assert again.status_code == 304  # the same bytes: the resolver keeps its copy


# -- a page passed on before it is parsed ---------------------------------------------------------


class _RelativeJsonIndex(SimpleHTTPRequestHandler):
    """A PEP 691 index whose pages link their files relatively (``../../files/<name>``), as the
    standard allows: a page the router must not pass on unchanged (the links would point at it)."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        parts = [p for p in self.path.split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            page = Path(self.directory) / "simple" / parts[1] / "index.json"
            if not page.is_file():
                self.send_error(404)
                return
            send_body(self, page.read_bytes(), SIMPLE_JSON)
            return
        super().do_GET()


@pytest.fixture
def relative_index(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "relative"
    files = root / "files"
    files.mkdir(parents=True)
    wheels = [
        build_wheel(files, "rel-app", "1.0", requires=["rel-lib>=2"]),
        build_wheel(files, "rel-lib", "2.1"),
    ]
    for wheel in wheels:
        project = wheel.name.split("-")[0].replace("_", "-")
        entry = {
            "filename": wheel.name,
            "url": f"../../files/{wheel.name}",
            "hashes": {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()},
        }
        page = {"meta": {"api-version": "1.0"}, "name": project, "files": [entry]}
        folder = root / "simple" / project
        folder.mkdir(parents=True)
        (folder / "index.json").write_text(json.dumps(page), encoding="utf-8")
    with in_thread(functools.partial(_RelativeJsonIndex, directory=str(root))) as url:
        yield f"{url}/simple"


def _project_handing_on(
    spec: Path, compat: Compat, project: str
) -> tuple[ProjectPage | None, list[bytes], bool]:
    """The client's page for ``project``, the pages it handed on, and whether it flagged one."""
    client = IndexClient(plan_lock(load_spec(spec).spec, compat), lambda: "http://unused.invalid/", None)
    handed: list[bytes] = []
    try:
        page = client.project(project, lambda raw: handed.append(raw.body))
    finally:
        client.close()
    return page, handed, client.passed_unchecked


def test_a_page_is_handed_on_before_parsing_and_flagged_when_it_was_not_whole(
    tmp_path: Path, relative_index: str, compat: Compat
) -> None:
    spec = write_spec(tmp_path / "s.toml", [("rel", relative_index)], ["rel-app"])
    page, handed, unchecked = _project_handing_on(spec, compat, "rel-app")
    assert page is not None
    assert len(handed) == 1
    assert b"../../files/" in handed[0]  # what the index sent, unparsed
    assert page.raw is None  # relative links: not whole, so never passed on unchanged
    assert unchecked
    assert page.files[0].url == f"{relative_index.removesuffix('/simple')}/files/{page.files[0].filename}"


@pytest.mark.parametrize("resolver", ["uv", "pip-tools"])
def test_a_lock_against_relative_json_links_resolves_again_through_the_router(
    tmp_path: Path, relative_index: str, resolver: str
) -> None:
    spec = write_spec(tmp_path / "s.toml", [("rel", relative_index)], ["rel-app"])
    out = tmp_path / "pylock.toml"
    env = {**isolated_env(), "ENVSPEC_CACHE_DIR": str(tmp_path / "cache")}
    done = envspec("lock", str(spec), "-o", str(out), "--resolver", resolver, env=env)
    assert done.returncode == 0, done.stderr
    lock = tomllib.loads(out.read_text(encoding="utf-8"))
    got = {p["name"]: (p["version"], [w["url"] for w in p["wheels"]]) for p in lock["packages"]}
    upstream = relative_index.removesuffix("/simple") + "/files/"
    assert got == {
        "rel-app": ("1.0", [upstream + "rel_app-1.0-py3-none-any.whl"]),
        "rel-lib": ("2.1", [upstream + "rel_lib-2.1-py3-none-any.whl"]),
    }


class _BrokenJsonIndex(BaseHTTPRequestHandler):
    """An index whose every page is cut off in the middle of its JSON."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        send_body(self, b'{"meta": {"api-version": "1.0"}, "files": [{"filename": 1', SIMPLE_JSON)


def test_a_broken_page_handed_on_fails_over_to_the_next_mirror_with_one_answer(
    tmp_path: Path, index: IndexServer, compat: Compat
) -> None:
    with in_thread(_BrokenJsonIndex) as broken:
        first = f"{broken}/simple"
        spec = write_spec(tmp_path / "s.toml", [("broken", first), ("local", index.url)], ["es-app"])
        # the client: the broken page is handed on, the good mirror's is not (one answer per request)
        page, handed, unchecked = _project_handing_on(spec, compat, "es-app")
        assert page is not None
        assert page.index.name == "local"
        assert len(handed) == 1
        assert handed[0].startswith(b'{"meta"')
        assert unchecked
        # the whole lock: resolved again through envspec, from the good mirror
        out = tmp_path / "pylock.toml"
        env = {**isolated_env(), "ENVSPEC_CACHE_DIR": str(tmp_path / "cache")}
        done = envspec("lock", str(spec), "-o", str(out), "--resolver", "uv", env=env)
    assert done.returncode == 0, done.stderr
    assert "skipped mirror broken" in done.stderr
    assert "invalid JSON" in done.stderr
    lock = tomllib.loads(out.read_text(encoding="utf-8"))
    assert {p["name"] for p in lock["packages"]} >= {"es-app"}
    assert all(p["index"].startswith(index.url) for p in lock["packages"])
