"""Plan: spec intent becomes requirements, constraints and index routing."""

from __future__ import annotations

from envspec.compat import Compat
from envspec.load import parse_spec
from envspec.lock.plan import IndexRef, plan_lock, spec_hash
from envspec.starters import template_text

BASE = '[env]\nname = "x"\npython = "3.11"\n'


def plan_of(text: str, compat: Compat) -> tuple[object, ...]:
    spec = parse_spec(text.encode(), "s").spec
    plan = plan_lock(spec, compat)
    return plan.requirements, plan.constraints, plan.mirrors, dict(plan.scoped)


def test_dev_template_plan(compat: Compat) -> None:
    spec = parse_spec(template_text("dev").encode(), "dev").spec
    plan = plan_lock(spec, compat)
    assert plan.requirements[:3] == ("torch==2.1.2", "torchvision==0.16.2", "torchaudio==2.1.2")
    assert "jupyter-resource-usage" in plan.requirements
    assert plan.constraints == ("numpy<2",)  # torch 2.1 breaks under NumPy 2
    assert [m.name for m in plan.mirrors] == ["tuna", "aliyun", "default"]
    assert plan.mirrors[-1].url is None
    assert plan.scoped == {}
    assert not plan.allow_builds  # --only-binary=:all:
    assert plan.torch is not None
    assert (plan.torch.variant, plan.torch.local, plan.torch.cuda) == ("cu121", None, "12.1")


def test_pytorch_index_builds_carry_their_label(compat: Compat) -> None:
    text = (
        BASE
        + '[cuda]\nversion = "11.8"\n[torch]\nversion = "2.1.2"\nwith = ["torchvision"]\nindex = "pt"\n'
        + '[[mirrors]]\nname = "default"\n[[mirrors]]\nname = "pt"\nurl = "https://download.pytorch.org/whl/cu118"\n'
    )
    requirements, _, mirrors, scoped = plan_of(text, compat)
    assert requirements == ("torch==2.1.2+cu118", "torchvision==0.16.2+cu118")
    assert mirrors == (IndexRef("default", None),)
    assert isinstance(scoped, dict)
    assert set(scoped) == {"torch", "torchvision", "torchaudio"}


def test_cpu_builds_for_macos_pin_the_plain_version(compat: Compat) -> None:
    spec = parse_spec(template_text("lab").encode(), "lab").spec
    plan = plan_lock(spec, compat)
    assert plan.requirements[0] == "torch==2.9.1"


def test_jupyter_brings_jupyterlab_and_scoped_mirrors_route(compat: Compat) -> None:
    text = (
        BASE
        + '[dev]\njupyter = 8888\n[[mirrors]]\nname = "default"\n'
        + '[[mirrors]]\nname = "private"\nurl = "https://p.example.com/simple"\npackages = ["Acme_Lib"]\n'
        + '[packages]\npython = ["acme-lib", "requests"]\n'
    )
    requirements, _, mirrors, scoped = plan_of(text, compat)
    assert requirements == ("acme-lib", "requests", "jupyterlab")
    assert mirrors == (IndexRef("default", None),)
    assert scoped == {"acme-lib": IndexRef("private", "https://p.example.com/simple")}


def test_spec_hash_ignores_formatting_but_not_content(compat: Compat) -> None:
    a = parse_spec(b'[env]\nname = "x"\npython = "3.11"\n', "a").spec
    b = parse_spec(b'# comment\n[env]\npython = "3.11"   # same\nname = "x"\n', "b").spec
    c = parse_spec(b'[env]\nname = "x"\npython = "3.11"\n[network]\nretries = 4\n', "c").spec
    hash_a = spec_hash(a, plan_lock(a, compat))
    assert hash_a == spec_hash(b, plan_lock(b, compat))
    assert hash_a != spec_hash(c, plan_lock(c, compat))
    assert hash_a.startswith("sha256:")


def test_cuda_gpus_count_in_the_hash_only_when_given(compat: Compat) -> None:
    """``[cuda] gpus`` came later: a spec without it keeps the hash it had (its locks stay fresh)."""
    base = '[env]\nname = "g"\npython = "3.11"\n[cuda]\nversion = "12.1"\n[torch]\nversion = "2.1.2"\n'
    without = parse_spec(base.encode(), "s.toml").spec
    assert "gpus" not in without.model_dump(mode="json", by_alias=True)["cuda"]
    with_gpus = base.replace('version = "12.1"\n', 'version = "12.1"\ngpus = ["8.0"]\n', 1)
    given = parse_spec(with_gpus.encode(), "s.toml").spec
    assert given.cuda is not None
    assert given.cuda.gpus == ("8.0",)
    assert spec_hash(given, plan_lock(given, compat)) != spec_hash(without, plan_lock(without, compat))
