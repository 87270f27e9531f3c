"""envspec's probe: run by ``envspec verify`` inside the interpreter of the environment under test.

It must work on every Python envspec locks for (3.8 and newer), import only the standard library
(and torch, only when asked), change nothing, and print one JSON report on stdout.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import importlib.util
import json
import marshal
import os
import platform
import subprocess
import sys
import time
import types
from importlib import metadata
from pathlib import Path
from typing import Any

TOOLING = {"pip", "setuptools", "wheel", "distribute"}


def record_hash(path: Path, mode: str = "sha256") -> str:
    """A RECORD hash of a file: ``MODE=`` and the urlsafe base64 digest without padding."""
    digest = hashlib.new(mode)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return mode + "=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def _recorded(entry: Any) -> str:
    return f"{entry.hash.mode}={entry.hash.value}"


def _matches_record(path: Path, entry: Any) -> bool:
    try:
        return record_hash(path, entry.hash.mode) == _recorded(entry)
    except (OSError, ValueError):  # unreadable, or a hash this Python does not know
        return False


def cached_source(record_path: str) -> tuple[str, int] | None:
    """The RECORD path of the source of a cached ``.pyc`` and its optimization level, or None.

    ``pkg/__pycache__/mod.cpython-311.pyc`` -> (``pkg/mod.py``, 0);
    ``pkg/__pycache__/mod.cpython-311.opt-2.pyc`` -> (``pkg/mod.py``, 2).
    """
    head, _, name = record_path.rpartition("/")
    folder, _, cache = head.rpartition("/")
    if cache != "__pycache__" or not name.endswith(".pyc"):
        return None
    parts = name[: -len(".pyc")].split(".")  # module name, cache tag, [opt-N]
    if len(parts) == 2:
        level = 0
    elif len(parts) == 3 and parts[2] in ("opt-1", "opt-2"):
        level = int(parts[2][len("opt-") :])
    else:
        return None
    source = parts[0] + ".py"
    return (folder + "/" + source if folder else source), level


def judge_bytecode(dist: metadata.Distribution, record_path: str, path: Path, sources: Any) -> str | None:
    """Why a cached ``.pyc`` is not the byte-compiled form of its verified source, or None when it is.

    Installers byte-compile every module they install (pip, uv with --compile-bytecode), and so rewrite
    a ``.pyc`` that the wheel itself shipped: RECORD keeps the wheel's size and hash. Such a file is
    judged by its code instead: its source must match RECORD, and compiling that source (under the
    file name recorded in the ``.pyc``) must give the same code object as the ``.pyc`` holds.
    """
    found = cached_source(record_path)
    entry = sources.get(found[0]) if found is not None else None
    if found is None or entry is None:
        return "compiled code differs from RECORD, and RECORD lists no source for it"
    source_path, level = found
    source_file = Path(str(dist.locate_file(entry)))
    if not _matches_record(source_file, entry):
        return f"compiled code differs from RECORD, and its source {source_path} differs too"
    try:
        data = path.read_bytes()
    except OSError:
        return "missing"
    if data[:4] != importlib.util.MAGIC_NUMBER:
        return "compiled code differs from RECORD, and is not bytecode of this Python (magic number)"
    try:
        # after the PEP 552 header (magic, flags, source mtime or hash, source size)
        code = marshal.loads(data[16:])  # noqa: S302 - the import system trusts this file just as much
        source = source_file.read_bytes()
        same = isinstance(code, types.CodeType) and code == compile(
            source, code.co_filename, "exec", dont_inherit=True, optimize=level
        )
    except Exception:  # an unreadable .pyc or an uncompilable source: not a clean compile either way
        same = False
    return None if same else f"compiled code differs from its source {source_path}"


def check_files(dist: metadata.Distribution, deep: bool) -> tuple[int, list[dict[str, str]]]:
    """Compare installed files with RECORD: sizes always; hashes of every file with ``deep``, and of
    every Python module otherwise, so that a modified module is caught without ``--deep``.

    A cached ``.pyc`` that differs from RECORD is judged by :func:`judge_bytecode`. With ``deep``, so
    is each ``.pyc`` the installer wrote (RECORD lists those without a hash).
    """
    problems: list[dict[str, str]] = []
    checked = 0
    entries = list(dist.files or [])
    sources = {str(e): e for e in entries if e.hash is not None and str(e).endswith(".py")}
    judged = set()
    for entry in entries:
        record_path = str(entry)
        path = Path(str(dist.locate_file(entry)))
        problem: str | None
        if entry.hash is None:
            if not deep or record_path in judged or cached_source(record_path) is None:
                continue
            judged.add(record_path)
            problem = _judge_generated(dist, record_path, path, sources)
            checked += 1
            if problem is not None:
                problems.append({"path": record_path, "problem": problem})
            continue
        checked += 1
        judged.add(record_path)  # pip lists a .pyc it rewrote twice: with the wheel's hash, and without
        try:
            size = path.stat().st_size
        except OSError:
            problems.append({"path": record_path, "problem": "missing"})
            continue
        if entry.size is not None and size != entry.size:
            problem = f"size {size}, RECORD says {entry.size}"
        elif (deep or record_path.endswith(".py")) and not _matches_record(path, entry):
            problem = "content differs from RECORD"
        else:
            continue
        if cached_source(record_path) is not None:
            problem = judge_bytecode(dist, record_path, path, sources)
        if problem is not None:
            problems.append({"path": record_path, "problem": problem})
    return checked, problems


def _judge_generated(dist: metadata.Distribution, record_path: str, path: Path, sources: Any) -> str | None:
    """A ``.pyc`` the installer wrote: fine when absent or not for this Python (the import system would
    not read it), otherwise it must be the compiled form of its source."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError:
        return None
    if magic != importlib.util.MAGIC_NUMBER:
        return None
    return judge_bytecode(dist, record_path, path, sources)


