"""The installer's default index: read from the installed pip's source, pip asked only as a fallback.

Nothing here spells the default index: what pip itself reports is the reference every test compares
with. The fake pip packages use example.org addresses.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from envspec.lock import installers
from envspec.lock.installers import (
    DEFAULT_INDEX_ENV,
    InstallerError,
    default_index_url,
    index_from_pip_source,
)

# pip's own answer, asked exactly as a user's pip would be: import it and print the constant.
PIP_REPORTS = (
    "import json, os, pip\n"
    "from pip._internal.models.index import PyPI\n"
    "print(json.dumps([PyPI.simple_url, os.path.dirname(pip.__file__)]))\n"
)

# The shape of pip's PackageIndex (written here, not copied): the url is stored, simple_url joined on.
FAKE_CLASS = '''import urllib.parse


class PackageIndex:
    """A stand-in with the shape of pip's class."""

    def __init__(self, url: str, file_storage_domain: str) -> None:
        super().__init__()
        self.url = url
        self.netloc = urllib.parse.urlsplit(url).netloc
        self.simple_url = self._url_for_path("simple")
        self.pypi_url = self._url_for_path("pypi")
        self.file_storage_domain = file_storage_domain

    def _url_for_path(self, path: str) -> str:
        """Join path onto the index url."""
        return urllib.parse.urljoin(self.url, path)


