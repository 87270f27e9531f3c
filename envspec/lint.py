"""Lint: legal settings that are harmful or do nothing, each with the reason and the fix (warnings).

Rules are small pure functions like those of :mod:`envspec.checks`; they run only on specs without
errors, so they may assume the compatibility data knows the spec's versions. ``envspec validate
--strict`` turns every warning into an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from envspec.compat import Compat, cuda_of_variant, driver_tuple
from envspec.errors import Diagnostic, KeyPath, Severity
from envspec.resolve_torch import effective_variant
from envspec.spec import Spec, show

DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")


@dataclasses.dataclass(frozen=True, slots=True)
class LintContext:
    """Facts about where the spec is checked that some rules need (kept out of the spec itself)."""

    cores: int | None = None


Rule = Callable[[Spec, Compat, LintContext], Iterable[Diagnostic]]


def _warn(code: str, message: str, path: KeyPath, *, why: str, fix: str) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, path=path, reason=why, hint=fix)


def _env_path(name: str) -> KeyPath:
    return ("runtime", "env", name)


def _is_cuda_build(spec: Spec) -> bool:
    variant = effective_variant(spec)
    return variant is not None and variant.startswith("cu")


def lint_launch_blocking(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    del compat, ctx
    value = spec.runtime.env.get("CUDA_LAUNCH_BLOCKING")
    if value == "0":
        yield _warn(
            "launch-blocking-noop",
            "CUDA_LAUNCH_BLOCKING=0 is the default, so this setting does nothing",
            _env_path("CUDA_LAUNCH_BLOCKING"),
            why="kernel launches are asynchronous unless the variable is 1",
            fix="remove it",
        )
    elif value == "1" and spec.env.profile != "debug":
        yield _warn(
            "launch-blocking-slow",
            "CUDA_LAUNCH_BLOCKING=1 serialises every kernel launch",
            _env_path("CUDA_LAUNCH_BLOCKING"),
            why="it makes GPU errors point at the right line, at a large cost in speed: a debugging aid",
            fix='remove it, or set [env] profile = "debug" for a debugging environment',
        )


def lint_determinism(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    del compat, ctx
    flags = spec.runtime.torch
    if not flags.deterministic:
        cublas = spec.runtime.env.get("CUBLAS_WORKSPACE_CONFIG")
        if cublas is not None:
            yield _warn(
                "cublas-workspace-unused",
                "CUBLAS_WORKSPACE_CONFIG only matters with deterministic algorithms, which are off",
                _env_path("CUBLAS_WORKSPACE_CONFIG"),
                why="it sizes cuBLAS workspaces so that deterministic mode can be reproducible",
                fix="remove it, or set [runtime.torch] deterministic = true",
            )
        return
    if flags.cudnn_benchmark:
        yield _warn(
            "deterministic-with-benchmark",
            "deterministic = true with cudnn_benchmark = true is not reproducible",
            ("runtime", "torch", "cudnn_benchmark"),
            why="benchmark mode may pick different cuDNN algorithms on each run",
            fix="set cudnn_benchmark = false in a deterministic profile (use a separate spec for speed)",
        )
    torch = spec.torch
    if torch is not None and _is_cuda_build(spec) and Version(torch.version) < Version("2.10"):
        cublas = spec.runtime.env.get("CUBLAS_WORKSPACE_CONFIG")
        if cublas not in DETERMINISTIC_CUBLAS:
            yield _warn(
                "cublas-workspace-missing",
                f"deterministic mode on CUDA with torch {torch.version} needs CUBLAS_WORKSPACE_CONFIG"
                + (f" = {' or '.join(DETERMINISTIC_CUBLAS)}, not {show(cublas)}" if cublas else ""),
                _env_path("CUBLAS_WORKSPACE_CONFIG") if cublas else ("runtime", "torch", "deterministic"),
                why="torch <= 2.9 raises an error at the first cuBLAS call without it (2.10 lifted this)",
                fix='add CUBLAS_WORKSPACE_CONFIG = ":4096:8" to [runtime.env]',
            )
    if (
        torch is not None
        and flags.compile_mode in ("max-autotune", "max-autotune-no-cudagraphs")
        and Version(torch.version) >= Version("2.10")
    ):
        yield _warn(
            "autotune-with-deterministic",
            f"compile_mode = {show(flags.compile_mode)} does no autotuning in deterministic mode",
            ("runtime", "torch", "compile_mode"),
            why="from torch 2.10, deterministic algorithms also make Inductor skip autotuning",
            fix='use compile_mode = "default" here, or turn determinism off in a speed profile',
        )


def _python_names(spec: Spec) -> Iterator[tuple[str, KeyPath]]:
    for index, text in enumerate(spec.packages.python):
        yield canonicalize_name(Requirement(text).name), ("packages", "python", index)
    for index, text in enumerate(spec.dev.jupyter_extensions):
        yield canonicalize_name(Requirement(text).name), ("dev", "jupyter_extensions", index)


def _system_names(spec: Spec) -> Iterator[tuple[str, KeyPath]]:
    for index, text in enumerate(spec.packages.system):
        yield text.split("=", 1)[0], ("packages", "system", index)
    for index, text in enumerate(spec.dev.tools):
        yield text.split("=", 1)[0], ("dev", "tools", index)


def lint_packages(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    del compat, ctx
    for name, path in _python_names(spec):
        if name == "jupyterlab-system-monitor":
            yield _warn(
                "jupyterlab-system-monitor",
                "jupyterlab-system-monitor does not work with JupyterLab 4",
                path,
                why="its last release (2021) requires jupyterlab~=3.0 and would hold JupyterLab back",
                fix='use "jupyter-resource-usage" (CPU and memory in the status bar)',
            )
        if name == "torch" and spec.torch is None:
            yield _warn(
                "torch-without-table",
                "torch is listed as a plain package, so its build and CUDA are not checked",
                path,
                why="only a [torch] table gets the variant, driver and companion checks",
                fix='declare [torch] version = "..." (and [cuda]) instead',
            )
    for name, path in _system_names(spec):
        if name == "exa":
            yield _warn(
                "exa-unmaintained",
                "exa is unmaintained",
                path,
                why="its development stopped; eza is the maintained fork",
                fix='use "eza" (on Debian 12, which has no eza package, install it from its releases or'
                " cargo, or keep ls)",
            )
    for index, option in enumerate(spec.packages.pip_options):
        if option.startswith("--no-binary"):
            yield _warn(
                "no-binary",
                f"{show(option)} forbids wheels and builds from source",
                ("packages", "pip_options", index),
                why="torch and most GPU packages publish no sdist: the install fails or compiles for hours",
                fix='use "--only-binary=:all:" to insist on prebuilt wheels',
            )
    if spec.dev.shell_plugins and spec.dev.shell is None:
        yield _warn(
            "plugins-without-shell",
            "shell plugins are listed but no [dev] shell is set",
            ("dev", "shell_plugins"),
            why="the plugins are only loaded by the shell they belong to",
            fix='set [dev] shell = "zsh" (or remove the plugins)',
        )


def lint_compile_threads(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    del compat
    value = spec.runtime.env.get("TORCHINDUCTOR_COMPILE_THREADS")
    if value is None or not value.isdigit() or ctx.cores is None:
        return
    if int(value) > ctx.cores:
        yield _warn(
            "compile-threads-above-cores",
            f"TORCHINDUCTOR_COMPILE_THREADS={value} is more than the {ctx.cores} cores of this machine",
            _env_path("TORCHINDUCTOR_COMPILE_THREADS"),
            why="extra compile workers only compete for the same cores (it never changes run speed)",
            fix="leave it unset (torch uses min(32, cores)) or set it to the cores of the target machines",
        )


def lint_driver(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    del ctx
    torch, cuda = spec.torch, spec.cuda
    if torch is None or cuda is None or cuda.driver is None:
        return
    if Version(torch.version) < Version("2.11") or driver_tuple(cuda.driver) >= (580,):
        return
    series = compat.torch_series(torch.version)
    variant = effective_variant(spec)
    variant_cuda = cuda_of_variant(variant) if variant else None
    if variant_cuda and variant_cuda.startswith("13."):
        return  # already an error: driver-too-old
    default = series.pypi_default if series else "cu130"
    yield _warn(
        "driver-below-580",
        f"torch {torch.version} is built for CUDA 13 by default, which driver {cuda.driver} cannot run",
        ("cuda", "driver"),
        why=f"the plain wheel on the default index is the {default} build (needs R580+); only the"
        f" {variant} build from the PyTorch index runs on this driver",
        fix="keep [torch] variant on a CUDA 12 build from the PyTorch index, or upgrade drivers to 580+",
    )


def lint_platforms(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    del ctx
    torch = spec.torch
    if torch is None or not _is_cuda_build(spec):
        return
    series = compat.torch_series(torch.version)
    if series is None:
        return
    for index, platform in enumerate(spec.env.platforms):
        if platform.startswith("linux") and platform not in series.cuda_platforms:
            yield _warn(
                "cpu-only-platform",
                f"torch {torch.version} wheels for {platform} on the default index are CPU-only",
                ("env", "platforms", index),
                why="CUDA builds for this platform exist only on some PyTorch indexes, if at all",
                fix="serve torch from a PyTorch index with [torch] index, or expect CPU torch there",
            )


def lint_gpus(spec: Spec, compat: Compat, ctx: LintContext) -> Iterator[Diagnostic]:
    """``[cuda] gpus`` the build may not serve well: a newer minor of its newest major, or a build
    whose kernel range the data does not know (no kernels at all is an error, in checks)."""
    del ctx
    variant = effective_variant(spec)
    if (
        spec.cuda is None
        or not spec.cuda.gpus
        or spec.torch is None
        or variant is None
        or not variant.startswith("cu")
    ):
        return
    from envspec.host import sm
    from envspec.hostjudge import fleet_coverage

    needs, found = fleet_coverage(compat, spec.torch.version, variant, spec.cuda.gpus)
    for index, cap, covered in found:
        if covered == "newer" and needs.arch_max is not None:
            yield _warn(
                "gpu-newer-than-kernels",
                f"{sm(cap)} is newer than the newest kernels of {needs.label} ({sm(needs.arch_max)})",
                ("cuda", "gpus", index),
                why="the kernels of the same major run on it, and torch warns that the GPU is unsupported",
                fix="a newer torch release may carry kernels for it",
            )
        elif covered == "unknown":
            yield _warn(
                "gpu-coverage-unknown",
                f"the compatibility data does not know which GPUs {needs.label} has kernels for",
                ("cuda", "gpus", index),
                why=f"{sm(cap)} cannot be checked before installing",
                fix="check torch.cuda.get_arch_list() after installing (envspec verify --gpu)",
            )


RULES: tuple[Rule, ...] = (
    lint_launch_blocking,
    lint_determinism,
    lint_packages,
    lint_compile_threads,
    lint_driver,
    lint_platforms,
    lint_gpus,
)


def lint(spec: Spec, compat: Compat, ctx: LintContext) -> tuple[Diagnostic, ...]:
    """Every warning for a spec that passed :func:`envspec.checks.check`."""
    rules = RULES
    if spec.torch is not None and spec.torch.variants:
        # the fleet's driver and GPUs against several builds: checked across them (checkvariants)
        rules = tuple(r for r in RULES if r not in (lint_driver, lint_gpus))
    return tuple(d for rule in rules for d in rule(spec, compat, ctx))
