"""envspec's bench child: run by ``envspec bench`` inside the interpreter of the measured environment.

Fed on stdin (``PYTHON -I - OPTIONS_JSON``), it must work on every Python envspec locks for (3.8 and
newer) and import only the standard library, torch and (when it imports) torchvision. It builds one
model with random, seeded weights (never a download), times its forward calls eagerly or under the
given runtime settings, and prints one JSON report on the last line of stdout. Something that keeps
the benchmark from running here (no torch, no GPU, a dtype or a compiler the machine lacks) is a report
with ``"ok": false``; only bad options or a bug in this program exit non-zero.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

MODELS = ("mlp", "convnet", "resnet50", "vit_b_16")
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
PRECISIONS = ("highest", "high", "medium")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# variables read at start-up that change what is measured: reported when set
REPORTED_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_LAUNCH_BLOCKING",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCHINDUCTOR_CACHE_DIR",
    "CUBLAS_WORKSPACE_CONFIG",
    "NCCL_P2P_DISABLE",
)
NOT_ON_CPU = "not applicable on cpu"


def _int(minimum: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _one_of(choices: Any) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in choices


_BOOL: tuple[Callable[[Any], bool], str] = (lambda v: isinstance(v, bool), "true or false")


_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": (_one_of(MODELS), "one of " + ", ".join(MODELS)),
    "batch": (_int(1), "an integer >= 1"),
    "dtype": (_one_of(DTYPES), "one of " + ", ".join(DTYPES)),
    "device": (_one_of(("cpu", "cuda")), "cpu or cuda"),
    "runs": (_int(1), "an integer >= 1"),
    "warmup": (_int(0), "an integer >= 0"),
    "seed": (_int(-(2**63)), "an integer"),
    "eager": _BOOL,
    "size": (_one_of(("full", "tiny")), "full or tiny"),
    "settings": (lambda v: isinstance(v, dict), "an object"),
    "unset": (lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v), "a list of names"),
}
_DEFAULTS: dict[str, Any] = {"seed": 0, "size": "full", "settings": {}, "unset": []}
_SETTINGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "cudnn_benchmark": _BOOL,
    "deterministic": _BOOL,
    "float32_matmul_precision": (_one_of(PRECISIONS), "one of " + ", ".join(PRECISIONS)),
    "num_threads": (_int(1), "an integer >= 1"),
    "compile_mode": (_one_of(COMPILE_MODES), "one of " + ", ".join(COMPILE_MODES)),
}


class ReportedError(Exception):
    """Why the benchmark cannot run here: reported as ``{"ok": false, "kind": ..., "error": ...}``."""

    def __init__(self, kind: str, error: str) -> None:
        super().__init__(error)
        self.kind = kind
        self.error = error


def read_options(text: str) -> dict[str, Any]:
    """The options, checked; a ValueError names the first bad one."""
    given = json.loads(text)
    if not isinstance(given, dict):
        raise ValueError("the options are not a JSON object")
    unknown = sorted(set(given) - set(_OPTIONS))
    if unknown:
        raise ValueError("unknown options: " + ", ".join(unknown))
    options = dict(_DEFAULTS, **given)
    for name, (check, what) in _OPTIONS.items():
        if name not in options:
            raise ValueError("missing option: " + name)
        if not check(options[name]):
            raise ValueError(f"option {name} must be {what}, not {options[name]!r}")
    for name, value in options["settings"].items():
        if name not in _SETTINGS:
            raise ValueError("unknown setting: " + name)
        check, what = _SETTINGS[name]
        if not check(value):
            raise ValueError(f"setting {name} must be {what}, not {value!r}")
    return options


def describe(exc: BaseException) -> str:
    """One line on the real cause: ``Type: first line`` of the first exception along ``exc``'s chain of
    causes whose first line says something (not a lead-in such as "backend='inductor' raised:")."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    for item in chain:
        lines = [line.strip() for line in str(item).splitlines() if line.strip()]
        if lines and not lines[0].endswith(":"):
            return f"{type(item).__name__}: {lines[0]}"
    return type(chain[-1]).__name__


