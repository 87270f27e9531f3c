"""The tool's one error type: bad input that the user fixes (an index, a page or a data file)."""

from __future__ import annotations

from envspec.errors import EnvspecError


class RefreshError(EnvspecError):
    """Bad input: an index that cannot be read, a page or data file that makes no sense."""
