"""otel_telemetry.testing: what a host maintainer's own tests see, in memory."""

from __future__ import annotations

import time

import acme
import pytest
from acme.crawler import CrawlError
from acme.telemetry import telemetry as acme_telemetry

from otel_telemetry import Telemetry
from otel_telemetry.testing import capture_reports

pytest_plugins = ["pytester"]


@pytest.fixture
def quiet_env(monkeypatch, tmp_path):
    for name in ("DO_NOT_TRACK", "OTEL_SDK_DISABLED", "ACME_TELEMETRY", "ACME_TELEMETRY_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def _crash(telemetry, message):
    try:
        raise ValueError(message)
    except ValueError as exc:
        telemetry.capture_exception(exc)


def _messages(reports):
    return [r.events[0].attributes["exception.message"] for r in reports]


def test_the_readme_example(quiet_env):
    with capture_reports(acme_telemetry) as reports:
        with pytest.raises(CrawlError):
            acme.crawler.run("bad://")
        acme_telemetry.flush(5)
    assert len(reports) == 1
    event = reports[0].events[0]
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "acme.crawler.CrawlError"
    assert reports[0].attributes["otel_telemetry.mechanism"] == "capture_errors"
    # Nothing was written: no outbox, no file report, no saved choice, no install id.
    assert not quiet_env.exists()


def test_reports_are_scrubbed(quiet_env, tmp_path):
    telemetry = Telemetry(app="acme", package=__name__)
    with capture_reports(telemetry) as reports:
        _crash(telemetry, "mail alice@example.com, token=hunter2hunter2")
    message = reports[0].events[0].attributes["exception.message"]
    assert message == "mail [email], token=[redacted]"
    # Counted at each place the message appears (event, status, stack text, chain).
    audit = dict(x.split(":") for x in reports[0].attributes["otel_telemetry.scrubbed"])
    assert set(audit) == {"email", "secret_pair"}
    assert reports[0].resource.attributes["service.name"] == "acme"


def test_consent_false_keeps_the_real_gate(quiet_env, monkeypatch):
    monkeypatch.setenv("ACME_TELEMETRY", "0")
    telemetry = Telemetry(app="acme", package=__name__)
    with capture_reports(telemetry, consent=False) as reports:
        _crash(telemetry, "boom")
    assert reports == []


def test_consent_is_granted_whatever_the_machine_says(quiet_env, monkeypatch):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    telemetry = Telemetry(app="acme", package=__name__)
    with capture_reports(telemetry) as reports:
        _crash(telemetry, "k")
    assert [r.events[0].attributes["exception.type"] for r in reports] == ["ValueError"]
    # Outside the block the machine's choice rules again.
    assert telemetry.status().enabled is False


def test_usage_events_carry_no_install_id_in_tests(quiet_env):
    telemetry = Telemetry(app="acme", package=__name__)
    with capture_reports(telemetry) as reports:
        telemetry.send_event("crawl.finished", {"pages": 3})
    assert reports[0].name == "crawl.finished"
    assert reports[0].attributes["pages"] == 3
    assert "otel_telemetry.install_id" not in reports[0].attributes


def test_the_configured_exporters_are_used_again_after_the_block(quiet_env, monkeypatch):
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "file")
    telemetry = Telemetry(app="acme", package=__name__)
    with capture_reports(telemetry):
        pass
    _crash(telemetry, "after")
    assert telemetry.flush(10)
    assert list((quiet_env / "telemetry" / "reports").glob("*.jsonl"))