def remove_hook() -> bool:
    """Take envspec's start-up hook (the finder that applies settings when torch loads) off sys.meta_path."""
    found = [
        finder
        for finder in sys.meta_path
        if type(finder).__name__ == "_AfterTorchImport" and type(finder).__module__ == "envspec_startup"
    ]
    for finder in found:
        sys.meta_path.remove(finder)
    return bool(found)


def builtin_model(torch: Any, name: str, tiny: bool) -> tuple[Any, tuple[int, ...]]:
    """One of the built-in definitions and the shape of its input (without the batch)."""
    nn = torch.nn
    module: Any = nn.Module  # a base class mypy cannot see: torch is not installed where it runs

    def conv_bn(inputs: int, out: int, size: int, stride: int = 1) -> list[Any]:
        conv = nn.Conv2d(inputs, out, size, stride=stride, padding=size // 2, bias=False)
        return [conv, nn.BatchNorm2d(out)]

    class Bottleneck(module):  # type: ignore[misc]
        """ResNet v1.5's bottleneck block: 1x1, 3x3 (with the stride), 1x1 x4, and the shortcut."""

        def __init__(self, inplanes: int, planes: int, stride: int) -> None:
            super().__init__()
            out = planes * 4
            layers = [*conv_bn(inplanes, planes, 1), nn.ReLU(inplace=True)]
            layers += [*conv_bn(planes, planes, 3, stride), nn.ReLU(inplace=True), *conv_bn(planes, out, 1)]
            self.body = nn.Sequential(*layers)
            self.shortcut = None
            if stride != 1 or inplanes != out:
                self.shortcut = nn.Sequential(*conv_bn(inplanes, out, 1, stride))
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x: Any) -> Any:
            identity = x if self.shortcut is None else self.shortcut(x)
            return self.relu(self.body(x) + identity)

    class VisionTransformer(module):  # type: ignore[misc]
        """ViT: patch embedding, class token, position embedding, pre-norm encoder layers, head."""

        def __init__(self, image: int, patch: int, width: int, layers: int, heads: int, hidden: int) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, width, patch, stride=patch)
            self.token = nn.Parameter(torch.zeros(1, 1, width))
            self.position = nn.Parameter(torch.empty(1, (image // patch) ** 2 + 1, width).normal_(std=0.02))
            given: dict[str, Any] = {"dropout": 0.0, "activation": "gelu", "layer_norm_eps": 1e-6}
            given.update(batch_first=True, norm_first=True)
            layer = nn.TransformerEncoderLayer
            self.encoder = nn.Sequential(*[layer(width, heads, hidden, **given) for _ in range(layers)])
            self.norm = nn.LayerNorm(width, eps=1e-6)
            self.head = nn.Linear(width, 10 if tiny else 1000)

        def forward(self, x: Any) -> Any:
            x = self.embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1) + self.position
            return self.head(self.norm(self.encoder(x))[:, 0])

    if name == "mlp":
        width = 64 if tiny else 1024
        layers: list[Any] = []
        for index in range(4):
            layers += [nn.Linear(width, width)] + ([nn.GELU()] if index < 3 else [])
        return nn.Sequential(*layers), (width,)
    if name == "convnet":
        base, channels, side = (8, 3, 16) if tiny else (32, 3, 64)
        layers = []
        for index, out in enumerate((base, base * 2, base * 4, base * 8)):
            layers += [*conv_bn(channels, out, 3, 1 if index == 0 else 2), nn.ReLU(inplace=True)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10)]
        return nn.Sequential(*layers), (3, side, side)
    if name == "resnet50":
        width, blocks = (8, (1, 1, 1, 1)) if tiny else (64, (3, 4, 6, 3))
        layers = [*conv_bn(3, width, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)]
        inplanes = width
        for stage, count in enumerate(blocks):
            for index in range(count):
                layers.append(Bottleneck(inplanes, width * 2**stage, 2 if stage and not index else 1))
                inplanes = width * 2**stage * 4
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, 10 if tiny else 1000)]
        return nn.Sequential(*layers), (3, 32 if tiny else 224, 32 if tiny else 224)
    if tiny:
        return VisionTransformer(32, 8, 64, 2, 4, 128), (3, 32, 32)
    return VisionTransformer(224, 16, 768, 12, 12, 3072), (3, 224, 224)


