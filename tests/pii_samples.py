"""Personal data samples that must never leave, shared by the library and collector tests.

Each sample is ``(rule, text)``: ``text`` is what must disappear when it is embedded in
a longer string (an exception message, an attribute value, a JSON document).
"""

from __future__ import annotations

PII_SAMPLES: list[tuple[str, str]] = [
    ("email", "alice.smith+crawl@example.co.uk"),
    ("email", "bob@intranet.example"),
    ("url", "https://alice:s3cret@intranet.example.com/reports?token=abc123"),
    ("url", "postgres://admin:hunter2@db.internal:5432/app"),
    ("url", "ftp://files.example.org/private/report.pdf"),
    ("path", "/home/alice/projects/secret-plan.txt"),
    ("path", "/Users/bob/Library/Application Support"),
    ("path", "C:\\Users\\carol\\AppData\\Local\\acme.log"),
    ("ipv4", "192.168.1.23"),
    ("ipv4", "10.0.0.1"),
    ("ipv6", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("ipv6", "fe80::1ff:fe23:4567:890a"),
    ("mac", "00:1A:2B:3C:4D:5E"),
    ("bearer", "Bearer abcdef0123456789abcdef"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("aws", "AKIAIOSFODNN7EXAMPLE"),
    ("github", "ghp_" + "a1B2c3D4e5" * 4),
    ("slack", "xoxb-1234567890-0987654321-AbCdEfGhIjKl"),
    ("openai", "sk-proj-" + "Q" * 24),
    ("google", "AIza" + "SyD-9tSrke72PouQMnMX" + "x" * 15),
    ("stripe", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    ("secret pair", "password=hunter2"),
    ("secret pair", "api_key: 9f8e7d6c5b4a"),
    ("secret pair", "token=0123456789abcdef"),
]

# What survives of a secret pair is its key; the value is the personal part.
SENSITIVE_PART = {
    "password=hunter2": "hunter2",
    "api_key: 9f8e7d6c5b4a": "9f8e7d6c5b4a",
    "token=0123456789abcdef": "0123456789abcdef",
}

BENIGN_TRACEBACK = """Traceback (most recent call last):
  File "acme/crawler.py", line 35, in _fetch
  File "json/decoder.py", line 337, in JSONDecoder.decode
  File "std::vector<int>::at", line 12, in native
ValueError: Expecting value: line 1 column 1 (char 0) in acme 1.4.0 (Python 3.11.7)"""


def embedded(text: str) -> list[str]:
    """Shapes in which a sample reaches a report."""
    return [
        f"could not fetch page for {text} after 3 retries",
        f'{{"detail": "{text}", "attempt": 2}}',
        f"{text}",
    ]
