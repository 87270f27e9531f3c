"""`envspec diff`: compare two lock values and render the comparison as text or JSON (pure)."""

# The diff pairs pins by normalized project name and marker, then calls out what matters most for a
# GPU environment first ("highlights"): the torch version and build, the CUDA runtime, the runtime
# flags, the mirrors, the Python version and platforms. Everything else the locks record (other spec
# settings, derived facts) is listed too, so an empty diff means the two locks describe the same
# environment. `model` holds the diff value, `compare` and `highlights` build it, and `render_text`
# and `render_json` show it to people and to machines. Locks of several torch builds are compared
# build by build (`builds`): each build's view, with what every build shares told once.

from __future__ import annotations

from envspec.diff.builds import compare_locks, diff_builds
from envspec.diff.compare import diff_locks
from envspec.diff.model import (
    BuildDiff,
    BuildsDiff,
    Highlight,
    HighlightKind,
    IndexChange,
    LockDiff,
    MirrorChange,
    MirrorChangeKind,
    Pin,
    PinChange,
    Scalar,
    Value,
    ValueChange,
)
from envspec.diff.render_json import builds_json, diff_json, render_diff_json
from envspec.diff.render_text import render_diff_text

__all__ = [
    "BuildDiff",
    "BuildsDiff",
    "Highlight",
    "HighlightKind",
    "IndexChange",
    "LockDiff",
    "MirrorChange",
    "MirrorChangeKind",
    "Pin",
    "PinChange",
    "Scalar",
    "Value",
    "ValueChange",
    "builds_json",
    "compare_locks",
    "diff_builds",
    "diff_json",
    "diff_locks",
    "render_diff_json",
    "render_diff_text",
]