def make_model(torch: Any, name: str, tiny: bool, notes: list[str]) -> tuple[Any, str, tuple[int, ...]]:
    """The model (random weights), where its definition comes from, and its input shape (no batch)."""
    if name in ("resnet50", "vit_b_16") and not tiny:
        try:
            models = importlib.import_module("torchvision.models")
        except Exception as exc:  # absent, or built for another torch: the built-in definition will do
            notes.append(f"torchvision does not import ({describe(exc)}): built-in {name} used")
        else:
            build = getattr(models, name)
            try:
                model = build(weights=None)
            except TypeError:  # torchvision before 0.13 knows only ``pretrained``
                model = build(pretrained=False)
            return model, "torchvision", (3, 224, 224)
    model, shape = builtin_model(torch, name, tiny)
    return model, "builtin", shape


def apply_settings(
    torch: Any, settings: dict[str, Any], device: str, dtype: str, notes: list[str]
) -> dict[str, str]:
    """Apply the runtime settings as envspec's start-up hook does; say for each whether it counts here."""
    applied: dict[str, str] = {}
    cpu = device == "cpu"
    if "cudnn_benchmark" in settings:
        torch.backends.cudnn.benchmark = settings["cudnn_benchmark"]
        applied["cudnn_benchmark"] = NOT_ON_CPU if cpu else "applied"
    if "deterministic" in settings:
        torch.use_deterministic_algorithms(settings["deterministic"])
        torch.backends.cudnn.deterministic = settings["deterministic"]
        applied["deterministic"] = "applied"
    if "float32_matmul_precision" in settings:
        torch.set_float32_matmul_precision(settings["float32_matmul_precision"])
        applied["float32_matmul_precision"] = "applied"
        if dtype != "fp32":
            notes.append("float32_matmul_precision only changes float32 matmuls; this run uses " + dtype)
        elif not cpu and tuple(torch.cuda.get_device_capability()) < (8, 0):
            notes.append("float32_matmul_precision: this GPU has no TF32 (capability below 8.0)")
    if "num_threads" in settings:
        torch.set_num_threads(settings["num_threads"])
        applied["num_threads"] = "applied"
        if not cpu:
            notes.append("num_threads sets CPU threads; the model runs on cuda")
    if "compile_mode" in settings:
        applied["compile_mode"] = "applied"
        if cpu and settings["compile_mode"] == "reduce-overhead":
            notes.append("compile_mode reduce-overhead: its CUDA graphs do not apply on cpu")
    return applied


def classify(exc: BaseException, dtype: str, compiled: bool) -> ReportedError:
    """A failure of building or calling the model, by kind."""
    error = describe(exc)
    names = {"fp16": "'Half'", "bf16": "'BFloat16'"}
    if dtype in names and "not implemented for " + names[dtype] in str(exc):
        return ReportedError("unsupported-dtype", error)
    return ReportedError("compile-failed" if compiled else "model-failed", error)


def measure(torch: Any, call: Callable[[], Any], options: dict[str, Any]) -> tuple[float, list[float]]:
    """The first call's time, then ``warmup`` untimed calls, then ``runs`` timed ones (each synchronised)."""
    cuda = options["device"] == "cuda"

    def timed() -> float:
        started = time.perf_counter()
        call()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    if cuda:
        torch.cuda.synchronize()
    first = timed()
    for _ in range(options["warmup"]):
        timed()
    return first, [timed() for _ in range(options["runs"])]


def device_name(torch: Any, device: str) -> str | None:
    if device == "cuda":
        return str(torch.cuda.get_device_name(0))
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def versions(torch: Any, device: str) -> dict[str, Any]:
    try:
        vision: str | None = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        vision = None
    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:  # a torch without cuDNN support
        cudnn = None
    return {
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "torch": str(torch.__version__),
        "torchvision": vision,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "device_name": device_name(torch, device),
    }


