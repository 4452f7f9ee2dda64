"""`make demo`: crash the example host with telemetry on, then show the report it wrote.

The report is shown as a person reads it (``acme telemetry show``); its exact OTLP/JSON
(``show --json``) is what the checks at the end read.

No network and no question: stdin is closed, consent comes from ``ACME_TELEMETRY=1`` and
the report goes to the embedded default, the ``file`` exporter, in a throwaway config dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

URL = "https://alice:s3cret-pass@intranet.example.com/reports?token=abc123"
EMAIL = "alice.smith@example.com"


def _acme(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    acme = Path(sys.executable).with_name("acme")
    return subprocess.run(
        [str(acme), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="acme-demo-") as config_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ACME_", "OTEL_"))}
        env.update(ACME_TELEMETRY="1", ACME_CONFIG_DIR=config_dir)
        env.pop("DO_NOT_TRACK", None)

        print(f"$ ACME_TELEMETRY=1 acme crawl '{URL}' --contact {EMAIL} < /dev/null")
        crash = _acme(["crawl", URL, "--contact", EMAIL], env)
        print(f"  exit {crash.returncode}; the user still sees their own error:")
        print("  " + crash.stderr.strip().splitlines()[-1])

        print("\n$ acme telemetry show   # the scrubbed report, as the file exporter kept it")
        shown = _acme(["telemetry", "show"], env)
        print(shown.stdout)
        exact = _acme(["telemetry", "show", "--json"], env)  # every byte that was kept

        checks = {
            "URL with credentials": URL,
            "URL host": "intranet.example.com",
            "password": "s3cret-pass",
            "email": EMAIL,
            "home path": str(Path.home()),
        }
        try:
            report_written = exact.returncode == 0 and "resourceSpans" in json.loads(exact.stdout)
        except ValueError:
            report_written = False
        kept = shown.stdout + exact.stdout
        leaks = [label for label, text in checks.items() if text in kept]
        print("What the crash message held, and whether the report holds it:")
        for label in checks:
            print(f"  {label:<22} {'LEAKED' if label in leaks else 'removed'}")
        if not report_written:
            print("No report was written.", file=sys.stderr)
            return 1
        return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
