"""Load: every input, however broken, ends in a valid Spec or a SpecError with located diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envspec.compat import Compat
from envspec.errors import Diagnostic, SpecError, UsageError
from envspec.lint import LintContext
from envspec.load import MAX_SPEC_BYTES, load_spec, parse_spec, read_spec_file
from envspec.validate import validate_bytes

MINIMAL = b'[env]\nname = "x"\npython = "3.11"\n'


def codes(data: bytes) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data, "spec.toml")
    return [d.code for d in info.value.diagnostics]


def test_minimal_spec_gets_defaults() -> None:
    loaded = parse_spec(MINIMAL, "spec.toml")
    spec = loaded.spec
    assert spec.env.platforms == ("linux-x86_64",)
    assert spec.torch is None
    assert spec.cuda is None
    assert spec.network.timeout == 15
    assert spec.network.retries == 5
    assert spec.runtime.env == {}
    assert spec.targets.docker.user == "dev"


def test_spec_is_frozen() -> None:
    spec = parse_spec(MINIMAL, "spec.toml").spec
    with pytest.raises(ValueError, match="frozen"):
        spec.env.name = "other"  # type: ignore[misc]


def test_integer_env_values_become_text() -> None:
    spec = parse_spec(MINIMAL + b"[runtime.env]\nOMP_NUM_THREADS = 8\n", "s").spec
    assert spec.runtime.env == {"OMP_NUM_THREADS": "8"}


def test_utf8_bom_is_accepted() -> None:
    assert parse_spec(b"\xef\xbb\xbf" + MINIMAL, "s").spec.env.name == "x"


def test_oversized_input_is_refused_before_parsing() -> None:
    assert codes(b"#" * (MAX_SPEC_BYTES + 1)) == ["too-large"]


def test_deep_nesting_is_a_clean_error() -> None:
    assert codes(b"x = " + b"[" * 5000) == ["toml-syntax"]


def test_redefined_table_is_a_clean_error() -> None:
    assert codes(MINIMAL + b"[env]\nname = 'y'\n") == ["toml-syntax"]


def test_unknown_key_lists_the_known_ones_and_guesses() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(MINIMAL + b"[network]\ntimout = 3\n", "s")
    (d,) = info.value.diagnostics
    assert d.code == "unknown-key"
    assert d.key == "network.timout"
    assert d.line == 5
    assert d.expected == "one of: timeout, retries"
    assert d.hint == 'did you mean "timeout"?'


def test_errors_are_sorted_by_line() -> None:
    data = b'[env]\nname = "X"\npython = 3.1\n[network]\nretries = -1\n'
    with pytest.raises(SpecError) as info:
        parse_spec(data, "s")
    lines = [d.line for d in info.value.diagnostics]
    assert lines == sorted(lines)  # type: ignore[type-var]


def test_read_spec_file_errors_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_spec_file(tmp_path / "missing.toml")
    with pytest.raises(UsageError, match="directory"):
        read_spec_file(tmp_path)


def test_load_spec_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(MINIMAL)
    loaded = load_spec(path)
    assert loaded.file == str(path)
    assert loaded.spec.env.python == "3.11"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_give_only_clean_errors(data: bytes) -> None:
    diagnostics: tuple[Diagnostic, ...] = ()
    try:
        parse_spec(data, "random.toml")
    except SpecError as exc:
        diagnostics = exc.diagnostics
        assert diagnostics, "a SpecError always carries diagnostics"
    assert all(d.file == "random.toml" for d in diagnostics)


toml_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3),
    ),
    max_leaves=12,
)
section_names = st.sampled_from(
    ["env", "cuda", "torch", "mirrors", "network", "packages", "runtime", "dev", "targets", "bogus"]
)
field_names = st.sampled_from(
    [
        "name",
        "python",
        "version",
        "driver",
        "variant",
        "with",
        "url",
        "timeout",
        "retries",
        "env",
        "torch",
        "system",
        "python",
        "shell",
        "jupyter",
        "platforms",
        "devel",
        "index",
        "trusted",
        "FOO",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(section_names, st.dictionaries(field_names, toml_values, max_size=4), max_size=6))
def test_random_toml_gives_a_report_never_an_exception(
    doc: dict[str, dict[str, object]], compat: Compat
) -> None:
    data = tomlkit.dumps(doc).encode("utf-8")
    report = validate_bytes(data, "random.toml", compat, LintContext(cores=2))
    for d in report.diagnostics:
        assert d.code
        assert d.message
        assert d.line is None or d.line >= 1