def peak_memory(torch: Any, device: str) -> tuple[int, str]:
    if device == "cuda":
        return int(torch.cuda.max_memory_allocated()), "cuda_max_allocated"
    try:
        import resource
    except ImportError:  # not a POSIX system
        return 0, "unknown"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "max_rss"  # macOS counts bytes


def bench(options: dict[str, Any]) -> dict[str, Any]:
    """Run the benchmark; a ReportedError says why it cannot run here."""
    eager, device, dtype = options["eager"], options["device"], options["dtype"]
    hook_removed = remove_hook() if eager else False
    for name in options["unset"]:
        os.environ.pop(name, None)
    try:
        torch: Any = importlib.import_module("torch")
    except Exception as exc:  # absent, or a broken install: either way nothing to measure
        raise ReportedError("no-torch", describe(exc)) from None
    if device == "cuda":
        if not torch.cuda.is_available():
            build = torch.version.cuda or "none: a CPU-only build"
            raise ReportedError("no-cuda", f"torch {torch.__version__} (CUDA {build}) sees no usable GPU")
        torch.cuda.reset_peak_memory_stats()
    notes: list[str] = []
    settings: dict[str, Any] = {} if eager else options["settings"]
    applied = apply_settings(torch, settings, device, dtype, notes)
    mode = settings.get("compile_mode")
    try:
        torch.manual_seed(options["seed"])
        model, source, shape = make_model(torch, options["model"], options["size"] == "tiny", notes)
        parameters = sum(int(p.numel()) for p in model.parameters())
        kind = getattr(torch, DTYPES[dtype])
        model = model.to(device=device, dtype=kind).eval()
        inputs = torch.randn((options["batch"], *shape)).to(device=device, dtype=kind)
    except Exception as exc:
        raise classify(exc, dtype, False) from None
    grad_mode = "inference_mode"
    try:
        run = torch.compile(model, mode=mode) if mode else model
    except Exception as exc:  # e.g. a Python that this torch's Dynamo does not support
        raise ReportedError("compile-failed", describe(exc)) from None
    try:
        with torch.inference_mode():
            first, times = measure(torch, lambda: run(inputs), options)
    except Exception as exc:
        if not (mode and "nference tensor" in str(exc)):
            raise classify(exc, dtype, bool(mode)) from None
        # some torch versions cannot compile under inference_mode: compile afresh under no_grad
        notes.append(f"torch.compile failed under inference_mode ({describe(exc)}): no_grad used")
        torch._dynamo.reset()
        grad_mode, run = "no_grad", torch.compile(model, mode=mode)
        try:
            with torch.no_grad():
                first, times = measure(torch, lambda: run(inputs), options)
        except Exception as again:
            raise classify(again, dtype, True) from None
    memory, memory_kind = peak_memory(torch, device)
    return {
        "ok": True,
        "model": {"name": options["model"], "source": source, "parameters": parameters},
        "first_call_s": first,
        "times_s": times,
        "peak_memory_bytes": memory,
        "peak_memory_kind": memory_kind,
        "applied": applied,
        "notes": notes,
        "hook_removed": hook_removed,
        "hook_settings": getattr(torch, "envspec_settings", None),
        "grad_mode": grad_mode,
        "threads": int(torch.get_num_threads()),
        "versions": versions(torch, device),
        "env": {name: os.environ[name] for name in REPORTED_ENV if name in os.environ},
    }


def main() -> int:
    try:
        options = read_options(sys.argv[1] if len(sys.argv) > 1 else "")
    except ValueError as exc:
        sys.stderr.write(f"envspec bench child: bad options: {exc}\n")
        return 2
    try:
        report = bench(options)
    except ReportedError as failure:
        report = {"ok": False, "kind": failure.kind, "error": failure.error}
    sys.stderr.flush()
    sys.stdout.flush()
    sys.stdout.write("\n" + json.dumps(report, sort_keys=True) + "\n")  # its own line, whatever came before
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
