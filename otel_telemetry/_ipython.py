"""The running IPython shell, found without ever importing IPython."""

from __future__ import annotations

import sys
from typing import Any


def ipython_shell() -> Any:
    """The running IPython shell (a kernel or a terminal shell), or None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:
        return None
