"""The commands: typer parses the flags, each command calls its stages and prints the outcome.

Commands raise :class:`~envspec.errors.EnvspecError` subclasses or end with an
:class:`~envspec.errors.ExitCode`; :func:`envspec.cli.run`, the one error boundary, turns them into a
message and an exit code. ``lock`` on a fresh lock and ``validate`` are usually answered before this
module is imported (:mod:`envspec.fastpath`), with the same output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from envspec import __version__
from envspec.console import err_console as _err
from envspec.console import out_console as _out
from envspec.errors import ExitCode, UsageError
from envspec.fastpath import validate_specs

if TYPE_CHECKING:
    pass

app = typer.Typer(
    name="envspec",
    help="Compile a declarative environment spec into a hashed lock and reproducible environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"envspec {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """envspec: spec -> lock -> venv / conda / Docker, checked before anything is downloaded."""


@app.command()
def validate(
    specs: Annotated[
        list[Path], typer.Argument(help="Spec files to check.", show_default=False, metavar="SPEC...")
    ],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")] = False,
) -> None:
    """Check specs: errors for impossible environments, warnings for harmful or no-op settings."""
    _finish(validate_specs(specs, strict=strict, as_json=as_json))


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the spec language (for editor completion and checks)."""
    from envspec.fsio import check_writable, write_atomic
    from envspec.schema import render_schema

    if output is not None:
        check_writable(output, what="schema file")
    text = render_schema()
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text.encode("utf-8"))
        _err().print(f"wrote {escape(str(output))}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the spec.")] = Path("envspec.toml"),
    template: Annotated[str, typer.Option("--template", "-t", help="Starter to copy (see --list).")] = "dev",
    name: Annotated[str | None, typer.Option("--name", help="Set [env] name in the new spec.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    list_templates: Annotated[bool, typer.Option("--list", help="List the templates and exit.")] = False,
) -> None:
    """Write a starter spec from a template."""
    from envspec.compat import load_compat
    from envspec.fsio import check_writable, write_atomic
    from envspec.lint import LintContext
    from envspec.starters import TEMPLATES, render_template
    from envspec.validate import validate_bytes

    if list_templates:
        width = max(map(len, TEMPLATES))
        for key, summary in TEMPLATES.items():
            print(f"{key:<{width}}  {summary}")
        return
    check_writable(path, what="spec")
    if path.exists() and not force:
        raise UsageError(
            f"{path} already exists", hint="pass --force to overwrite it, or choose another path"
        )
    text = render_template(template, name)
    report = validate_bytes(text.encode("utf-8"), str(path), load_compat(), LintContext())
    if not report.ok:
        # only a bad --name can make a shipped template invalid
        messages = "; ".join(d.message for d in report.diagnostics)
        raise UsageError(f"the spec would be invalid: {messages}", hint="--name takes a lowercase identifier")
    write_atomic(path, text.encode("utf-8"))
    _err().print(f"wrote {escape(str(path))} from the {template!r} template; next: envspec validate {path}")


@app.command()
def lock(
    spec: Annotated[Path, typer.Argument(help="The spec to lock.", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Lockfile path [default: locks/pylock.<stem>.toml].")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that the lock is up to date (exit 1 if stale).")
    ] = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Re-resolve everything to the newest.")
    ] = False,
    upgrade_package: Annotated[
        list[str] | None,
        typer.Option("--upgrade-package", "-P", help="Re-resolve this package (repeatable)."),
    ] = None,
    resolver: Annotated[
        str, typer.Option("--resolver", help="auto, pip-tools or uv.", case_sensitive=False)
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    cache: Annotated[
        Path | None, typer.Option("--cache-dir", help="envspec's cache folder [default: the user's].")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Use no cache folder at all.")] = False,
) -> None:
    """Resolve a spec into a hashed, reproducible lockfile (PEP 751 pylock.toml)."""
    from envspec.lockcmd import LockRequest, run_lock

    request = LockRequest(
        spec=spec,
        output=output,
        check=check,
        upgrade=upgrade,
        upgrade_packages=tuple(upgrade_package or ()),
        resolver=resolver,
        as_json=as_json,
        cache_dir=cache,
        no_cache=no_cache,
    )
    _finish(run_lock(request))


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The older lockfile.", show_default=False)],
    new: Annotated[Path, typer.Argument(help="The newer lockfile.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")] = False,
) -> None:
    """Show what changed between two locks, the changes that matter most first (exit 1 if any)."""
    from envspec.diff import compare_locks, render_diff_json, render_diff_text
    from envspec.lock.read import read_lock

    result = compare_locks(read_lock(old)[0], read_lock(new)[0])
    if as_json:
        sys.stdout.write(render_diff_json(result))
    else:
        _out().print(render_diff_text(result, str(old), str(new)), end="")
    _finish(ExitCode.OK if result.empty else ExitCode.DIFFERS)


@app.command()
def emit(
    spec: Annotated[
        Path | None, typer.Argument(help="A spec whose lock to emit.", show_default=False)
    ] = None,
    lock_path: Annotated[Path | None, typer.Option("--lock", help="The lockfile to emit from.")] = None,
    target: Annotated[str, typer.Option("--target", "-t", help="venv, conda, docker or all.")] = "all",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for the files [default: emit/<env name>].")
    ] = None,
) -> None:
    """Write the files that build the locked environment: bootstrap.sh, environment.yml, Dockerfile."""
    from envspec.emitcmd import run_emit

    _finish(run_emit(spec, lock_path, target, output))


