"""``envspec export-mirror`` into a folder that already holds an export: the index grows, never shrinks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.index import serve_index
from tests.support.servers import http_server
from tests.test_emit_venv_faults import bootstrap, imports, make_bootstrap
from tests.test_export import envspec, install_with_pip_and_uv


def _listed(mirror: Path) -> set[str]:
    return {
        item["filename"]
        for page in (mirror / "simple").glob("*/index.json")
        for item in json.loads(page.read_text(encoding="utf-8"))["files"]
    }


def test_a_second_lock_adds_to_the_index_and_both_install(tmp_path: Path, graph_root: Path) -> None:
    mirror, store = tmp_path / "mirror", tmp_path / "store"
    with serve_index(graph_root) as index:
        app = make_bootstrap(tmp_path / "app", [("m", index.url)], ["es-app[fast]"])
        util = make_bootstrap(tmp_path / "util", [("m", index.url)], ["es-core==1.0", "es-util"])
        both = tmp_path / "both"
        together = envspec(
            "export-mirror", tmp_path / "app" / "pylock.toml", tmp_path / "util" / "pylock.toml", "-o", both,
            "--store", store,
        )  # fmt: skip
        assert together.returncode == 0, together.stderr
        first = envspec("export-mirror", tmp_path / "app" / "pylock.toml", "-o", mirror, "--store", store)
        assert first.returncode == 0, first.stderr
        after_first = _listed(mirror)
        second = envspec("export-mirror", tmp_path / "util" / "pylock.toml", "-o", mirror, "--store", store)
        assert second.returncode == 0, second.stderr
    assert after_first < _listed(mirror)
    # one export of both locks, or one after the other: the same folder, byte for byte
    assert {p.relative_to(mirror): p.read_bytes() for p in mirror.rglob("*") if p.is_file()} == {
        p.relative_to(both): p.read_bytes() for p in both.rglob("*") if p.is_file()
    }
    # the indexes are gone; each lock installs from the grown folder, served or as it lies on a disk
    (tmp_path / "pip-app").mkdir()
    with http_server(mirror, tmp_path / "http.log") as url:
        install_with_pip_and_uv(tmp_path / "pip-app", url, tmp_path / "app" / "pylock.toml", no_deps=True)
    for script, module in ((app, "es_app"), (util, "es_util")):
        built = bootstrap(script, "--prefix", str(tmp_path / module), "--offline", str(mirror))
        assert built.returncode == 0, built.stderr
        assert imports(tmp_path / module, module)


def test_a_page_edited_by_hand_is_refused_and_nothing_changes(tmp_path: Path, graph_root: Path) -> None:
    mirror, store = tmp_path / "mirror", tmp_path / "store"
    with serve_index(graph_root) as index:
        make_bootstrap(tmp_path / "app", [("m", index.url)], ["es-util"])
        lock = tmp_path / "app" / "pylock.toml"
        assert envspec("export-mirror", lock, "-o", mirror, "--store", store).returncode == 0
    (page,) = (mirror / "simple").glob("*/index.json")
    document = json.loads(page.read_text(encoding="utf-8"))
    document["files"][0]["hashes"]["sha256"] = "0" * 64  # the same file name, other bytes claimed
    page.write_text(json.dumps(document), encoding="utf-8")
    before = {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()}
    conflict = envspec("export-mirror", lock, "-o", mirror, "--store", store)
    assert conflict.returncode == 2
    assert "two different sha256" in conflict.stderr
    page.write_text("<html>not json", encoding="utf-8")
    before[page] = page.read_bytes()
    broken = envspec("export-mirror", lock, "-o", mirror, "--store", store)
    assert broken.returncode == 2
    assert "is not a page envspec export-mirror wrote" in broken.stderr
    assert "Traceback" not in broken.stderr + conflict.stderr
    assert {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()} == before
