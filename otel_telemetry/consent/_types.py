"""The closed vocabularies of consent, as ``Literal`` types used end to end.

They are Literals, not Enums, because the values are also what users type and what the
status shows; ``MODES`` gives the same values at run time. ``typing`` is imported for
the type checker only: the app thread never pays for it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["server", "interactive", "notebook", "non-interactive"]
    """Where the host runs; decides the consent default."""
    ConsentState = Literal["granted", "denied", "ask"]
    """``granted`` sends, ``denied`` drops, ``ask`` holds the report while the user is asked."""
    Choice = Literal["once", "always", "never", "dismissed"]
    """An answer to the question: ``[1]``, ``[2]``, ``[3]``, or no answer (EOF, Ctrl-C, timeout)."""
    Level = Literal["off", "crash", "all", "local"]
    """What is collected: nothing; crash reports; crash reports and usage events; or
    everything recorded on this machine only, never uploaded."""

MODES: tuple[Mode, ...] = ("server", "interactive", "notebook", "non-interactive")
LEVELS: tuple[Level, ...] = ("off", "crash", "all", "local")