_LOCKS = typer.Argument(
    help="Lockfiles [default: the one lock in locks/].", show_default=False, metavar="LOCK"
)
_STORE = typer.Option("--store", help="The store folder [default: <envspec's cache>/store].")
_PLATFORMS = typer.Option("--platform", help="Only the files this locked platform installs (repeatable).")
_JOBS = typer.Option("--jobs", min=1, max=64, help="Files fetched at a time.")
_OUTPUT_MIRROR = typer.Option("--output", "-o", help="The folder the index goes into.")
_BUILDS = typer.Option(
    "--variant", metavar="NAME", help="A lock of several torch builds: only this build (repeatable)."
)


@app.command()
def fetch(
    locks: Annotated[list[Path] | None, _LOCKS] = None,
    store: Annotated[Path | None, _STORE] = None,
    platform: Annotated[list[str] | None, _PLATFORMS] = None,
    jobs: Annotated[int, _JOBS] = 4,
    variant: Annotated[list[str] | None, _BUILDS] = None,
) -> None:
    """Download every file the locks need into a content-addressed store, each checked by sha256."""
    from envspec.store import fill_store

    folder, summary, _ = fill_store(locks or [], store, platform or [], jobs=jobs, variants=variant or [])
    _err().print(
        f"store {escape(str(folder))}: {summary.files} files, {summary.present} already there,"
        f" {summary.fetched} fetched ({summary.bytes_fetched / 1e6:.1f} MB) in {summary.seconds:.1f} s"
    )


@app.command("export-mirror")
def export_mirror(
    locks: Annotated[list[Path] | None, _LOCKS] = None,
    output: Annotated[Path, _OUTPUT_MIRROR] = Path("mirror"),
    store: Annotated[Path | None, _STORE] = None,
    platform: Annotated[list[str] | None, _PLATFORMS] = None,
    jobs: Annotated[int, _JOBS] = 4,
    variant: Annotated[list[str] | None, _BUILDS] = None,
) -> None:
    """Write a static simple index (PEP 503 and 691) of exactly the locked files, for any web server."""
    from envspec.export import export_mirror as export
    from envspec.fsio import check_writable
    from envspec.store import fill_store

    check_writable(output / "simple" / "index.html", what="mirror index")
    folder, summary, entries = fill_store(
        locks or [], store, platform or [], jobs=jobs, variants=variant or []
    )
    counts = export(entries, folder, output)
    _err().print(
        f"wrote {escape(str(output))}: {counts['projects']} projects, {counts['files']} files,"
        f" {counts['new']} of them new ({summary.fetched} fetched into {escape(str(folder))});"
        f" serve {escape(str(output))}/ and"
        " point installers at its simple/ folder"
    )


@app.command()
def gc(
    store: Annotated[Path | None, _STORE] = None,
    keep: Annotated[
        list[Path] | None,
        typer.Option("--keep", metavar="LOCK", help="A lock whose files stay (repeatable)."),
    ] = None,
    keep_dir: Annotated[
        list[Path] | None,
        typer.Option("--keep-dir", metavar="DIR", help="Keep every pylock*.toml under it (repeatable)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be removed.")] = False,
) -> None:
    """Remove the store's files that no kept lock needs [default: keep the locks in locks/]."""
    from envspec.gc import run_gc

    run_gc(store, keep or [], keep_dir or [], dry_run=dry_run)


