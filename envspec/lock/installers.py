"""The installers envspec drives (pip, pip-tools, uv): where they are, what they default to, and a
hermetic environment to run them in.

Nothing here hard-codes an index address: the default index is read from the installed pip at run
time (its source, without importing it), and asked of pip in a subprocess only when that fails.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

from envspec.errors import EnvspecError

# Ambient configuration that must never reach a resolution or an install envspec runs.
_AMBIENT_PREFIXES = ("PIP_", "UV_", "PIPTOOLS_", "CUSTOM_COMPILE_COMMAND")
DEFAULT_INDEX_ENV = "ENVSPEC_DEFAULT_INDEX"


class InstallerError(EnvspecError):
    """An installer is missing or could not answer."""


def hermetic_env(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The process environment without pip/uv configuration, with config files switched off.

    ``PIP_CONFIG_FILE=os.devnull`` makes pip ignore every config file (global, user, site), and
    ``UV_NO_CONFIG`` does the same for uv; every other ``PIP_*``/``UV_*`` variable is dropped.
    """
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if not key.startswith(_AMBIENT_PREFIXES)}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_NO_PROGRESS": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            # the resolvers only ever talk to envspec's loopback router, which retries the mirrors itself
            "UV_HTTP_RETRIES": "0",
            "PYTHONUTF8": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


def _output(command: Sequence[str], timeout: float) -> str | None:
    try:
        result = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False, env=hermetic_env()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = result.stdout.strip()
    return output.splitlines()[-1].strip() if result.returncode == 0 and output else None


# The file of pip that defines its built-in index, relative to the pip package folder.
_PIP_INDEX_MODULE = ("_internal", "models", "index.py")
# What pip itself would print; used only when its source cannot be read.
_PIP_REPORTS_INDEX = "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"
# How pip derives ``simple_url`` from the constructor's url (``ast.unparse`` spelling). A pip that
# derives it differently is not second-guessed: envspec asks pip itself then.
_SIMPLE_URL_ASSIGNMENT = ("self.simple_url", "self._url_for_path('simple')")
_URL_FOR_PATH_RETURN = "urllib.parse.urljoin(self.url, {param})"
_SIMPLE_PATH = "simple"


def _pip_package_dir() -> Path | None:
    """The folder of the pip package that this interpreter would import, found without importing it.

    ``importlib.util.find_spec`` of a top-level name only consults the path finders; no code of pip
    runs. None when pip is not installed here or is not a plain folder (e.g. zipped).
    """
    try:
        spec = importlib.util.find_spec("pip")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if len(locations) != 1:
        return None
    folder = Path(locations[0])
    return folder if folder.is_dir() else None


def _is_index_url(url: str) -> bool:
    """An absolute https URL with a host and nothing that could smuggle text into a command or file."""
    if not url or any(ch.isspace() or ch in "\"'`<>\\" or not ch.isprintable() for ch in url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a malformed port)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and parts.username is None
        and parts.password is None
        and not parts.query
        and not parts.fragment
    )


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _derives_simple_url_by_urljoin(tree: ast.Module) -> bool:
    """Whether ``class PackageIndex`` sets ``simple_url`` as pip does today: urljoin(url, "simple")."""
    cls = next(
        (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PackageIndex"),
        None,
    )
    if cls is None:
        return False
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    init, url_for_path = methods.get("__init__"), methods.get("_url_for_path")
    if init is None or url_for_path is None:
        return False
    # __init__ must take the url first and store it unchanged as self.url
    init_args = [a.arg for a in init.args.args]
    if len(init_args) < 2:
        return False
    assigned: dict[str, set[str]] = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                assigned.setdefault(ast.unparse(target), set()).add(ast.unparse(node.value))
    simple_target, simple_value = _SIMPLE_URL_ASSIGNMENT
    if assigned.get("self.url") != {init_args[1]} or assigned.get(simple_target) != {simple_value}:
        return False
    params = [a.arg for a in url_for_path.args.args]
    body = [n for n in url_for_path.body if not (isinstance(n, ast.Expr) and _string(n.value) is not None)]
    return (
        len(params) == 2
        and len(body) == 1
        and isinstance(body[0], ast.Return)
        and body[0].value is not None
        and ast.unparse(body[0].value) == _URL_FOR_PATH_RETURN.format(param=params[1])
    )


def index_from_pip_source(package_dir: Path) -> str | None:
    """pip's built-in simple index, read from the source of the pip package in ``package_dir``.

    Parses ``_internal/models/index.py`` with ``ast`` (nothing is executed), takes the url literal
    of ``PyPI = PackageIndex("<url>", ...)``, checks that ``PackageIndex`` still derives
    ``simple_url`` by joining "simple" onto it, and derives it the same way. None when anything
    differs from that shape or the result is not a plain https URL.
    """
    try:
        source = package_dir.joinpath(*_PIP_INDEX_MODULE).read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
        return None
    # PyPI must be bound exactly once in the whole file, by a module-level PackageIndex(...) call
    bindings = [
        n
        for n in ast.walk(tree)
        if (isinstance(n, ast.Name) and n.id == "PyPI" and isinstance(n.ctx, ast.Store))
        or (isinstance(n, ast.alias) and (n.asname or n.name) == "PyPI")
    ]
    calls = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        and [ast.unparse(t) for t in n.targets] == ["PyPI"]
        and isinstance(n.value, ast.Call)
        and isinstance(n.value.func, ast.Name)
        and n.value.func.id == "PackageIndex"
    ]
    if len(bindings) != 1 or len(calls) != 1 or not _derives_simple_url_by_urljoin(tree):
        return None
    (call,) = calls
    urls = [_string(call.args[0])] if call.args else []
    urls += [_string(k.value) for k in call.keywords if k.arg == "url"]
    if len(urls) != 1 or urls[0] is None or not _is_index_url(urls[0]):
        return None
    simple = urllib.parse.urljoin(urls[0], _SIMPLE_PATH)
    return simple if _is_index_url(simple) else None


@functools.cache
def default_index_url() -> str:
    """The installer's own default index (pip's built-in one), found at run time.

    ``ENVSPEC_DEFAULT_INDEX`` overrides it (tests point it at a loopback index). Otherwise the
    answer is read from the source of the pip this interpreter would import
    (:func:`index_from_pip_source`: no import of pip, no process); only when that fails (pip is not
    installed here, or a pip release changed that file) is pip asked in a subprocess, as
    ``PyPI.simple_url``. pip's configuration files are deliberately not consulted: a lock sees only
    the indexes in the spec. The answer is computed once per process.
    """
    override = os.environ.get(DEFAULT_INDEX_ENV)
    if override:
        return override
    package_dir = _pip_package_dir()
    found = index_from_pip_source(package_dir) if package_dir is not None else None
    if found is None:
        found = _output([sys.executable, "-c", _PIP_REPORTS_INDEX], 60)
    if not found or not _is_index_url(found):
        raise InstallerError(
            "pip did not name its default index",
            hint=f"give every [[mirrors]] entry a url, or set {DEFAULT_INDEX_ENV}",
        )
    return found


def tool_path(name: str) -> Path | None:
    """An executable installed beside the running interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    return Path(found) if found else None


def tool_version(command: Sequence[str]) -> str:
    """The version a tool prints for ``--version`` (last word of its first line)."""
    text = _output([*command, "--version"], 60)
    match = re.search(r"\b(\d+\.\d+(?:\.\d+)*)\b", text or "")
    if match is None:
        raise InstallerError(f"{command[-1]} did not report a version")
    return match.group(1)
