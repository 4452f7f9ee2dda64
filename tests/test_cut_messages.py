"""A message cut on the host's thread: what the cut runs through never leaves, in part.

Capture cuts a message of more than 64 KiB (``MAX_MESSAGE``), backing off to a space,
before anything is scrubbed. A quoted value that the cut runs through has lost its
closing quote: the ``value`` rule replaces a literal still open at the cut's marker, so
neither the value nor the words of a secret after its first one remain. And the chain,
one string of the report like the others, holds at most 32 KiB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_telemetry import _attributes as attr
from otel_telemetry.capture._snapshot import MAX_MESSAGE, _truncated
from otel_telemetry.exporters._file import read_reports
from otel_telemetry.pipeline._report import MAX_STRING
from otel_telemetry.scrubbing import Scrubber
from tests.conftest import run
from tests.payloads import attributes

SCRUBBER = Scrubber(home="/var/lib/builder", user="builder", host="buildhost")


def around_cut(payload: str, back: int = 700) -> str:
    """Filler words, then ``payload`` across the point where capture cuts, then more."""
    filler = ("word " * (MAX_MESSAGE // 5))[: MAX_MESSAGE - back]
    return filler + payload + " tail" * 400


VALUE = "customer 'Grace Hopper lives at 12 Main Street Springfield " + "and more words " * 60 + "'"
SECRET = 'password="correct horse battery staple ' + "and more words " * 60 + '"'


@pytest.mark.parametrize(("payload", "gone"), [(VALUE, "Grace Hopper"), (SECRET, "horse battery")])
def test_a_literal_open_at_the_cut_is_a_value(payload: str, gone: str) -> None:
    cut = _truncated(around_cut(payload))
    assert gone in cut  # the cut ran through it
    assert cut.endswith("more characters cut]")
    scrub = SCRUBBER.new_pass()
    clean = scrub.message(scrub.text(cut))
    assert gone not in clean
    assert clean.endswith("[value]... [" + cut.rsplit("... [", 1)[1])
    # In stack text, where the message is followed by more lines.
    stack = f"Traceback (most recent call last):\nValueError: {cut}\n\nmore text"
    scrub = SCRUBBER.new_pass()
    assert gone not in scrub.stacktrace(scrub.text(stack))


def test_a_literal_open_at_the_end_of_an_uncut_text_stays_prose() -> None:
    text = "it is 5' 10\" tall and 'unclosed"
    assert SCRUBBER.new_pass().message(text) == text


HOST = """
from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="cuthost", version="1.0")
telemetry.install()


@telemetry.capture_errors
def fail(message):
    raise ValueError(message)
"""

SCRIPT = """
import json, sys
import cuthost

for message in json.load(open(sys.argv[1])):
    try:
        cuthost.fail(message)
    except ValueError:
        pass
assert cuthost.telemetry.flush(30)
"""

FAKE_FILE_LINE = 'bad\n  File "Grace Hopper 1985-03-12 diagnosis.pdf", line 1, in x'


def _strings(value: Any) -> list[str]:
    """Every string of a report, JSON inside strings decoded too."""
    found: list[str] = []
    if isinstance(value, str):
        found.append(value)
        if value.strip()[:1] in ("[", "{"):
            try:
                found += _strings(json.loads(value))
            except ValueError:
                pass
    elif isinstance(value, dict):
        for key, item in value.items():
            found += [str(key), *_strings(item)]
    elif isinstance(value, list):
        for item in value:
            found += _strings(item)
    return found


@pytest.mark.integration
def test_what_a_cut_runs_through_never_arrives(host_env, config_dir, tmp_path) -> None:
    package = tmp_path / "site" / "cuthost"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(HOST)
    script = Path(host_env["HOME"]) / "app.py"
    script.write_text(SCRIPT)
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps([around_cut(VALUE), around_cut(SECRET), FAKE_FILE_LINE]))
    host_env.update(ACME_TELEMETRY="1", PYTHONPATH=str(package.parent))

    result = run([sys.executable, str(script), str(messages)], host_env)

    assert result.returncode == 0, result.stderr
    documents = list(read_reports(config_dir / "telemetry" / "reports"))
    events = [
        attributes(event["attributes"])
        for document in documents
        for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]  # type: ignore[index]
        for event in span.get("events", [])
        if event["name"] == attr.EVENT_EXCEPTION
    ]
    assert len(events) == 3
    text = "\n".join(_strings(documents))
    for gone in ("Grace Hopper", "horse battery", "12 Main Street"):
        assert gone not in text
    for event in events:
        for key in (attr.EXCEPTION_MESSAGE, attr.EXCEPTION_STACKTRACE, attr.EXCEPTION_CHAIN):
            assert len(event[key]) <= MAX_STRING + 64, key  # one string: 32 KiB and a marker
        json.loads(event[attr.EXCEPTION_CHAIN])  # still JSON
    [fake] = [e for e in events if e[attr.EXCEPTION_MESSAGE].startswith("bad\n")]
    assert '  File "[value]", line 1, in x' in fake[attr.EXCEPTION_STACKTRACE]
