"""Where the host runs, which decides the consent default (DESIGN §3)."""

from __future__ import annotations

import sys

from ._log import warn_once

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Literal, Optional, TextIO

    Mode = Literal["server", "interactive", "notebook", "non-interactive"]

MODES: tuple[Mode, ...] = ("server", "interactive", "notebook", "non-interactive")

CI_VARIABLES = (
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "BUILDKITE",
    "CIRCLECI",
    "TF_BUILD",
)


def resolve_mode(
    explicit: Optional[str],
    env_value: Optional[str],
    env_name: str,
    environ: Mapping[str, str],
) -> Mode:
    """Return ``install(mode=...)``, else ``<APP>_TELEMETRY_MODE``, else the detected mode.

    A container alone is never a reason for ``server``: only an explicit choice is.
    """
    for source, value in (("install(mode=...)", explicit), (env_name, env_value)):
        if value is None:
            continue
        if value in MODES:
            return value
        warn_once(source, f"Ignoring {source}={value!r}: expected one of {', '.join(MODES)}.")
    return detect_mode(environ)


def detect_mode(environ: Mapping[str, str], stdin: Optional[TextIO] = None) -> Mode:
    """Detect notebook, interactive terminal or non-interactive from the process itself."""
    if in_notebook():
        return "notebook"
    if any(environ.get(name) for name in CI_VARIABLES):
        return "non-interactive"
    if _is_tty(stdin if stdin is not None else sys.stdin) and _is_tty(sys.stderr):
        return "interactive"
    return "non-interactive"


def in_notebook() -> bool:
    """True inside an IPython kernel (Jupyter, JupyterLab, VS Code) or Google Colab."""
    if "google.colab" in sys.modules:
        return True
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and hasattr(shell, "kernel")


def _is_tty(stream: Optional[TextIO]) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
