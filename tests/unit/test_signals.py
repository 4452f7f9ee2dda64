"""The SIGTERM handler of server mode (``capture/_signals.py``), in this process.

Only chains to a Python handler are raised here (the default one would end the test
run); ending by the default, exit status and real servers are in
``tests/test_server_signals.py``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Optional

import pytest

from otel_telemetry.capture import _lifecycle, _signals
from otel_telemetry.capture._lifecycle import Lifecycle
from otel_telemetry.capture._signals import SigtermHandler
from tests.processes import wait_until

WAIT = 5.0  # seconds; only reached when a test fails


@pytest.fixture(autouse=True)
def sigterm_restored() -> Iterator[None]:
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


class Host:
    """A host's own SIGTERM handler, and a settle; both note what ran, in order."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.frames: list[Optional[FrameType]] = []

    def handler(self, signum: int, frame: Optional[FrameType]) -> None:
        self.ran.append(f"host {signum}")
        self.frames.append(frame)

    def settle(self) -> None:
        self.ran.append("settle")


def test_settles_then_hands_over_to_the_previous_python_handler() -> None:
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)
    ours = SigtermHandler(host.settle, budget=lambda: 1.0)

    ours.install()
    assert signal.getsignal(signal.SIGTERM) != host.handler
    signal.raise_signal(signal.SIGTERM)

    assert host.ran == ["settle", f"host {int(signal.SIGTERM)}"]
    assert host.frames[0] is not None  # the interrupted frame, passed on


def test_ignored_and_c_level_handlers_are_left_alone() -> None:
    host = Host()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ours = SigtermHandler(host.settle, budget=lambda: 1.0)

    ours.install()

    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    assert not ours.installed


def test_nothing_is_installed_from_another_thread() -> None:
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)
    ours = SigtermHandler(host.settle, budget=lambda: 1.0)

    thread = threading.Thread(target=ours.install)
    thread.start()
    thread.join(WAIT)

    assert signal.getsignal(signal.SIGTERM) == host.handler
    assert not ours.installed


def test_install_is_idempotent_and_uninstall_restores_the_previous_handler() -> None:
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)
    ours = SigtermHandler(host.settle, budget=lambda: 1.0)

    ours.install()
    ours.install()  # never chains to itself
    signal.raise_signal(signal.SIGTERM)
    assert host.ran == ["settle", f"host {int(signal.SIGTERM)}"]

    ours.uninstall()
    assert signal.getsignal(signal.SIGTERM) == host.handler


def test_uninstall_leaves_a_handler_the_host_set_after_ours() -> None:
    host, later = Host(), Host()
    signal.signal(signal.SIGTERM, host.handler)
    ours = SigtermHandler(host.settle, budget=lambda: 1.0)
    ours.install()
    signal.signal(signal.SIGTERM, later.handler)  # the host's own, set after ours

    ours.uninstall()

    assert signal.getsignal(signal.SIGTERM) == later.handler


def test_a_second_sigterm_while_we_settle_is_handed_over_after_it() -> None:
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)

    def settle_interrupted() -> None:
        host.ran.append("settle")
        # The signal again, while the flush runs: our handler is called in the middle.
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)
        host.ran.append("settled")

    ours = SigtermHandler(settle_interrupted, budget=lambda: 1.0)
    ours.install()
    signal.raise_signal(signal.SIGTERM)

    term = f"host {int(signal.SIGTERM)}"
    assert host.ran == ["settle", "settled", term, term]  # once per signal, after the flush


def test_a_settle_stuck_on_a_lock_the_main_thread_holds_never_deadlocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_signals, "GRACE", 0.05)
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)
    held = threading.Lock()  # a lock of ours, held by the code the signal interrupted
    stuck = threading.Event()

    def settle() -> None:
        stuck.set()
        with held:
            host.ran.append("settle")

    ours = SigtermHandler(settle, budget=lambda: 0.0)
    ours.install()
    with held:
        signal.raise_signal(signal.SIGTERM)  # returns: the wait is bounded

        assert stuck.wait(WAIT)
        assert host.ran == [f"host {int(signal.SIGTERM)}"]  # handed over without it
    # Once the lock is free, the settle finishes on its own thread.
    wait_until(lambda: host.ran[-1] == "settle", "the settle finishing", timeout=WAIT)


def test_a_failing_settle_never_reaches_the_host() -> None:
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)

    def settle() -> None:
        raise RuntimeError("our bug")

    ours = SigtermHandler(settle, budget=lambda: 1.0)
    ours.install()
    signal.raise_signal(signal.SIGTERM)

    assert host.ran == [f"host {int(signal.SIGTERM)}"]


def test_what_the_hosts_handler_raises_reaches_the_host_as_without_us() -> None:
    host = Host()

    def exits(signum: int, frame: Optional[FrameType]) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exits)
    ours = SigtermHandler(host.settle, budget=lambda: 1.0)
    ours.install()

    with pytest.raises(SystemExit):
        signal.raise_signal(signal.SIGTERM)
    assert host.ran == ["settle"]


@pytest.mark.parametrize(("server", "chained"), [(True, True), (False, False)])
def test_the_lifecycle_chains_sigterm_in_server_mode_only(
    server: bool, chained: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lifecycle, "_deadline", None)  # the process's exit budget: untouched
    host = Host()
    signal.signal(signal.SIGTERM, host.handler)
    lifecycle = Lifecycle(
        lambda exc, mechanism: None,
        before_exit=lambda: host.ran.append("before exit"),
        flush=lambda timeout: host.ran.append("flush"),
        budget=lambda: 1.0,
        server=lambda: server,
    )
    lifecycle.install()
    try:
        assert (signal.getsignal(signal.SIGTERM) != host.handler) is chained
        signal.raise_signal(signal.SIGTERM)
    finally:
        lifecycle.uninstall()

    term = f"host {int(signal.SIGTERM)}"
    assert host.ran == (["before exit", "flush", term] if chained else [term])
    assert signal.getsignal(signal.SIGTERM) == host.handler