_VARIANT = typer.Option(
    "--variant", metavar="NAME", help="A lock of several torch builds: judge this build, not this machine's."
)


@app.command()
def host(
    spec: Annotated[
        Path | None,
        typer.Argument(
            help="Plan the build from this spec (nothing is locked); a pylock*.toml is read as --lock.",
            show_default=False,
            metavar="SPEC",
        ),
    ] = None,
    lock_path: Annotated[
        Path | None, typer.Option("--lock", help="The lock to check [default: the one lock in locks/].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")] = False,
    variant: Annotated[str | None, _VARIANT] = None,
) -> None:
    """Say which torch build a lock installs and whether it would run on this machine's driver and GPUs."""
    from envspec.hostcmd import run_host

    _finish(run_host(spec, lock_path, as_json=as_json, variant=variant))


@app.command()
def verify(
    lock_path: Annotated[Path | None, typer.Option("--lock", help="The lock to compare with.")] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="The environment's interpreter [default: this one].")
    ] = None,
    deep: Annotated[
        bool, typer.Option("--deep", help="Hash every installed file, not only modules.")
    ] = False,
    gpu: Annotated[
        bool, typer.Option("--gpu", help="Check CUDA, the driver and a torch.compile run.")
    ] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Do not import torch.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")] = False,
    variant: Annotated[
        str | None,
        typer.Option("--variant", metavar="NAME", help="A lock of several torch builds: verify this build."),
    ] = None,
) -> None:
    """Prove that an environment is the locked one and that its GPU stack and flags are in effect."""
    from envspec.verifycmd import run_verify

    code = run_verify(lock_path, python, deep=deep, gpu=gpu, quick=quick, as_json=as_json, variant=variant)
    _finish(code)


@app.command()
def pack(
    lock_path: Annotated[
        Path | None, typer.Argument(metavar="LOCK", help="The lockfile [default: the one in ./locks].")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The file to write [default: <env name>.pack.sh].")
    ] = None,
    store: Annotated[Path | None, _STORE] = None,
    platform: Annotated[list[str] | None, _PLATFORMS] = None,
    jobs: Annotated[int, _JOBS] = 4,
    variant: Annotated[list[str] | None, _BUILDS] = None,
) -> None:
    """Write one self-checking file that builds the lock's environment with no network and no envspec."""
    from envspec.pack import pack_lock

    target, packed, folder, fetched = pack_lock(
        lock_path, output, store, platform or [], jobs=jobs, variants=variant or []
    )
    _err().print(
        f"wrote {escape(str(target))}: {packed.files} files, {packed.payload_bytes / 1e6:.1f} MB"
        f" ({fetched} fetched into {escape(str(folder))}); archive sha256 {packed.payload_sha256}\n"
        f"on a machine with no network: bash {escape(target.name)} [--prefix DIR]"
    )


@app.command()
def bench(
    spec: Annotated[
        Path | None, typer.Argument(help="The spec whose runtime profile to measure [default: see --lock].")
    ] = None,
    lock_path: Annotated[
        Path | None,
        typer.Option("--lock", help="Take the profile from this lock [default: the environment's own lock]."),
    ] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="The environment's interpreter [default: this one].")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="resnet50, vit_b_16, mlp or convnet (repeatable) [default: resnet50]."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, max=4096, help="Batch size.")] = 1,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32, fp16 or bf16.")] = "fp32",
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    runs: Annotated[int, typer.Option("--runs", min=3, max=100000, help="Timed calls per side.")] = 20,
    warmup: Annotated[int, typer.Option("--warmup", min=0, max=100000, help="Untimed calls first.")] = 5,
    tiny: Annotated[
        bool, typer.Option("--tiny", help="Small versions of the models (a quick check).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG chart here (needs matplotlib).")
    ] = None,
) -> None:
    """Measure the spec's runtime profile against eager PyTorch on this machine, each in a fresh process."""
    from envspec.bench.cli import run_bench

    run_bench(
        spec, lock_path, python, model or ["resnet50"], batch=batch, dtype=dtype, device=device, runs=runs,
        warmup=warmup, tiny=tiny, as_json=as_json, plot=plot,
    )  # fmt: skip


def _finish(code: ExitCode) -> None:
    """End a command with ``code`` (click ignores return values)."""
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))
