"""Where the host runs, which decides the consent default."""

from __future__ import annotations

import os
import sys

from otel_telemetry._log import warn_once

from ._types import MODES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Optional, TextIO

    from ._types import Mode

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
        for mode in MODES:
            if value == mode:
                return mode
        warn_once(source, f"Ignoring {source}={value!r}: expected one of {', '.join(MODES)}.")
    return detect_mode(environ)


def detect_mode(environ: Mapping[str, str], stdin: Optional[TextIO] = None) -> Mode:
    """Detect notebook, interactive terminal or non-interactive from the process itself.

    ``interactive`` needs stdin and stderr on a terminal, outside CI, and the process in
    the terminal's foreground: a background job (``cmd &``) that read the terminal would
    be stopped by ``SIGTTIN`` until the user brings it back, so it is non-interactive.
    Detected anew each time, so a job brought to the foreground (``fg``) may ask.
    """
    if in_notebook():
        return "notebook"
    stdin = stdin if stdin is not None else sys.stdin
    if not (_is_tty(stdin) and _is_tty(sys.stderr)):
        return "non-interactive"  # the usual answer, before the costly variable lookups
    if any(environ.get(name) for name in CI_VARIABLES):
        return "non-interactive"
    return "interactive" if in_foreground(stdin) else "non-interactive"


def in_foreground(stream: Optional[TextIO]) -> bool:
    """False when ``stream`` is our controlling terminal and we are a background job.

    Only reading the controlling terminal from a background process group stops the
    process (``SIGTTIN``); a terminal that is not the controlling one (``tcgetpgrp``
    fails) stops nobody, and neither does Windows, which has no process groups.
    """
    if stream is None or not hasattr(os, "tcgetpgrp"):
        return True
    try:
        return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (AttributeError, ValueError, OSError):
        return True


def in_notebook() -> bool:
    """True inside an IPython kernel (Jupyter, JupyterLab, VS Code) or Google Colab."""
    if "google.colab" in sys.modules:
        return True
    if "IPython" not in sys.modules:
        return False  # no kernel without IPython: nothing imported to learn it
    from otel_telemetry._ipython import ipython_shell

    shell = ipython_shell()
    return shell is not None and hasattr(shell, "kernel")


def _is_tty(stream: Optional[TextIO]) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
