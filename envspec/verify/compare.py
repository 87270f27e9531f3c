"""Compare a probe report with a lock: every check, what it found, and the fix (pure)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from envspec.compat import driver_tuple
from envspec.emit.hook import activation_reason
from envspec.lock.artifacts import marker_platforms
from envspec.lock.model import Lock, LockedPackage
from envspec.platforms import MARKER_ENVIRONMENTS, install_platform
from envspec.verify.host_checks import check_cuda_libraries
from envspec.verify.model import Check, Status

SETTING_NAMES = ("cudnn_benchmark", "deterministic", "float32_matmul_precision", "num_threads")


def _platform_of(report: Mapping[str, Any]) -> str | None:
    """The envspec platform name of the probed interpreter."""
    python = report.get("python", {})
    for platform, env in MARKER_ENVIRONMENTS.items():
        machine = python.get("machine")
        if env["sys_platform"] == python.get("platform") and (
            env["platform_machine"] == machine or (machine, env["platform_machine"]) == ("aarch64", "arm64")
        ):
            return platform
    return None


def check_identity(lock: Lock, report: Mapping[str, Any]) -> Iterator[Check]:
    stamp = report.get("stamp")
    if stamp is None:
        yield Check(
            "identity",
            "stamp",
            Status.WARN,
            "the environment has no envspec stamp",
            "environments built by bootstrap.sh or the Dockerfile carry one",
        )
    elif stamp.split()[0] != lock.env_id:
        yield Check(
            "identity",
            "stamp",
            Status.FAIL,
            f"the stamp names environment {stamp.split()[0]}",
            "this environment was built from another lock: rebuild it",
        )
    else:
        yield Check("identity", "stamp", Status.PASS, f"environment {lock.env_id}")
    version = str(report.get("python", {}).get("version", "?"))
    wanted = lock.python
    same = version == wanted if wanted.count(".") == 2 else version.rsplit(".", 1)[0] == wanted
    yield Check(
        "identity",
        "python",
        Status.PASS if same else Status.FAIL,
        f"Python {version}" + ("" if same else f", the lock is for Python {wanted}"),
        None if same else f"build the environment with Python {wanted}",
    )
    platform = _platform_of(report)
    if platform is None or platform not in lock.platforms:
        where = f"{report.get('python', {}).get('platform')}/{report.get('python', {}).get('machine')}"
        yield Check(
            "identity",
            "platform",
            Status.FAIL,
            f"{where} is not a locked platform",
            f"locked for: {', '.join(lock.platforms)}",
        )


def check_packages(lock: Lock, report: Mapping[str, Any]) -> Iterator[Check]:
    platform = _platform_of(report) or install_platform(lock.platforms)
    chosen = [p for p in lock.packages if marker_platforms(p.marker, lock.python, [platform])]
    locked: dict[str, str] = {canonicalize_name(p.name): p.version for p in chosen}
    labels = {name: local_labels(p for p in chosen if canonicalize_name(p.name) == name) for name in locked}
    installed: dict[str, Any] = {canonicalize_name(d["name"]): d for d in report.get("distributions", [])}

    def matches(name: str) -> bool:
        return name in installed and same_version(installed[name]["version"], locked[name], labels[name])

    for name, version in sorted(locked.items()):
        found = installed.get(name)
        if found is None:
            yield Check(
                "packages",
                name,
                Status.FAIL,
                f"{name}=={version} is not installed",
                "rebuild the environment from the lock",
            )
        elif not matches(name):
            yield Check(
                "packages",
                name,
                Status.FAIL,
                f"{name} is {found['version']}, the lock says {version}",
                "rebuild the environment from the lock",
            )
    extra = sorted(n for n, d in installed.items() if n not in locked and not d.get("tooling"))
    for name in extra:
        yield Check(
            "packages",
            name,
            Status.FAIL,
            f"{name}=={installed[name]['version']} is installed but not locked",
            "uninstall it, or add it to the spec and re-lock",
        )
    good = len([n for n in locked if matches(n)])
    yield Check(
        "packages",
        "summary",
        Status.PASS if good == len(locked) and not extra else Status.FAIL,
        f"{good} of {len(locked)} locked packages present at their locked versions; {len(extra)} unlocked",
    )
    changed = [(d["name"], p) for d in installed.values() for p in d.get("problems", [])]
    checked = sum(int(d.get("files_checked", 0)) for d in installed.values())
    for name, problem in changed:
        yield Check(
            "files",
            name,
            Status.FAIL,
            f"{problem['path']}: {problem['problem']}",
            f"reinstall {name} (the file was modified after installation)",
        )
    yield Check(
        "files",
        "summary",
        Status.FAIL if changed else Status.PASS,
        f"{checked} installed files checked against RECORD, {len(changed)} differ",
    )


def local_labels(packages: Iterable[LockedPackage]) -> frozenset[str]:
    """The local version labels (``cu121`` of ``torch-2.1.2+cu121-...whl``) of the locked wheel files."""
    labels = set()
    for package in packages:
        for wheel in package.wheels:
            with contextlib.suppress(InvalidWheelFilename, InvalidVersion):
                local = parse_wheel_filename(wheel.name)[1].local
                if local is not None:
                    labels.add(local)
    return frozenset(labels)


def same_version(installed: str, locked: str, labels: Iterable[str] = ()) -> bool:
    """Whether an installed distribution is the locked release.

    Equal versions match. So does a local build of a pin without a local label when one of the
    locked files carries that label: ``torch==2.1.2`` admits ``2.1.2+cu121`` (PEP 440), and what got
    installed is then the locked ``torch-2.1.2+cu121-...whl``, which reports ``2.1.2+cu121``.
    """
    try:
        found, wanted = Version(installed), Version(locked)
    except InvalidVersion:
        return installed == locked
    if found == wanted:
        return True
    return (
        wanted.local is None
        and found.local is not None
        and Version(found.public) == wanted
        and found.local in set(labels)
    )


def same_release(reported: str, locked: str) -> bool:
    """Whether two versions name the same release, whatever their local labels say."""
    try:
        return Version(reported).public == Version(locked).public
    except InvalidVersion:
        return reported == locked


def check_runtime(lock: Lock, report: Mapping[str, Any]) -> Iterator[Check]:
    """Each ``[runtime.env]`` variable in the probed interpreter's own process.

    The start-up hook sets the variables it can in every process of the environment, activated or
    not. The activation-only ones (:func:`envspec.emit.hook.activation_reason`) are checked when
    they are set or the environment is activated, and skipped otherwise: from outside, verify cannot
    tell what activation would set.
    """
    seen = report.get("environ", {})
    activated = report.get("activated")
    hook = report.get("hook")
    for name, value in lock.spec.runtime.env.items():
        actual = seen.get(name)
        reason = activation_reason(name)
        if actual == value:
            yield Check("runtime", name, Status.PASS, "set as locked")
        elif actual is not None:
            yield Check(
                "runtime",
                name,
                Status.FAIL,
                f"is {actual!r}, the lock says {value!r}",
                "a value set before Python starts wins: check your shell profile and what runs Python"
                + ("" if reason else " (the start-up hook keeps a value that is already set)"),
            )
        elif reason is None:
            yield Check(
                "runtime",
                name,
                Status.FAIL,
                "not set in this process; " + _hook_state(hook, name),
                "rebuild the environment from the lock with this envspec (its start-up hook sets it),"
                " or activate the environment first",
            )
        elif activated:
            yield Check(
                "runtime",
                name,
                Status.FAIL,
                f"not set, although the environment is activated ({activated} names it)",
                "rebuild the environment from the lock: its activate script sets it",
            )
        else:
            yield Check(
                "runtime",
                name,
                Status.SKIP,
                f"set by activation only ({name} {reason}); run verify inside the activated"
                " environment to check it",
            )


def _hook_state(hook: Mapping[str, Any] | None, name: str) -> str:
    if hook is None:
        return "the start-up hook (envspec-startup.pth in site-packages) did not run"
    if name in hook.get("environment", []):
        return "the start-up hook sets it, so something removed it later"
    return "the environment's start-up hook does not set it (built by an older envspec?)"


def check_torch(lock: Lock, report: Mapping[str, Any], *, gpu: bool, gpu_required: bool) -> Iterator[Check]:
    torch_facts = lock.facts.torch
    settings = lock.spec.runtime.torch.model_dump(exclude_none=True)
    probe = report.get("torch")
    if probe is None:
        if torch_facts or settings:
            yield Check("torch", "import", Status.SKIP, "torch was not imported (--quick)")
        return
    if not probe.get("imported"):
        yield Check(
            "torch",
            "import",
            Status.FAIL,
            f"import torch failed: {probe.get('error')}",
            "rebuild the environment from the lock",
        )
        return
    yield Check(
        "torch",
        "import",
        Status.PASS,
        f"torch {probe['version']} imported in {probe.get('import_seconds')} s",
    )
    platform = _platform_of(report) or install_platform(lock.platforms)
    torch_pins = [
        p
        for p in lock.packages
        if canonicalize_name(p.name) == "torch" and marker_platforms(p.marker, lock.python, [platform])
    ]
    if torch_pins:
        pin = torch_pins[0].version
        # torch.__version__ carries the build as a local label even where the distribution does not
        # (PyPI's torch-2.1.2 wheel says 2.1.2+cu121): the release is compared here, the build by
        # torch.version.cuda below, and the distribution's own version by the packages check
        same = same_release(str(probe["version"]), pin)
        yield Check(
            "torch",
            "version",
            Status.PASS if same else Status.FAIL,
            f"torch {probe['version']}" + ("" if same else f", the lock says {pin}"),
        )
    if torch_facts:
        cuda = torch_facts.cuda
        same = probe.get("cuda") == cuda
        yield Check(
            "torch",
            "build",
            Status.PASS if same else Status.FAIL,
            f"torch.version.cuda is {probe.get('cuda')}" + ("" if same else f", the lock's build is {cuda}"),
            None if same else f"install the {torch_facts.variant} build the lock names",
        )
        cudnn_pin = torch_facts.cudnn
        if cudnn_pin and probe.get("cudnn") is not None:
            major, minor, patch = (int(x) for x in str(cudnn_pin).split(".")[:3])
            number = int(probe["cudnn"])
            wanted = major * 1000 + minor * 100 + patch if major < 9 else major * 10000 + minor * 100 + patch
            yield Check(
                "torch",
                "cudnn",
                Status.PASS if number == wanted else Status.WARN,
                f"cuDNN {number} (the lock pins {cudnn_pin})",
            )
    flags = probe.get("flags", {})
    for name in SETTING_NAMES:
        if name in settings:
            actual = flags.get(name)
            ok = actual == settings[name]
            yield Check(
                "torch",
                name,
                Status.PASS if ok else Status.FAIL,
                f"is {actual!r}" + ("" if ok else f", the lock says {settings[name]!r}"),
                None if ok else "the start-up hook did not run: is envspec-startup.pth in site-packages?",
            )
    if "compile_mode" in settings:
        applied = probe.get("applied") or {}
        ok = applied.get("compile_mode") == settings["compile_mode"]
        yield Check(
            "torch",
            "compile_mode",
            Status.PASS if ok else Status.FAIL,
            f"default torch.compile mode {applied.get('compile_mode')!r}",
        )
    if probe.get("inductor") is False:
        yield Check(
            "torch",
            "inductor",
            Status.FAIL,
            f"torch._inductor does not import: {probe.get('inductor_error')}",
        )
    elif probe.get("inductor"):
        yield Check("torch", "inductor", Status.PASS, "torch._inductor imports")
    if gpu:
        yield from check_gpu(lock, probe.get("gpu") or {}, required=gpu_required)


def check_gpu(lock: Lock, gpu: Mapping[str, Any], *, required: bool = True) -> Iterator[Check]:
    """The GPU stack at work; unless required (``--gpu``), a skip on a machine with no NVIDIA driver
    at all (a CI runner, a build host), where a driver that CUDA cannot use is a failure."""
    if not gpu.get("available") and not required and gpu.get("driver") is None:
        why = "no NVIDIA driver on this machine (no nvidia-smi, no /proc/driver/nvidia): nothing to check"
        yield Check("gpu", "cuda", Status.SKIP, why, "run `envspec verify --gpu` where the GPUs are")
        return
    if not gpu.get("available"):
        yield Check(
            "gpu",
            "cuda",
            Status.FAIL,
            "torch.cuda.is_available() is False",
            "check the driver (nvidia-smi) and, in a container, --gpus all",
        )
        return
    devices = gpu.get("devices", [])
    yield Check(
        "gpu", "cuda", Status.PASS, f"{len(devices)} device(s): " + ", ".join(d["name"] for d in devices)
    )
    floor = lock.facts.cuda.min_driver if lock.facts.cuda else None
    driver = gpu.get("driver")
    if floor and driver:
        ok = driver_tuple(driver) >= driver_tuple(floor)
        yield Check(
            "gpu",
            "driver",
            Status.PASS if ok else Status.FAIL,
            f"driver {driver}" + (f" (needs >= {floor})" if not ok else f", at or above {floor}"),
            None if ok else f"upgrade the driver to {floor} or newer",
        )
    elif floor:
        yield Check("gpu", "driver", Status.WARN, "the driver version could not be read")
    arch = set(gpu.get("arch_list", []))
    for device in devices:
        major, minor = device["capability"]
        ok = f"sm_{major}{minor}" in arch or any(a.startswith(f"sm_{major}") for a in arch)
        yield Check(
            "gpu",
            "arch",
            Status.PASS if ok else Status.FAIL,
            f"{device['name']} is sm_{major}{minor}; the build supports {', '.join(sorted(arch))}",
            None if ok else "this torch build has no kernels for the GPU: use another CUDA build",
        )
    compiled = gpu.get("compile", {})
    if compiled.get("ok"):
        yield Check(
            "gpu", "compile", Status.PASS, f"torch.compile smoke test ran in {compiled.get('seconds')} s"
        )
    else:
        yield Check(
            "gpu",
            "compile",
            Status.FAIL,
            f"torch.compile smoke test failed: {compiled.get('error', 'wrong result')}",
        )


def compare(
    lock: Lock, report: Mapping[str, Any], *, gpu: bool = False, gpu_required: bool = True
) -> list[Check]:
    """Every check of a report against a lock, in a stable order; ``gpu_required`` is ``--gpu``."""
    return [
        *check_identity(lock, report),
        *check_packages(lock, report),
        *check_runtime(lock, report),
        *check_torch(lock, report, gpu=gpu, gpu_required=gpu_required),
        *check_cuda_libraries(lock, report, gpu=gpu, gpu_required=gpu_required),
    ]
