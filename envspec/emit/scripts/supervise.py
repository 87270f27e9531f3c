"""Run one command for bootstrap.sh so that it, and everything it starts, dies with the script.

The command runs in a new process group led by this process. When the script stops us (SIGTERM,
SIGINT, SIGHUP) or dies itself, even by SIGKILL (Linux delivers SIGTERM to us then; elsewhere we
notice within half a second), the whole group is killed: no orphaned pip or ensurepip keeps writing
into a half-built environment. Standard library only, Python 3.8 or newer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def stop(*_ignored: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGKILL)


def main() -> None:
    # the script passes its own process id first: a script killed before this process started has
    # no children left to supervise, so there is nothing to run
    parent = int(sys.argv[1])
    if os.getppid() != parent:
        sys.exit(1)
    os.setpgid(0, 0)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, stop)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # no prctl: the loop below notices within half a second
    if os.getppid() != parent:
        stop()
    child = subprocess.Popen(sys.argv[2:])
    while True:
        try:
            code = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                stop()
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