def normalize(name: str) -> str:
    key = name.lower().replace("_", "-").replace(".", "-")
    while "--" in key:
        key = key.replace("--", "-")
    return key


def distributions(deep: bool, files: bool) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or normalize(name) in found:
            continue  # the first one on sys.path is the one imports see
        key = normalize(name)
        item: dict[str, Any] = {"name": key, "version": dist.version, "tooling": key in TOOLING}
        if files:
            item["files_checked"], item["problems"] = check_files(dist, deep)
        found[key] = item
    return sorted(found.values(), key=lambda d: str(d["name"]))


def driver_version() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],  # noqa: S607
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            timeout=30,
            check=False,
        )
        lines = result.stdout.strip().splitlines()
        if lines:
            return lines[0].strip()
    with contextlib.suppress(OSError):
        for word in Path("/proc/driver/nvidia/version").read_text().split():
            parts = word.split(".")
            if len(parts) >= 2 and all(p.isdigit() for p in parts):
                return word
    return None


CUDA_LIBRARIES = ("libcudnn", "libcublas", "libcudart", "libnvrtc", "libnccl", "libcusparse", "libcufft")


def _is_cuda_library(name: str) -> bool:
    return name.startswith(CUDA_LIBRARIES) and ".so" in name


def loader_path() -> list[str]:
    """CUDA libraries in the LD_LIBRARY_PATH folders: the dynamic loader finds these before the ones
    a wheel's RUNPATH names, so a system cuDNN there can shadow the wheel's."""
    found = []
    for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        with contextlib.suppress(OSError):
            if folder:
                found += [str(f) for f in sorted(Path(folder).iterdir()) if _is_cuda_library(f.name)]
    return found


def loaded_libraries() -> list[str]:
    """The CUDA libraries this process has loaded, by path (Linux: /proc/self/maps)."""
    found = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
            if path.startswith("/") and (_is_cuda_library(Path(path).name) or "libcuda.so" in path):
                found.add(os.path.realpath(path))
    return sorted(found)


def libcuda() -> dict[str, Any]:
    """Whether the driver's libcuda.so.1 loads (torch needs it for any GPU work, torch.compile too)."""
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
        return {"ok": True}
    except OSError as exc:
        return {"ok": False, "error": str(exc)}


