"""The numbers of a benchmark: percentiles of timed runs and the speedup with a bootstrap interval.

Pure functions over lists of seconds. The interval is a percentile bootstrap of the ratio of medians
(eager over profile) with a fixed seed, so the same timings always give the same report.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import Sequence

RESAMPLES = 2000
SEED = 20261130


@dataclasses.dataclass(frozen=True, slots=True)
class Spread:
    """Median and the 10th/90th percentiles of one side's timed runs, in seconds."""

    median: float
    p10: float
    p90: float
    runs: int


@dataclasses.dataclass(frozen=True, slots=True)
class Speedup:
    """``eager / profile`` of the medians: above 1 the profile is faster."""

    ratio: float
    low: float  # the 95 % interval
    high: float

    @property
    def verdict(self) -> str:
        if self.low > 1.0:
            return "faster"
        if self.high < 1.0:
            return "slower"
        return "no clear difference"


def spread(times: Sequence[float]) -> Spread:
    """The spread of at least one timed run (p10 and p90 are the median for fewer than two)."""
    if not times:
        raise ValueError("no timed runs")
    ordered = sorted(times)
    if len(ordered) < 2:
        return Spread(ordered[0], ordered[0], ordered[0], 1)
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    median = statistics.median(ordered)
    # interpolation may round a hair outside the runs: keep p10 <= median <= p90 within them
    low, high = min(max(deciles[0], ordered[0]), median), max(min(deciles[-1], ordered[-1]), median)
    return Spread(median, low, high, len(ordered))


def speedup(eager: Sequence[float], profile: Sequence[float], *, resamples: int = RESAMPLES) -> Speedup:
    """The ratio of medians and its 95 % percentile-bootstrap interval (each side resampled alone)."""
    if not eager or not profile or min(profile) <= 0 or min(eager) <= 0:
        raise ValueError("both sides need positive timed runs")
    ratio = statistics.median(eager) / statistics.median(profile)
    rng = random.Random(SEED)  # noqa: S311 - a reproducible resampling, not a secret
    ratios = sorted(
        statistics.median(rng.choices(eager, k=len(eager)))
        / statistics.median(rng.choices(profile, k=len(profile)))
        for _ in range(resamples)
    )
    low = ratios[int(0.025 * (resamples - 1))]
    high = ratios[int(0.975 * (resamples - 1))]
    return Speedup(ratio, min(low, ratio), max(high, ratio))