'''


def fake_pip(root: Path, index_source: str | bytes) -> Path:
    """A pip package folder under ``root`` whose ``_internal/models/index.py`` is ``index_source``."""
    package = root / "pip"
    models = package / "_internal" / "models"
    models.mkdir(parents=True)
    for folder in (package, package / "_internal", models):
        (folder / "__init__.py").write_text("", encoding="utf-8")
    data = index_source if isinstance(index_source, bytes) else index_source.encode()
    (models / "index.py").write_bytes(data)
    return package


def fake_index(url: str, *, keyword: bool = False) -> str:
    argument = f"url={url!r}" if keyword else repr(url)
    return FAKE_CLASS + f'PyPI = PackageIndex({argument}, file_storage_domain="files.example.org")\n'


@pytest.fixture(scope="session")
def pip_reports() -> tuple[str, Path]:
    """(simple_url, package folder) as the pip of this interpreter reports them itself."""
    result = subprocess.run([sys.executable, "-c", PIP_REPORTS], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"pip is not importable by this interpreter: {result.stderr.strip()}")
    url, folder = json.loads(result.stdout)
    return url, Path(folder)


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No override from the environment, and no answer cached by an earlier test."""
    monkeypatch.delenv(DEFAULT_INDEX_ENV, raising=False)
    default_index_url.cache_clear()
    yield
    default_index_url.cache_clear()


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str]]:
    """Records every command the module runs (the real ``_output`` still runs it)."""
    seen: list[Sequence[str]] = []
    real = installers._output

    def recording(command: Sequence[str], timeout: float) -> str | None:
        seen.append(command)
        return real(command, timeout)

    monkeypatch.setattr(installers, "_output", recording)
    return seen


def forbid_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **_: object) -> NoReturn:
        pytest.fail(f"a process was started: {args!r}")

    # the module calls subprocess.run, which starts its process through subprocess.Popen
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def use_pip_folder(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    finder: Callable[[], Path | None] = lambda: folder  # noqa: E731
    monkeypatch.setattr(installers, "_pip_package_dir", finder)


def pip_modules() -> set[str]:
    return {name for name in sys.modules if name == "pip" or name.startswith("pip.")}


# (1) the cheap answer is pip's own


def test_the_source_gives_what_pip_itself_reports(pip_reports: tuple[str, Path]) -> None:
    url, folder = pip_reports
    found = installers._pip_package_dir()
    assert found is not None
    assert found.resolve() == folder.resolve()
    assert index_from_pip_source(found) == url
    assert default_index_url() == url


# (2) the cheap path starts no process and imports no pip


def test_the_cheap_path_starts_no_process_and_imports_no_pip(
    pip_reports: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = pip_reports
    before = pip_modules()
    forbid_processes(monkeypatch)
    assert default_index_url() == url
    assert pip_modules() == before


def test_the_answer_is_found_once_per_process(
    pip_reports: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[None] = []
    real = installers._pip_package_dir

    def counting() -> Path | None:
        calls.append(None)
        return real()

    monkeypatch.setattr(installers, "_pip_package_dir", counting)
    assert default_index_url() == default_index_url() == pip_reports[0]
    assert len(calls) == 1


# (3) pip is asked in a subprocess only when its source cannot be read


@pytest.mark.parametrize(
    "index_source",
    [
        pytest.param(
            FAKE_CLASS + "TestIndex = PackageIndex('https://index.example.org/', 'x')\n", id="no-PyPI"
        ),
        pytest.param("PyPI = PackageIndex(\n", id="syntax-error"),
        pytest.param(b"\xff\xfe PyPI = 1\n", id="not-utf8"),
        pytest.param(
            FAKE_CLASS + "URL = 'https://index.example.org/'\nPyPI = PackageIndex(URL, 'x')\n",
            id="not-a-literal",
        ),
        pytest.param(fake_index("https://index.example.org/") + "PyPI = object()\n", id="rebound"),
        pytest.param(
            fake_index("https://index.example.org/") + "from somewhere import PyPI\n", id="rebound-by-import"
        ),
        pytest.param(
            fake_index("https://index.example.org/").replace(
                '_url_for_path("simple")', '_url_for_path("simple/")'
            ),
            id="simple-url-derived-differently",
        ),
        pytest.param(
            fake_index("https://index.example.org/").replace(
                "return urllib.parse.urljoin(self.url, path)", "return self.url + path"
            ),
            id="joined-differently",
        ),
        pytest.param(
            fake_index("https://index.example.org/").replace("self.url = url", "self.url = url.lower()"),
            id="url-not-stored-as-given",
        ),
        pytest.param(
            fake_index("https://index.example.org/").replace("class PackageIndex", "class Index"),
            id="no-PackageIndex-class",
        ),
    ],
)
def test_an_unreadable_source_gives_no_answer(tmp_path: Path, index_source: str | bytes) -> None:
    assert index_from_pip_source(fake_pip(tmp_path, index_source)) is None


def test_no_index_module_gives_no_answer(tmp_path: Path) -> None:
    assert index_from_pip_source(tmp_path) is None


def test_the_subprocess_answers_when_the_source_lacks_the_constant(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pip_reports: tuple[str, Path],
    processes: list[Sequence[str]],
) -> None:
    use_pip_folder(monkeypatch, fake_pip(tmp_path, FAKE_CLASS + "# PyPI moved elsewhere\n"))
    assert default_index_url() == pip_reports[0]
    assert len(processes) == 1
    assert processes[0][0] == sys.executable


def test_the_subprocess_answers_when_pip_is_not_found(
    monkeypatch: pytest.MonkeyPatch, pip_reports: tuple[str, Path], processes: list[Sequence[str]]
) -> None:
    use_pip_folder(monkeypatch, None)
    assert default_index_url() == pip_reports[0]
    assert len(processes) == 1


def test_when_pip_cannot_answer_either_the_error_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: list[Sequence[str]]
) -> None:
    # the same fake pip for both: this process reads its source, the subprocess imports it first
    package = fake_pip(tmp_path, FAKE_CLASS)
    use_pip_folder(monkeypatch, package)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(InstallerError, match="did not name its default index") as caught:
        default_index_url()
    assert caught.value.hint is not None
    assert DEFAULT_INDEX_ENV in caught.value.hint
    assert len(processes) == 1


# (4) ENVSPEC_DEFAULT_INDEX wins over everything


def test_the_environment_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup() -> NoReturn:
        pytest.fail("pip was looked for despite the override")

    monkeypatch.setattr(installers, "_pip_package_dir", no_lookup)
    forbid_processes(monkeypatch)
    monkeypatch.setenv(DEFAULT_INDEX_ENV, "http://127.0.0.1:9/simple/")
    assert default_index_url() == "http://127.0.0.1:9/simple/"


# (5) a well-formed constant is used as pip would use it; a malformed one is refused


@pytest.mark.parametrize(
    ("url", "keyword", "expected"),
    [
        ("https://index.example.org/", False, "https://index.example.org/simple"),
        ("https://index.example.org/", True, "https://index.example.org/simple"),
        ("https://index.example.org/base/", False, "https://index.example.org/base/simple"),
        ("https://index.example.org:8443", False, "https://index.example.org:8443/simple"),
    ],
)
def test_a_well_formed_constant_is_derived_as_pip_derives_it(
    tmp_path: Path, url: str, keyword: bool, expected: str
) -> None:
    package = fake_pip(tmp_path, fake_index(url, keyword=keyword))
    assert index_from_pip_source(package) == expected
    # the fake class does what pip's does: running it gives the same answer
    executed = runpy.run_path(str(package / "_internal" / "models" / "index.py"))
    assert executed["PyPI"].simple_url == expected


def test_the_fake_source_is_what_the_cheap_path_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pip_folder(monkeypatch, fake_pip(tmp_path, fake_index("https://index.example.org/")))
    forbid_processes(monkeypatch)
    assert default_index_url() == "https://index.example.org/simple"


MALFORMED = [
    pytest.param("https://bad host.example.org/", id="space"),
    pytest.param('https://index.example.org/"/', id="double-quote"),
    pytest.param("https://index.example.org/'/", id="single-quote"),
    pytest.param("https://index.example.org/\x07/", id="control-character"),
    pytest.param("https://index.example.org/\n", id="newline"),
    pytest.param("http://index.example.org/", id="not-https"),
    pytest.param("file:///srv/index/", id="file-url"),
    pytest.param("https:///simple/", id="no-host"),
    pytest.param("index.example.org/", id="relative"),
    pytest.param("https://user:secret@index.example.org/", id="credentials"),
    pytest.param("https://index.example.org:port/", id="bad-port"),
    pytest.param("https://index.example.org/?a=b", id="query"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_constant_is_refused(tmp_path: Path, url: str) -> None:
    assert index_from_pip_source(fake_pip(tmp_path, fake_index(url))) is None


@pytest.mark.parametrize("url", MALFORMED[:4])
def test_a_malformed_constant_falls_back_to_pip(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pip_reports: tuple[str, Path],
    processes: list[Sequence[str]],
    url: str,
) -> None:
    use_pip_folder(monkeypatch, fake_pip(tmp_path, fake_index(url)))
    assert default_index_url() == pip_reports[0]
    assert len(processes) == 1