def _read(torch: Any, name: str) -> object:
    readers = {
        "cudnn_benchmark": lambda: torch.backends.cudnn.benchmark,
        "deterministic": torch.are_deterministic_algorithms_enabled,
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "num_threads": torch.get_num_threads,
    }
    try:
        return readers[name]()
    except Exception:  # a stand-in or an old torch may lack one
        return None


def torch_report(gpu: bool) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        torch: Any = importlib.import_module("torch")
    except Exception as exc:  # any import failure is a finding
        return {"imported": False, "error": f"{type(exc).__name__}: {exc}"}
    report: dict[str, Any] = {
        "imported": True,
        "import_seconds": round(time.perf_counter() - started, 3),
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": None,
        "applied": getattr(torch, "envspec_settings", None),
    }
    with contextlib.suppress(Exception):
        report["cudnn"] = torch.backends.cudnn.version()
    report["flags"] = {
        name: _read(torch, name)
        for name in ("cudnn_benchmark", "deterministic", "float32_matmul_precision", "num_threads")
    }
    try:
        importlib.import_module("torch._inductor")
        report["inductor"] = True
    except Exception as exc:
        report["inductor"] = False
        report["inductor_error"] = f"{type(exc).__name__}: {exc}"
    if gpu:
        report["gpu"] = gpu_report(torch)
    report["loaded_libraries"] = loaded_libraries()
    return report


def gpu_report(torch: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"available": bool(torch.cuda.is_available()), "driver": driver_version()}
    info["libcuda"] = libcuda()
    info["devices"] = []
    try:
        info["arch_list"] = list(torch.cuda.get_arch_list())
    except Exception:
        info["arch_list"] = []
    if not info["available"]:
        return info
    for index in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(index)
        info["devices"].append({"name": torch.cuda.get_device_name(index), "capability": [major, minor]})
    started = time.perf_counter()
    try:
        x = torch.randn(256, 256, device="cuda")
        compiled = torch.compile(lambda t: torch.nn.functional.relu(t @ t.T) + 1)
        result = compiled(x)
        torch.cuda.synchronize()
        ok = bool(torch.allclose(result, torch.nn.functional.relu(x @ x.T) + 1, rtol=1e-3, atol=1e-3))
        info["compile"] = {"ok": ok, "seconds": round(time.perf_counter() - started, 3)}
    except Exception as exc:
        info["compile"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    with contextlib.suppress(Exception):  # a convolution loads cuDNN, so that its path can be seen
        torch.nn.functional.conv2d(
            torch.ones(1, 1, 4, 4, device="cuda"), torch.ones(1, 1, 3, 3, device="cuda")
        )
        torch.cuda.synchronize()
    return info


def activated() -> str | None:
    """The variable that says this environment is activated (its prefix), or None."""
    prefix = os.path.realpath(sys.prefix)
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = os.environ.get(name)
        if value and os.path.realpath(value) == prefix:
            return name
    return None


def hook_report() -> dict[str, Any] | None:
    """What envspec's start-up hook did in this process (None: it did not run)."""
    hook = sys.modules.get("envspec_startup")
    if hook is None:
        return None
    return {"environment": sorted(getattr(hook, "ENVIRONMENT", {})), "file": getattr(hook, "__file__", None)}


def main() -> None:
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    stamp_path = Path(sys.prefix) / "envspec-stamp"
    variant_path = Path(sys.prefix) / "envspec-variant"  # a lock of several torch builds: the one built
    report = {
        "probe": 1,
        "python": {
            "version": "{}.{}.{}".format(*sys.version_info[:3]),
            "executable": sys.executable,
            "prefix": sys.prefix,
            "platform": sys.platform,
            "machine": platform.machine(),
        },
        "stamp": stamp_path.read_text().strip() if stamp_path.is_file() else None,
        "variant": variant_path.read_text().strip() if variant_path.is_file() else None,
        "environ": {name: os.environ.get(name) for name in options.get("env", [])},
        "activated": activated(),
        "hook": hook_report(),
        "loader_path": loader_path(),
        "distributions": distributions(bool(options.get("deep")), bool(options.get("files", True))),
        "torch": torch_report(bool(options.get("gpu"))) if options.get("torch") else None,
    }
    json.dump(report, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