def test_pytest_fixture(pytester, quiet_env):
    pytester.makeconftest(
        """
import pytest
from otel_telemetry import Telemetry
pytest_plugins = ["otel_telemetry.testing"]

@pytest.fixture
def telemetry():
    return Telemetry(app="acme", package="test_host")
"""
    )
    pytester.makepyfile(
        test_host="""
def test_reported(telemetry, telemetry_reports):
    try:
        raise ValueError("x")
    except ValueError as exc:
        telemetry.capture_exception(exc)
    telemetry.flush(5)
    assert telemetry_reports[0].events[0].attributes["exception.type"] == "ValueError"
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_nested_blocks_each_see_their_reports_and_nothing_leaks(quiet_env):
    telemetry = Telemetry(app="acme", package=__name__, exporters="file")
    with capture_reports(telemetry) as outer:
        _crash(telemetry, "before inner")
        with capture_reports(telemetry) as inner:
            _crash(telemetry, "in inner")
        _crash(telemetry, "after inner")
    assert _messages(inner) == ["in inner"]
    assert _messages(outer) == ["before inner", "in inner", "after inner"]
    assert not quiet_env.exists()  # the file exporter never ran


def test_blocks_in_two_threads_never_reach_the_real_exporters(quiet_env):
    import threading

    telemetry = Telemetry(app="acme", package=__name__, exporters="file")
    seen = {}
    started = threading.Barrier(2)

    def block(name):
        with capture_reports(telemetry) as reports:
            started.wait(5)
            _crash(telemetry, name)
            telemetry.flush(5)
            started.wait(5)
        seen[name] = _messages(reports)

    threads = [threading.Thread(target=block, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(set(messages) == {"a", "b"} for messages in seen.values()), seen
    assert not quiet_env.exists()


def test_storms_counted_before_a_block_are_not_counted_in_it(quiet_env):
    telemetry = Telemetry(app="acme", package=__name__, storm_limit=1)
    with capture_reports(telemetry):
        for _ in range(5):
            _crash(telemetry, "same")  # one reported, four counted
    with capture_reports(telemetry) as reports:
        _crash(telemetry, "same")
    assert len(reports) == 1
    assert "otel_telemetry.occurrences" not in reports[0].attributes


def test_reports_of_a_block_never_reach_the_exporter_of_before_while_it_is_stuck(
    quiet_env, monkeypatch
):
    import threading

    from opentelemetry.sdk.trace.export import SpanExportResult

    import otel_telemetry.testing as testing

    monkeypatch.setattr(testing, "_FLUSH_TIMEOUT", 0.2)
    release = threading.Event()

    class Stuck:
        delivers_locally = True

        def __init__(self):
            self.spans = []

        def export(self, spans):
            release.wait(30)  # a blackholed endpoint, as seen from the worker
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

        def force_flush(self, timeout_millis=0):
            return True

        def shutdown(self):
            pass

    stuck = Stuck()
    telemetry = Telemetry(app="acme", package=__name__)
    telemetry.pipeline.route_to(stuck, timeout=5)  # stands for the configured exporters
    telemetry.consent.force_granted(True)
    _crash(telemetry, "before the block")
    with capture_reports(telemetry):
        _crash(telemetry, "SECRET-TEST-ONLY")
    release.set()
    assert telemetry.flush(10)
    assert _messages(stuck.spans) == ["before the block"]


def test_a_block_opening_while_another_closes_gets_its_reports(quiet_env, monkeypatch):
    import threading

    from otel_telemetry.pipeline._pipeline import Pipeline

    telemetry = Telemetry(app="acme", package=__name__, exporters="file")
    closing = threading.Event()
    route_to = Pipeline.route_to

    def slow_route_back(self, exporter, *, timeout):
        if exporter is None:  # the last block closes: let another open meanwhile
            closing.set()
            time.sleep(0.3)
        return route_to(self, exporter, timeout=timeout)

    monkeypatch.setattr(Pipeline, "route_to", slow_route_back)
    seen = {}
    first_closed = threading.Event()

    def second_block():
        closing.wait(5)
        with capture_reports(telemetry) as reports:
            first_closed.wait(5)  # crash once the first block is wholly closed
            _crash(telemetry, "second")
        seen["second"] = _messages(reports)

    thread = threading.Thread(target=second_block)
    thread.start()
    with capture_reports(telemetry):
        pass
    first_closed.set()
    thread.join(30)
    assert seen["second"] == ["second"]
    assert not quiet_env.exists()  # the file exporter never ran
