"""envspec's probe: run by ``envspec verify`` inside the interpreter of the environment under test.

It must work on every Python envspec locks for (3.8 and newer), import only the standard library
(and torch, only when asked), change nothing, and print one JSON report on stdout.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

TOOLING = {"pip", "setuptools", "wheel", "distribute"}


def record_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def check_files(dist: metadata.Distribution, deep: bool) -> tuple[int, list[dict[str, str]]]:
    """Compare installed files with RECORD: sizes always; sha256 of every file with ``deep``, and of
    every Python module otherwise, so that a modified module is caught without ``--deep``."""
    problems: list[dict[str, str]] = []
    checked = 0
    for entry in dist.files or []:
        if entry.hash is None:
            continue
        path = Path(str(dist.locate_file(entry)))
        checked += 1
        try:
            size = path.stat().st_size
        except OSError:
            problems.append({"path": str(entry), "problem": "missing"})
            continue
        if entry.size is not None and size != entry.size:
            problems.append({"path": str(entry), "problem": f"size {size}, RECORD says {entry.size}"})
            continue
        expected = f"{entry.hash.mode}={entry.hash.value}"
        if (deep or str(entry).endswith(".py")) and record_hash(path) != expected:
            problems.append({"path": str(entry), "problem": "content differs from RECORD"})
    return checked, problems


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
    return report


def gpu_report(torch: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"available": bool(torch.cuda.is_available()), "driver": driver_version()}
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
    return info


def main() -> None:
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    stamp_path = Path(sys.prefix) / "envspec-stamp"
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
        "environ": {name: os.environ.get(name) for name in options.get("env", [])},
        "distributions": distributions(bool(options.get("deep")), bool(options.get("files", True))),
        "torch": torch_report(bool(options.get("gpu"))) if options.get("torch") else None,
    }
    json.dump(report, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
