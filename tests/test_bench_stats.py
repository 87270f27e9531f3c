"""The numbers and the report of ``envspec bench``, from made-up timings (no torch needed)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envspec.bench.render import render_json, render_text, verdict_line
from envspec.bench.run import Outcome, Profile, Request, Side
from envspec.bench.stats import speedup, spread

times = st.lists(st.floats(min_value=1e-5, max_value=10.0, allow_nan=False), min_size=1, max_size=60)


@given(times)
def test_the_spread_is_ordered_and_within_the_runs(values: list[float]) -> None:
    s = spread(values)
    assert min(values) <= s.p10 <= s.median <= s.p90 <= max(values)
    assert s.median == statistics.median(values)
    assert s.runs == len(values)


@given(times, times)
def test_the_speedup_is_the_ratio_of_medians_inside_its_interval(
    eager: list[float], profile: list[float]
) -> None:
    gain = speedup(eager, profile, resamples=200)
    assert gain.ratio == pytest.approx(statistics.median(eager) / statistics.median(profile))
    assert gain.low <= gain.ratio <= gain.high
    assert speedup(eager, profile, resamples=200) == gain  # the same timings, the same report


def test_a_clear_gain_a_clear_loss_and_noise_are_told_apart() -> None:
    slow = [0.100 + 0.001 * (i % 5) for i in range(30)]
    fast = [0.060 + 0.001 * (i % 5) for i in range(30)]
    assert speedup(slow, fast).verdict == "faster"
    assert speedup(fast, slow).verdict == "slower"
    assert speedup(slow, list(reversed(slow))).verdict == "no clear difference"


def test_empty_or_zero_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="no timed runs"):
        spread([])
    with pytest.raises(ValueError, match="positive"):
        speedup([0.1], [0.0])


def _outcome(eager: list[float], profile: list[float]) -> Outcome:
    return Outcome(
        request=Request("resnet50", 1, "fp32", "cpu", len(eager), 2),
        eager=Side(tuple(eager), 0.5, 300_000_000, "max_rss", 2),
        profile=Side(tuple(profile), 40.0, 350_000_000, "max_rss", 1),
        warm_first_call_s=4.0,
        applied={"cudnn_benchmark": "not applicable on cpu", "num_threads": "applied"},
        notes=(),
        model={"name": "resnet50", "source": "builtin", "parameters": 25_557_032},
        versions={"torch": "2.13.0+cpu", "python": "3.11.7", "device_name": "Test CPU"},
        hook_removed=True,
    )


def test_the_text_report_names_what_did_not_apply_and_says_when_the_profile_is_slower() -> None:
    profile = Profile({"cudnn_benchmark": True, "num_threads": 1}, {"OMP_NUM_THREADS": "1"})
    outcome = _outcome([0.05] * 10, [0.08] * 10)
    text = render_text([outcome], profile, "/env/bin/python", "dev.toml")
    assert "cudnn_benchmark: not applicable on cpu" in text
    assert "OMP_NUM_THREADS=1" in text
    assert "SLOWER than eager: 0.62x" in text
    assert "0.50 s / 40.00 s / 4.00 s" in text  # first calls: eager, cold compile, warm compile
    assert verdict_line(outcome, speedup(outcome.eager.times, outcome.profile.times)).startswith("resnet50: ")


def test_the_json_report_agrees_with_the_raw_timings() -> None:
    eager = [0.050, 0.052, 0.049, 0.051, 0.050]
    profile_times = [0.030, 0.031, 0.029, 0.030, 0.032]
    document = render_json([_outcome(eager, profile_times)], Profile({}, {}), "/p", "s")
    (result,) = document["results"]
    assert result["eager"]["times_s"] == eager
    assert result["eager"]["median_s"] == statistics.median(eager)
    assert result["speedup"]["median_ratio"] == pytest.approx(
        statistics.median(eager) / statistics.median(profile_times)
    )
    low, high = result["speedup"]["ci95"]
    assert low <= result["speedup"]["median_ratio"] <= high
    assert result["speedup"]["verdict"] == "faster"
    assert result["profile"]["first_call_warm_s"] == 4.0
    assert document["versions"]["torch"] == "2.13.0+cpu"


def test_the_chart_is_a_png_and_the_same_bytes_each_time() -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is the optional [plot] extra")
    from envspec.bench.render import render_plot

    outcomes = [_outcome([0.05, 0.051, 0.049], [0.03, 0.031, 0.029])]
    first = render_plot(outcomes, "title")
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert render_plot(outcomes, "title") == first
