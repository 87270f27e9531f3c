"""Pytest fixtures shared by the test modules: the built package graphs and indexes serving them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.graph import build_evil_graph, build_graph
from tests.support.index import IndexServer, serve_index


@pytest.fixture(scope="session")
def graph_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The honest package graph's wheels, built once per run."""
    root = tmp_path_factory.mktemp("graph")
    build_graph(root)
    return root


@pytest.fixture(scope="session")
def evil_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second index's wheels: higher versions that must never win unassigned."""
    root = tmp_path_factory.mktemp("evil")
    build_evil_graph(root)
    return root


@pytest.fixture
def index(graph_root: Path) -> Iterator[IndexServer]:
    with serve_index(graph_root) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def evil(evil_root: Path) -> Iterator[IndexServer]:
    with serve_index(evil_root) as server:
        yield server
    assert server.errors == []
