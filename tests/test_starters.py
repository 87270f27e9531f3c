"""Templates ship valid; specs/ and examples/ are exactly the templates; init writes them safely."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envspec.compat import Compat
from envspec.lint import LintContext
from envspec.starters import TEMPLATES, render_template, template_text
from envspec.validate import validate_bytes

from .conftest import REPO, SHIPPED_SPECS

COPIES = {"dev": REPO / "specs" / "dev.toml"} | {
    name: REPO / "examples" / f"{name}.toml" for name in TEMPLATES if name != "dev"
}


def envspec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envspec", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_is_valid_and_warning_free(name: str, compat: Compat) -> None:
    report = validate_bytes(template_text(name).encode(), name, compat, LintContext(cores=2))
    assert report.ok, [str(d) for d in report.diagnostics]
    assert report.warnings == 0, [str(d) for d in report.diagnostics]


@pytest.mark.parametrize("name", TEMPLATES)
def test_repository_copies_equal_the_shipped_templates(name: str) -> None:
    assert COPIES[name].read_text() == template_text(name), f"{COPIES[name]} drifted from its template"


def test_every_example_is_a_template() -> None:
    assert sorted(SHIPPED_SPECS) == sorted(COPIES.values())


def test_examples_cover_the_required_profiles() -> None:
    from envspec.load import parse_spec

    specs = {name: parse_spec(template_text(name).encode(), name).spec for name in TEMPLATES}
    assert specs["cpu"].cuda is None
    assert specs["cpu"].torch is not None
    assert specs["cpu"].torch.variant == "cpu"
    assert specs["cuda13"].cuda is not None
    assert specs["cuda13"].cuda.version.startswith("13.")
    assert specs["research"].runtime.torch.deterministic is True
    assert len(specs["lab"].env.platforms) >= 3
    dev = specs["dev"]
    assert dev.env.python == "3.11"
    assert dev.cuda is not None
    assert dev.cuda.version == "12.1"
    assert dev.torch is not None
    assert dev.torch.version == "2.1.2"
    assert dev.torch.with_ == ("torchvision", "torchaudio")
    assert [m.name for m in dev.mirrors] == ["tuna", "aliyun", "default"]
    assert dev.mirrors[-1].url is None
    assert (dev.network.timeout, dev.network.retries) == (15, 3)
    assert dev.dev.shell == "zsh"
    assert "--no-binary=:all:" not in dev.packages.pip_options
    assert "CUDA_LAUNCH_BLOCKING" not in dev.runtime.env


def test_dev_spec_comments_each_correction() -> None:
    text = template_text("dev")
    for mistake in (
        "--no-binary",
        "CUDA_LAUNCH_BLOCKING",
        "CUBLAS_WORKSPACE_CONFIG",
        "exa",
        "jupyterlab-system-monitor",
        "TORCHINDUCTOR_COMPILE_THREADS",
    ):
        assert any(mistake in line and line.lstrip().startswith("#") for line in text.splitlines()), mistake
    assert text.count("CORRECTION") >= 6


def test_render_template_sets_the_name_and_keeps_comments() -> None:
    text = render_template("cpu", "my-env")
    assert 'name = "my-env"' in text
    assert text.startswith("# CPU-only PyTorch")


def test_init_writes_a_valid_spec_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = envspec("init", "--template", "research", "--name", "exp-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "envspec.toml"
    assert 'name = "exp-1"' in written.read_text()
    assert envspec("validate", str(written)).returncode == 0

    written.write_text("# mine\n")
    again = envspec("init", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert written.read_text() == "# mine\n"  # nothing the user had is lost

    forced = envspec("init", "--force", "-t", "plain", cwd=tmp_path)
    assert forced.returncode == 0
    assert written.read_text() == template_text("plain")
    assert [p.name for p in tmp_path.iterdir()] == ["envspec.toml"]  # no temporary files left


def test_init_rejects_unknown_template_and_bad_name(tmp_path: Path) -> None:
    unknown = envspec("init", "x.toml", "--template", "gpu", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown template" in unknown.stderr
    assert "dev, cpu" in unknown.stderr
    bad = envspec("init", "y.toml", "--name", "Not Valid", cwd=tmp_path)
    assert bad.returncode == 2
    assert not (tmp_path / "y.toml").exists()


def test_init_list_names_every_template() -> None:
    result = envspec("init", "--list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(TEMPLATES)
