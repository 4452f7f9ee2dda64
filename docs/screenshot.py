"""Make ``docs/terminal-question.png``: the terminal question after ``[v]``, as a user sees it.

Run by hand (not part of ``make test``), from the repository root, with the dev
environment (pexpect, Playwright) and Debian's ``chromium``::

    .venv/bin/python docs/screenshot.py

It crashes the example host (``acme markdown https://example.com/a``) in a
pseudo-terminal with a throwaway home and config dir, answers ``v``, keeps what the
terminal received up to the question asked again (colours included), answers ``3``
(nothing is sent, nothing is saved), turns the text into HTML (SGR bold, dim and the 16
colours; every other escape is dropped) and has Chromium screenshot it. Playwright
never downloads a browser here: the system's Chromium is used.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "terminal-question.png"
COMMAND = ["markdown", "https://example.com/a"]
CHOICE = r"Your choice \[1/2/3/v\]: "
# A DSN on example.com (reserved for documentation): the question names Sentry as the
# destination, and the answer is No, so nothing is ever sent to it.
DSN = "https://0123456789abcdef0123456789abcdef@o0.ingest.example.com/0"
COLUMNS, ROWS = 100, 60

# xterm's default 16 colours (30-37, 90-97), on a dark background.
PALETTE = [
    "#000000",
    "#cd3131",
    "#0dbc79",
    "#e5e510",
    "#2472c8",
    "#bc3fbc",
    "#11a8cd",
    "#e5e5e5",
    "#666666",
    "#f14c4c",
    "#23d18b",
    "#f5f543",
    "#3b8eea",
    "#d670d6",
    "#29b8db",
    "#ffffff",
]
ESCAPE = re.compile(
    r"\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b."
)


def capture() -> str:
    """The terminal's text from the crash to the question asked again after ``v``."""
    import pexpect

    acme = Path(sys.executable).with_name("acme")
    with tempfile.TemporaryDirectory() as scratch:
        home, config = Path(scratch, "home"), Path(scratch, "config")
        home.mkdir()
        config.mkdir()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OTEL_", "ACME_"))
            and key not in ("CI", "NO_COLOR", "DO_NOT_TRACK", "SENTRY_DSN")
        }
        env.update(
            HOME=str(home),
            ACME_CONFIG_DIR=str(config),
            ACME_SENTRY_DSN=DSN,
            TERM="xterm-256color",
            PYTHONDONTWRITEBYTECODE="1",
        )
        child = pexpect.spawn(
            str(acme), COMMAND, env=env, encoding="utf-8", timeout=60, dimensions=(ROWS, COLUMNS)
        )
        child.expect(CHOICE)
        text = child.before + child.after
        child.sendline("v")
        child.expect(CHOICE)
        text += child.before + child.after
        child.sendline("3")  # No: nothing is sent, and the throwaway config dir goes
        child.expect(pexpect.EOF)
        child.close()
    return text.replace("\r\n", "\n").replace("\r", "")


def to_html(text: str) -> str:
    """Terminal text to HTML spans: SGR bold, dim and colours kept, other escapes dropped."""
    out: list[str] = []
    bold = dim = False
    color: int | None = None
    position = 0

    def emit(chunk: str) -> None:
        if not chunk:
            return
        styles = []
        if bold:
            styles.append("font-weight:bold")
        if dim:
            styles.append("opacity:0.6")
        if color is not None:
            styles.append(f"color:{PALETTE[color]}")
        escaped = html.escape(chunk)
        out.append(f'<span style="{";".join(styles)}">{escaped}</span>' if styles else escaped)

    for match in ESCAPE.finditer(text):
        emit(text[position : match.start()])
        position = match.end()
        if match.group(1) is None:
            continue  # not SGR: cursor moves, titles... dropped
        for code in [int(c) if c else 0 for c in match.group(1).split(";")]:
            if code == 0:
                bold = dim = False
                color = None
            elif code == 1:
                bold = True
            elif code == 2:
                dim = True
            elif code == 22:
                bold = dim = False
            elif 30 <= code <= 37:
                color = code - 30
            elif 90 <= code <= 97:
                color = code - 90 + 8
            elif code == 39:
                color = None
    emit(text[position:])
    return "".join(out)


PAGE = """<!doctype html>
<meta charset="utf-8">
<style>
  body {{ margin: 0; padding: 24px; background: #ffffff; }}
  .window {{ display: inline-block; border-radius: 8px; overflow: hidden;
             box-shadow: 0 4px 18px rgba(0, 0, 0, 0.25); background: #1e1e1e; }}
  .bar {{ height: 28px; background: #323233; display: flex; align-items: center;
          padding-left: 12px; gap: 8px; }}
  .dot {{ width: 12px; height: 12px; border-radius: 50%; }}
  pre {{ margin: 0; padding: 14px 18px 16px; color: #d4d4d4;
         font: 14px/1.35 "DejaVu Sans Mono", "Liberation Mono", monospace; }}
  .cursor {{ background: #d4d4d4; }}
</style>
<div class="window">
  <div class="bar"><span class="dot" style="background:#ff5f56"></span>
  <span class="dot" style="background:#ffbd2e"></span>
  <span class="dot" style="background:#27c93f"></span></div>
  <pre>{body}<span class="cursor"> </span></pre>
</div>
"""


def screenshot(page_html: str, output: Path) -> None:
    """Render ``page_html`` in the system's Chromium and save the window as a PNG."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            headless=True,
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800}, device_scale_factor=2)
            page.set_content(page_html)
            page.locator(".window").screenshot(path=str(output))
        finally:
            browser.close()


def main() -> None:
    """Capture the question, write the PNG (``--html`` also keeps the page)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--html", type=Path, help="also write the HTML page here")
    args = parser.parse_args()

    prompt = "\x1b[1m$\x1b[0m acme " + " ".join(COMMAND) + "\n"
    page_html = PAGE.format(body=to_html(prompt + capture().strip("\n")))
    if args.html:
        args.html.write_text(page_html, encoding="utf-8")
    screenshot(page_html, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
