"""The CUDA libraries an environment really uses, from a probe report (pure).

Three failures that a lock alone cannot prevent, each seen often in users' reports:

- ``nvidia-*`` wheels of two CUDA majors in one environment (``-cu12`` beside ``-cu13``): torch
  loads one and fails with undefined symbols in the other;
- a cuDNN or cuBLAS of the system ahead of the wheel's on the loader path (``LD_LIBRARY_PATH`` is
  searched before a wheel's RUNPATH), or one actually loaded from outside the environment;
- the driver's ``libcuda.so.1`` missing or not loadable (a container started without the GPU
  runtime, a driver installed without its user-space library), which every GPU call needs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from envspec.lock.model import Lock
from envspec.verify.model import Check, Status

_CUDA_WHEEL = re.compile(r"nvidia-[a-z0-9-]+?-cu(?P<major>\d+)")
GROUP = "cuda-libs"


def cuda_majors(report: Mapping[str, Any]) -> dict[str, list[str]]:
    """CUDA major -> the installed ``nvidia-*-cuXX`` distributions built for it."""
    majors: dict[str, list[str]] = {}
    for dist in report.get("distributions", []):
        match = _CUDA_WHEEL.fullmatch(str(dist.get("name", "")))
        if match:
            majors.setdefault(match["major"], []).append(str(dist["name"]))
    return {major: sorted(names) for major, names in sorted(majors.items())}


def check_cuda_majors(lock: Lock, report: Mapping[str, Any]) -> Iterator[Check]:
    majors = cuda_majors(report)
    if not majors:
        return
    cuda = lock.facts.cuda.version if lock.facts.cuda else lock.facts.torch.cuda if lock.facts.torch else None
    locked = cuda.split(".")[0] if cuda else None
    if len(majors) > 1:
        listing = "; ".join(f"CUDA {m}: {', '.join(names[:3])}" for m, names in majors.items())
        yield Check(
            GROUP,
            "one CUDA major",
            Status.FAIL,
            f"nvidia wheels of {len(majors)} CUDA majors are installed ({listing}): torch fails with"
            " undefined symbols",
            "rebuild the environment from its lock (bootstrap.sh): something installed other CUDA wheels",
        )
    elif locked is not None and locked not in majors:
        (found,) = majors
        yield Check(
            GROUP,
            "one CUDA major",
            Status.FAIL,
            f"the nvidia wheels are for CUDA {found}; the lock's torch build is for CUDA {locked}",
            "rebuild the environment from its lock (bootstrap.sh)",
        )
    else:
        (found,) = majors
        yield Check(GROUP, "one CUDA major", Status.PASS, f"every nvidia wheel is for CUDA {found}")


def _inside(path: str, prefix: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(prefix)
    return real == root or real.startswith(root.rstrip("/") + "/")


def check_loader(report: Mapping[str, Any]) -> Iterator[Check]:
    """CUDA libraries loaded from outside the environment (a failure), or waiting on
    ``LD_LIBRARY_PATH`` where they would be found first (a warning)."""
    prefix = str(report.get("python", {}).get("prefix", ""))
    torch = report.get("torch") or {}
    loaded = [p for p in torch.get("loaded_libraries", []) if "libcuda.so" not in Path(p).name]
    foreign = [p for p in loaded if prefix and not _inside(p, prefix)]
    if foreign:
        folders = sorted({str(Path(p).parent) for p in foreign})
        yield Check(
            GROUP,
            "loaded from the environment",
            Status.FAIL,
            "loaded from outside the environment: " + ", ".join(foreign[:4]),
            f"remove {', '.join(folders)} from LD_LIBRARY_PATH (or that library from the system's"
            " loader path) so that the wheels' own libraries load",
        )
    elif loaded:
        yield Check(
            GROUP,
            "loaded from the environment",
            Status.PASS,
            f"{len(loaded)} CUDA libraries loaded, all from the environment",
        )
    waiting = [p for p in report.get("loader_path", []) if not (prefix and _inside(p, prefix))]
    if waiting and not foreign:
        yield Check(
            GROUP,
            "LD_LIBRARY_PATH",
            Status.WARN,
            "LD_LIBRARY_PATH holds CUDA libraries that the loader finds before the wheels': "
            + ", ".join(waiting[:4]),
            "unset LD_LIBRARY_PATH for this environment, or drop those folders from it",
        )


def check_libcuda(gpu: Mapping[str, Any], *, required: bool) -> Iterator[Check]:
    libcuda = gpu.get("libcuda")
    if not libcuda:
        return
    if libcuda.get("ok"):
        yield Check(GROUP, "libcuda.so.1", Status.PASS, "the driver's libcuda.so.1 loads")
    elif gpu.get("driver") is None and not required:
        return  # no driver at all: the GPU checks say so and skip
    else:
        yield Check(
            GROUP,
            "libcuda.so.1",
            Status.FAIL,
            f"the driver's libcuda.so.1 does not load: {libcuda.get('error', 'unknown error')}",
            "in a container, start it with the GPU runtime (--gpus all); on a host, install the driver's"
            " user-space library (libnvidia-compute, or the full driver)",
        )


def check_cuda_libraries(
    lock: Lock, report: Mapping[str, Any], *, gpu: bool, gpu_required: bool
) -> Iterator[Check]:
    yield from check_cuda_majors(lock, report)
    yield from check_loader(report)
    if gpu:
        yield from check_libcuda((report.get("torch") or {}).get("gpu") or {}, required=gpu_required)
