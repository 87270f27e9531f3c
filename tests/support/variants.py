"""A mixed-GPU lab's indexes on 127.0.0.1: torch-shaped builds of one release, one index per build.

:func:`build_lab` writes torch ``2.13.0+cu130``, ``+cu126`` and ``+cpu`` wheels (stand-ins whose
``torch.version.cuda`` says their CUDA), their ``nvidia-*-cu12``/``-cu13`` dependencies and a
package every build shares, laid out as the PyTorch indexes are: one static PEP 503 tree per build,
``<root>/torch/<build>/simple/<project>/index.html``, served with :func:`serve_static` so that a
spec's ``url = "http://127.0.0.1:PORT/<build>/simple"`` works with ``{variant}``. The general index
(``<root>/general``, for :func:`tests.support.index.serve_index`) holds the rest.
"""

from __future__ import annotations

import functools
import hashlib
import html
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.support.servers import in_thread
from tests.support.wheels import build_wheel

TORCH = "2.13.0"
BUILDS = ("cu130", "cu126", "cpu")
# each build's CUDA (None: cpu) and the nvidia wheels it pulls, as torch 2.13's do
CUDA = {"cu130": "13.0", "cu126": "12.6", "cpu": None}
NVIDIA = {
    "cu130": ("nvidia-cublas-cu13==13.0.2", "nvidia-cudnn-cu13==9.20.0.48"),
    "cu126": ("nvidia-cublas-cu12==12.6.4", "nvidia-cudnn-cu12==9.20.0.48"),
    "cpu": (),
}
SHARED = ("filelock==3.16.1",)
# what a PEP 825 index serves beside a release's wheels (the shape of the draft's example)
VARIANTS_JSON = """{
  "$schema": "https://variants-schema.wheelnext.dev/v0.0.3.json",
  "default-priorities": {"namespace": ["nvidia"]},
  "variants": {"cu126": {"nvidia": {"cuda_version_lower_bound": ["12.6"]}}}
}
"""

TORCH_MODULE = """
import types
__version__ = {version!r}
version = types.SimpleNamespace(cuda={cuda!r})
calls = []
backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(benchmark=False, deterministic=False,
                                                              version=lambda: None))
cuda = types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0)
def use_deterministic_algorithms(value): calls.append(("deterministic", value))
_precision = "highest"
def set_float32_matmul_precision(value):
    global _precision
    _precision = value
def get_float32_matmul_precision(): return _precision
def are_deterministic_algorithms_enabled(): return False
def set_num_threads(value): calls.append(("threads", value))
def get_num_threads(): return 1
def compile(model=None, *, mode=None, options=None): return mode
import sys
sys.modules[__name__ + "._inductor"] = types.ModuleType(__name__ + "._inductor")
"""


def _pin(text: str) -> tuple[str, str]:
    name, version = text.split("==")
    return name, version


def build_lab(root: Path) -> Path:
    """Write the lab's wheels and index trees under ``root``; return ``root``."""
    general = root / "general"
    general.mkdir(parents=True, exist_ok=True)
    for text in (*SHARED, *(n for build in BUILDS for n in NVIDIA[build])):
        build_wheel(general, *_pin(text))
    for build in BUILDS:
        files = root / "torch" / build / "files"
        files.mkdir(parents=True, exist_ok=True)
        version = f"{TORCH}+{build}"
        source = TORCH_MODULE.format(version=version, cuda=CUDA[build])
        build_wheel(files, "torch", version, requires=(*NVIDIA[build], *SHARED), module_source=source)
        if build == "cu126":  # one index that also serves PEP 825 variant metadata for its release
            (files / f"torch-{version}-variants.json").write_text(VARIANTS_JSON, encoding="utf-8")
        write_simple_tree(files, root / "torch" / build / "simple")
    return root


def write_simple_tree(files: Path, simple: Path) -> None:
    """A static PEP 503 index of the wheels (and PEP 825 ``-variants.json`` files) in ``files``:
    ``simple/<project>/index.html`` with relative links and ``#sha256=`` fragments."""
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(files.glob("*.whl")):
        projects.setdefault(canonicalize_name(parse_wheel_filename(wheel.name)[0]), []).append(wheel)
    for meta in sorted(files.glob("*-variants.json")):  # listed as a release's file (PEP 825)
        projects.setdefault(canonicalize_name(meta.name.split("-")[0]), []).append(meta)
    for project, wheels in projects.items():
        folder = simple / project
        folder.mkdir(parents=True, exist_ok=True)
        links = []
        for wheel in wheels:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            href = html.escape(f"../../files/{wheel.name}#sha256={digest}")
            links.append(f'<a href="{href}">{html.escape(wheel.name)}</a><br>')
        (folder / "index.html").write_text(
            "<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n", encoding="utf-8"
        )
    (simple / "index.html").write_text(
        "<!DOCTYPE html>\n<html><body>\n"
        + "\n".join(f'<a href="{p}/">{p}</a><br>' for p in projects)
        + "\n</body></html>\n",
        encoding="utf-8",
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No per-request log on stderr."""


@contextmanager
def serve_static(root: Path) -> Iterator[str]:
    """Serve the folder ``root`` on 127.0.0.1; yield its base URL (no trailing slash)."""
    with in_thread(functools.partial(_Quiet, directory=str(root))) as url:
        yield url


def lab_spec(general_url: str, torch_url: str, *, builds: tuple[str, ...] = BUILDS, extra: str = "") -> str:
    """The spec text of the lab: ``builds`` of torch 2.13.0 from ``torch_url`` (holding ``{variant}``)."""
    quoted = ", ".join(f'"{b}"' for b in builds)
    return (
        '[env]\nname = "lab"\npython = "3.11"\n'
        f'[torch]\nversion = "{TORCH}"\nvariants = [{quoted}]\nindex = "pytorch"\n'
        f'[[mirrors]]\nname = "local"\nurl = "{general_url}"\ntrusted = true\n'
        f'[[mirrors]]\nname = "pytorch"\nurl = "{torch_url}"\ntrusted = true\n'
        "[network]\ntimeout = 5\nretries = 0\n"
        f"{extra}"
    )


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    from tests.support.isolation import isolated_env

    env = isolated_env()
    env.update(extra)
    return env
