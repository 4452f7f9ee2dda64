"""The running IPython shell, found without ever importing IPython."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
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
