"""Shared test helpers: paths of the repository's specs and fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from envspec.compat import Compat, load_compat
from envspec.lint import LintContext

pytest_plugins = ["tests.support.fixtures", "tests.support.torchenv"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED_SPECS = sorted([REPO / "specs" / "dev.toml", *(REPO / "examples").glob("*.toml")])


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets an empty envspec cache of its own (never the user's), inherited by the envspec
    processes it starts: a file one test cached must not hide another test's faulty mirror."""
    monkeypatch.setenv("ENVSPEC_CACHE_DIR", str(tmp_path_factory.mktemp("envspec-cache")))
    monkeypatch.delenv("ENVSPEC_NO_CACHE", raising=False)


@pytest.fixture(scope="session")
def compat() -> Compat:
    return load_compat()


@pytest.fixture
def ctx() -> LintContext:
    """A fixed machine (2 cores) so that lint results do not depend on where tests run."""
    return LintContext(cores=2)


LAST_MARKERS = ("network", "container")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files (committed locks, emitted files)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests that leave the machine or build images last, so fast feedback comes first."""
    items.sort(key=lambda item: any(item.get_closest_marker(m) for m in LAST_MARKERS))
