"""Notebooks, in a real ipykernel executed by nbclient: the widget, a click, the passive text."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from tests.payloads import attributes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "notebook.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PASSIVE = 'Acme error detected. Telemetry is OFF. To enable: acme.telemetry.enable(email="you@example.com", always=True)'

CONFIRMATIONS = {
    "Yes": "Thank you: this report was sent.",
    "Yes, always": "Thank you: crash reports will be sent from now on.",
    "No": "Crash reports stay off; you will not be asked again.",
}

CLICK = """
import ipywidgets
instances = getattr(ipywidgets.widgets.widget, "_instances", None) or ipywidgets.Widget.widgets
box = instances[{model_id!r}]
buttons = {{button.description: button for button in box.children[1].children}}
box.children[3].value = {email!r}
buttons[{button!r}].click()
import json
print(json.dumps([acme.telemetry.telemetry.flush(30), [b.disabled for b in buttons.values()], box.children[4].value]))
"""


VIEW = """
import ipywidgets
instances = getattr(ipywidgets.widgets.widget, "_instances", None) or ipywidgets.Widget.widgets
box = instances[{model_id!r}]
toggle, view = box.children[5], box.children[6]
toggle.click()
import json
print(json.dumps([toggle.description, view.value]))
"""
PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)


class Kernel:
    """One notebook run: cells are executed one by one, more may be added."""

    def __init__(self, notebook, env):
        self.notebook = notebook
        self.client = NotebookClient(
            notebook, kernel_name="python3", timeout=120, allow_errors=True
        )
        self._context = self.client.setup_kernel(env=env)

    def __enter__(self):
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)

    def run(self, source=None, index=None):
        if source is not None:
            self.notebook.cells.append(new_code_cell(source))
            index = len(self.notebook.cells) - 1
        return self.client.execute_cell(self.notebook.cells[index], index)


def _texts(cell):
    texts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            texts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            texts.append(output.data["text/plain"])
    return "".join(texts)


def _widget_ids(cell):
    return [
        o.data[WIDGET_VIEW]["model_id"] for o in cell.outputs if WIDGET_VIEW in o.get("data", {})
    ]


def _report_email(received):
    return attributes(received.span()["attributes"]).get("user.email")


@pytest.mark.parametrize(
    ("button", "saved", "sent"),
    [
        ("Yes", None, 1),  # this report only, not the second crash held meanwhile
        ("Yes, always", {"telemetry": {"enabled": True, "email": "me@example.com"}}, 2),
        ("No", {"telemetry": {"enabled": False}}, 0),
    ],
)
def test_widget_question_and_a_click(button, saved, sent, otlp_host_env, config_dir, otlp_http):
    notebook = nbformat.read(EXAMPLE, as_version=4)
    with Kernel(notebook, otlp_host_env) as kernel:
        kernel.run(index=1)
        crashed = kernel.run(index=2)
        [error] = [o for o in crashed.outputs if o.output_type == "error"]
        assert error.ename == "CrawlError"  # the user's traceback, as IPython shows it
        [model_id] = _widget_ids(crashed)
        assert otlp_http.requests == []  # nothing before an answer

        again = kernel.run('await arun("https://example.com/second")')
        assert _widget_ids(again) == []  # asked once per session

        clicked = kernel.run(CLICK.format(model_id=model_id, email="me@example.com", button=button))
        flushed, disabled, confirmation = json.loads(_texts(clicked))
        assert flushed is True
        assert disabled == [True, True, True]
        assert confirmation == CONFIRMATIONS[button]

    config = config_dir / "config.json"
    assert (json.loads(config.read_text()) if config.exists() else None) == saved
    try:
        received = otlp_http.wait_for(sent)
    except AssertionError as missing:  # say what the kernel left behind (it failed once)
        left = sorted(str(p.relative_to(config_dir)) for p in config_dir.rglob("*") if p.is_file())
        raise AssertionError(f"{missing}; the config dir holds {left}") from None
    assert len(received) == sent
    assert {_report_email(r) for r in received} == ({"me@example.com"} if sent else set())


@pytest.mark.parametrize("absent", ["import blocked", "forced by configuration"])
def test_without_widgets_one_passive_message_and_nothing_sent(
    absent, otlp_host_env, config_dir, otlp_http
):
    if absent == "forced by configuration":
        otlp_host_env["ACME_TELEMETRY_WIDGETS"] = "0"
    notebook = nbformat.read(EXAMPLE, as_version=4)
    with Kernel(notebook, otlp_host_env) as kernel:
        if absent == "import blocked":
            kernel.run("import sys; sys.modules['ipywidgets'] = None")
        kernel.run(index=1)
        first = kernel.run(index=2)
        second = kernel.run('await arun("https://example.com/second")')
        kernel.run("print(acme.telemetry.telemetry.flush(30))")
        texts = _texts(first) + _texts(second)
        assert texts.count(PASSIVE) == 1
        assert _widget_ids(first) == _widget_ids(second) == []
        assert otlp_http.requests == []

        # The Python API from a cell: the held reports go now.
        enabled = kernel.run(
            'acme.telemetry.enable(email="me@example.com", always=True)\nprint(acme.telemetry.telemetry.flush(30))'
        )
        assert _texts(enabled).strip() == "True"
    # Both held reports: in one export request or two (recorded together, a batch).
    assert len(otlp_http.wait_for_spans(2)) == 2
    assert json.loads((config_dir / "config.json").read_text()) == {
        "telemetry": {"enabled": True, "email": "me@example.com"}
    }


def test_view_report_shows_what_yes_sends(otlp_host_env, config_dir, otlp_http):
    notebook = nbformat.read(EXAMPLE, as_version=4)
    with Kernel(notebook, otlp_host_env) as kernel:
        kernel.run(index=1)
        [model_id] = _widget_ids(kernel.run(index=2))

        viewed = kernel.run(VIEW.format(model_id=model_id))
        description, value = json.loads(_texts(viewed))
        assert description == "Hide report"
        [escaped] = PRE.findall(value)
        shown = html.unescape(escaped)
        assert otlp_http.requests == []  # viewing sends nothing

        clicked = kernel.run(CLICK.format(model_id=model_id, email="", button="Yes"))
        flushed, disabled, confirmation = json.loads(_texts(clicked))
        assert (flushed, disabled, confirmation) == (True, [True] * 3, CONFIRMATIONS["Yes"])

    # The crash message held a URL with credentials, an email and a path in HOME: none shown.
    for raw in ("s3cret", "intranet.example.com", "alice@example.com", otlp_host_env["HOME"]):
        assert raw not in shown
    [received] = otlp_http.wait_for(1)
    [event] = received.span()["events"]
    sent = attributes(event["attributes"])
    assert sent["exception.type"] == "acme.crawler.CrawlError"
    assert sent["exception.message"] == (
        "could not fetch [url] on behalf of [email]; partial page kept in [path]"
    )
    words = " ".join(shown.split())  # the renderer may wrap a long line
    assert sent["exception.type"] in words
    assert " ".join(sent["exception.message"].split()) in words
