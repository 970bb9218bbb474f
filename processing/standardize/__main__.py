"""``python3 /opt/program/standardize`` (the container's entry point) or ``python -m standardize``.

Run as a directory, this file has no package: the parent directory goes first on ``sys.path``
so that the package imports under its own name, as it does in the tests (``processing.standardize``).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from standardize.cli import main

if __name__ == "__main__":
    sys.exit(main())
