"""Exception messages for the privacy tests at the receivers (``test_privacy_corpus.py``).

Data only. Each message is what a library would raise: a host package raises it from its
own code, and the test looks for what arrived at a real OTLP receiver and at Spotlight.

``PII`` entries are ``(class, listed, message, sensitive_parts)``:

* ``listed`` is ``True`` for a class README promises to scrub today, ``False`` for a class
  newly promised by issue 15 (phone numbers, UNC paths, internal host names, unlabelled
  AWS secret keys, GitLab/Hugging Face/npm tokens, SSH and PGP keys, connection strings
  without a scheme, data values quoted in messages), ``None`` for a class out of scope
  (person names in prose): both promised kinds must never arrive, the last is only counted.
* ``sensitive_parts`` are exact substrings of ``message`` that must not arrive: for a
  secret pair the value, not the key; for a long secret, pieces of its start and its end
  as well, so a replacement that stops half way is a leak too.

Three values stand for the machine the host runs on: ``HOME`` in a message is replaced
by the host's home directory, ``LOGIN_NAME`` is its user's login name and ``HOST_NAME``
its host name (the test gives the host process those).
"""

from __future__ import annotations

from typing import Optional

Entry = tuple[str, Optional[bool], str, tuple[str, ...]]

HOME = "{home}"
"""Written in a message for this user's home directory, whatever it is on the test run."""
LOGIN_NAME = "mkowalczyk"
HOST_NAME = "grace-thinkpad"


def _pieces(body: str) -> tuple[str, str]:
    """A piece of a key block's first line (past the header every such key starts with)
    and the end of its last line of some length."""
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return body[20:60], (lines[-1] if len(lines[-1]) >= 16 else lines[-2])[-24:]


def _pem(label: str, body: str, newline: str) -> str:
    """An armored key block with 64-character lines, each ended by ``newline``."""
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return newline.join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


_RSA_BODY = (
    "MIIEowIBAAKCAQEA+KCFIEty6IM/VOg80pU2JUTwnZ8FUjnxo6CXAUmSHb1FMNBR/1ai/qOnU5ayvuPHR7TSzls"
    "GEoG/vYbGOeUP5XYOew3+5+chwmee7x4p8wFx7OeJsmWRQ7e3GSXwlXrzKJv52OCSixbRv4iOZPvpwWYyi1MhH9a"
    "J8H1nlniYwSEDX3CJb2FoNVrjZ1+/MBK4fK2UGhXHhWNLqVsoSe8r4T0vRRGfQAANeB2ChqpKO5OXtTEqxKr+2Wj"
    "FdeuLCgQ9d5fD4qzs/EairOrDwWRNlDHAYoSCun0st5EXkZSTpKVLYSfBRSMr7J2wATDvI8lRl0+p3qQ9iyvZvaO"
)
_PKCS8_BODY = (
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASC1UV+9VHEE5XiBvqny9bp/4Pmq5j4aUx/RqnGEvpvFbcY8KyU7OXTdXkP"
    "iTx+EZT83W3jte0583nYdIBRvRDSOkXtoTqP98JgPMP7I0hUHE2aVChBYdItkeg7+x8bsw1M4jqER/Ovwp5+WGuJ"
    "vStHs1wdctvrUaY8mbvJxvh5oX3EjaxcQE9Nfq+Ovewb+Xn/aJfcWYOiZO2nfUJt5Jvm0Kw+pYtiBg16uvVRmaAZ"
)
_GCP_BODY = (
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCdzheNkQnQoBVXP9VW6dfnibMe3B5O69aDZLMQABIPUoSoHeRf6WCVEOk"
    "zhJEQSBfokhmbGXELmi3fVF1fI3AQi7XqJoomCPn+sibJNB3rbi2udSnZJUhm085TXb0pKqEV7zW7Kic+xP8slMj"
    "V27kB8LvombumYBfuh1uyAS3Z9pmkW3vKQlAuH4yb897NiMKpWrT440+L8hNpiRwA6XB9HOXyTldxCiujPwKQlxz"
)
_OPENSSH_BODY = (
    "b3BlbnNzaC1rZXktdjEApCvmMObe0exKAfnf3yKzdW5vQFMbsx44EVF2PcbcBc0L3kTVNr+qFOq7usaPwnAkIxPd"
    "q/aA8737MJ3LolUPNis/yJ5/InpQDUAenzgeYVayChtkxYbRCm7GnSxrttaCwVot7tdHhXu0MWYbAW1WeWhox8WI"
)
_PGP_PRIVATE_BODY = (
    "lQOYBGX9hBl9BT7PdgNY2oB1omtr99PeONUym/iD2o8s6iCA8M+UILLSwf8T58iwtA1i/EzsryNFCvWCr25gqsC9"
    "lvTrgSBevXVHSCwgYvpSfRMBEloOzuuttWEikUgIAs7KaEH061gDRxXiNc8uHZr1Chlm5YuTckwWmGWDraQS39g"
)
_PGP_PUBLIC_BODY = (
    "mQENBGX9Ql6kv6EW8fp0FNaiZgpFPEdPlxCjEQmMzL1u7gyrSglWIFjsT02ERT1lVue3vqEQ5BSQtI5R2bTcQ7Y"
    "BpAO2QONMXHF/M7/FJHHkL2eyDuBhv6Y6x39n2LtddHo3O46g2bDJ2ppOBERPQcSkhdAcvLjdifp1oR8r"
)
_SSH_RSA = (
    "AAAAB3NzaC1yc2ETiAgGUgCkpI1oZ9995UwDmVY+O+q1xyCHnxdEiyHbaciGVPyHOr49bKil18zpipjYeu4omhQW"
    "qKR20NkWyuyOeO9XQvVCr/Ah2VGgrT5tsV3/yNB8dnqIIkoiEqRuTvEa8Q8vwEGx03E6kiAo139qiruJJAXllho="
)
_GCP_KEY_ID = "e5867b3887acda2961a830a45b4408243a4d92fd"
_JWT_RS = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJ1c2VyLTQ0MTEiLCJlbWFpbF92ZXJpZmllZCI6dHJ1ZSwiZXhwIjoxNzAwMDAwMDAwfQ"
    ".TlXrDCwGSZHmZ-NJiUHm33xAZuAqKQ2Nc7ZDIc6bb61"
)
_JWT_HS = (
    "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiI4ODEyIiwicm9sZSI6ImFkbWluIn0"
    ".i-Fawhs57AoUc9yBgTB2yhhC2rqB3zJE4rkdXaeGLym"
)
_JWT_ES = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJhdWQiOiJiaWxsaW5nIiwidWlkIjo5OTAxN30"
    ".k_Rr2Uep-XCx_6_kDs-5EzTrwPm--6DWY9m_LbWpQRYYnhfaMI0xzHfC8Ul5LdqDJqSlQNAzXu4JdeDiHVm3gN"
)
_ANTHROPIC = (
    "sk-ant-api03-BmiGAj4uDPuhV1C1vVsw9877v3i2J4Fd5QZvea64dR57HX64ZpvO59Q7kBCvZnZQP5GwI1pMCIu"
    "HLt5Et9pFBY-BoNs0AAA"
)
_GITHUB_PAT = (
    "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"
)

PII: list[Entry] = [
    # --- emails ---
    ("email", True, "'alice@corp.example' is not allowed", ("alice@corp.example",)),
    (
        "email",
        True,
        "550 mailbox unavailable for rhopkins+billing@navy-research.org",
        ("rhopkins+billing", "navy-research.org"),
    ),
    (
        "email",
        True,
        "could not deliver digest to jürgen.müller@beispiel-firma.de: 552 mailbox full",
        ("jürgen", "müller@", "beispiel-firma.de"),
    ),
    (
        "email",
        True,
        "invitation for sofia.kuznetsova@bücher-café.example bounced",
        ("sofia.kuznetsova", "café.example"),
    ),
    ("email", True, "user kenji@xn--eckwd4c7c.xn--zckzah was rejected", ("kenji@xn--eckwd4c7c",)),
    (
        "email",
        True,
        "GET /api/users/lena.schmidt%40example.org/avatar returned 404",
        ("lena.schmidt", "40example.org"),
    ),
    (
        "email",
        True,
        '{"error": "duplicate key", "email": "omar.farouk@mailbox.example.net"}',
        ("omar.farouk", "mailbox.example.net"),
    ),
    (
        "email",
        True,
        'recipient "Priya Raman" <priya.raman@vendor.example.io> was rejected',
        ("priya.raman@", "vendor.example.io"),
    ),
    (
        "email",
        True,
        "Invalid recipient: MARK.O'NEIL@EXAMPLE-BANK.COM",
        ("MARK.O'NEIL", "EXAMPLE-BANK.COM"),
    ),
    # --- URLs ---
    (
        "url",
        True,
        "could not fetch https://dwright:s3cret-Pw9@reports.intranet-acme.com/q3?token=tk4411zz: timed out",
        ("s3cret-Pw9", "reports.intranet-acme.com", "tk4411zz"),
    ),
    (
        "url",
        True,
        "Error 111 connecting to redis://:R3dis-Pa55@cache-7.prod.example.net:6379/0. Connection refused.",
        ("R3dis-Pa55", "cache-7.prod.example.net"),
    ),
    (
        "url",
        True,
        "An error occurred (AccessDenied) when calling the GetObject operation: "
        "s3://acme-customer-exports/2024/invoices-q3.csv",
        ("acme-customer-exports", "invoices-q3.csv"),
    ),
    (
        "url",
        True,
        "file:///Users/nadia.haddad/Desktop/contracts/nda-signed.pdf could not be opened",
        ("nadia.haddad", "nda-signed.pdf"),
    ),
    (
        "url",
        True,
        "OAuth redirect failed: https://portal.example.org/sso/callback?code=4/0AbCdEfGh7&state=st8812xq",
        ("portal.example.org", "4/0AbCdEfGh7", "st8812xq"),
    ),
    (
        "url",
        True,
        "webhook http://192.168.50.12:8080/hooks/deploy?secret=q9w8e7r6t5 returned 500",
        ("192.168.50.12", "q9w8e7r6t5"),
    ),
    (
        "url",
        True,
        "Could not open JDBC connection "
        "jdbc:postgresql://pg-primary.example.com:5432/ledger?user=svc_ledger&password=Winter2024!x",
        ("pg-primary.example.com", "svc_ledger", "Winter2024!x"),
    ),
    (
        "url",
        True,
        "Cannot connect to proxy http://pxadmin:Px-77secret@proxy.example.net:3128",
        ("pxadmin", "Px-77secret"),
    ),
    # --- home-directory paths ---
    (
        "home path",
        True,
        "[Errno 13] Permission denied: '/home/dkarlsson/notes/merger-plan.md'",
        ("dkarlsson", "merger-plan.md"),
    ),
    (
        "home path",
        True,
        "plugin directory /Users/tanakayuki/Library/Application Support/acme/plugins is not writable",
        ("tanakayuki",),
    ),
    (
        "home path",
        True,
        "database is locked: C:\\Users\\hfischer\\AppData\\Local\\acme\\cache.db",
        ("hfischer",),
    ),
    (
        "home path",
        True,
        "cannot open c:\\users\\rvasquez\\documents\\budget-2025.xlsx",
        ("rvasquez", "budget-2025.xlsx"),
    ),
    (
        "home path",
        True,
        "cannot read /mnt/c/Users/eokonkwo/Downloads/statement-march.pdf: Permission denied",
        ("eokonkwo", "statement-march.pdf"),
    ),
    (
        "home path",
        True,
        "config not readable: /var/home/lpetrova/.config/acme/settings.toml",
        ("lpetrova",),
    ),
    ("home path", True, "/export/home/jmbeki/acme.log: Disk quota exceeded", ("jmbeki",)),
    (
        "home path",
        True,
        "private key file /home/wchen88/.ssh/id_ed25519 has insecure permissions",
        ("wchen88",),
    ),
    (
        "home path",
        True,
        'error in plugin File "/Users/amelie.dubois/dev/acme-plugins/hook.py", line 12',
        ("amelie.dubois",),
    ),
    (
        "home path",
        True,
        "output path C:/Users/sgupta/Projects/acme/out.json already exists",
        ("sgupta",),
    ),
    (
        "home path",
        True,
        r"can't open file 'C:\\Users\\mnakamura\\Documents\\run.py': [Errno 2] No such file or directory",
        ("mnakamura",),
    ),
    ("home path", True, f"{HOME}/.cache/acme/pages/index.db is corrupt", (HOME,)),
    # --- this user's login name and this machine's name ---
    (
        "user name",
        True,
        f'FATAL:  password authentication failed for user "{LOGIN_NAME}"',
        (LOGIN_NAME,),
    ),
    ("user name", True, f"lock file held by {LOGIN_NAME} (pid 4411) since 09:12", (LOGIN_NAME,)),
    (
        "user name",
        True,
        f"{LOGIN_NAME} is not in the sudoers file.  This incident will be reported.",
        (LOGIN_NAME,),
    ),
    ("host name", True, f"worker on {HOST_NAME} stopped responding after 30s", (HOST_NAME,)),
    ("host name", True, f"lease held by {HOST_NAME}:51234 expired", (HOST_NAME,)),
    (
        "host name",
        True,
        f"ssh: connect to host {HOST_NAME} port 22: Connection refused",
        (HOST_NAME,),
    ),
    # --- IP addresses ---
    ("ipv4", True, "could not reach server 10.1.2.3:5432", ("10.1.2.3",)),
    (
        "ipv4",
        True,
        "deploy to dev 172.16.254.7 failed: host key verification failed",
        ("172.16.254.7",),
    ),
    ("ipv4", True, "health check failed for env=10.44.0.19 (staging)", ("10.44.0.19",)),
    ("ipv4", True, "Connection to 203.0.113.45 timed out. (connect timeout=10)", ("203.0.113.45",)),
    (
        "ipv4",
        True,
        "request blocked: X-Forwarded-For: 198.51.100.23, 10.0.0.57",
        ("198.51.100.23", "10.0.0.57"),
    ),
    ("ipv4", True, '{"client_ip": "100.64.12.9", "status": 403}', ("100.64.12.9",)),
    (
        "ipv4",
        True,
        "upstream 10.11.12.13 sent invalid header while reading response header",
        ("10.11.12.13",),
    ),
    (
        "ipv4",
        True,
        "MySQL server version 5.7.44 at 10.9.8.7 refused the handshake",
        ("10.9.8.7",),
    ),
    (
        "ipv4",
        True,
        "Cannot connect to host 192.168.1.201:8443 ssl:default "
        "[Connect call failed ('192.168.1.201', 8443)]",
        ("192.168.1.201",),
    ),
    (
        "ipv6",
        True,
        "connect to [2001:db8:85a3::8a2e:370:7334]:443 failed: Network is unreachable",
        ("2001:db8:85a3::8a2e:370:7334",),
    ),
    ("ipv6", True, "no route to fe80::1ff:fe23:4567:890a%eth0", ("fe80::1ff:fe23:4567:890a",)),
    (
        "ipv6",
        True,
        "client ::ffff:192.0.2.128 rejected by allow-list",
        ("192.0.2.128",),
    ),
    ("ipv6", True, "peer 2606:4700:4700::1111 reset the connection", ("2606:4700:4700::1111",)),
    # --- MAC addresses ---
    ("mac", True, "DHCP lease for 3c:22:fb:9a:41:0e expired", ("3c:22:fb:9a:41:0e",)),
    ("mac", True, "adapter 8C-85-90-1A-2B-3C is disabled", ("8C-85-90-1A-2B-3C",)),
    ("mac", True, "port security violation on 0050.56a3.7f1e", ("0050.56a3.7f1e",)),
    # --- cards, IBANs, SSNs ---
    ("card", True, "payment declined for card 4111 1111 1111 1111", ("4111 1111 1111 1111",)),
    ("card", True, "card 5500-0000-0000-0004 has expired", ("5500-0000-0000-0004",)),
    ("card", True, "charge failed for 378282246310005 (amex)", ("378282246310005",)),
    (
        "card",
        True,
        '{"order": 1182, "pan": 4012888888881881, "amount": 25.0}',
        ("4012888888881881",),
    ),
    (
        "card",
        True,
        'gateway said {"error": {"type": "card_error", "number": 6011111111111117, '
        '"decline_code": "do_not_honor"}}',
        ("6011111111111117",),
    ),
    (
        "iban",
        True,
        "SEPA transfer rejected: IBAN DE89 3704 0044 0532 0130 00 is blocked",
        ("DE89 3704 0044 0532 0130 00", "0532 0130"),
    ),
    ("iban", True, "account GB82WEST12345698765432 is closed", ("GB82WEST12345698765432",)),
    (
        "iban",
        True,
        "creditor FR1420041010050500013M02606 unknown",
        ("FR1420041010050500013M02606",),
    ),
    ("ssn", True, "duplicate SSN 536-22-8146 in applicant file", ("536-22-8146",)),
    (
        "ssn",
        True,
        'validation failed for {"applicant": 7781, "tax_id": "401-62-9933"}',
        ("401-62-9933",),
    ),
    # --- Bearer and Basic credentials, JWTs ---
    (
        "bearer",
        True,
        "401 Client Error: Unauthorized (Authorization: Bearer ya29.a0AfH6SMBx3kQz9Lr7Tp)",
        ("ya29.a0AfH6SMBx3kQz9Lr7Tp",),
    ),
    (
        "bearer",
        True,
        "rejected header 'authorization: bearer 8f3kd93kdl20sk3ls0wq'",
        ("8f3kd93kdl20sk3ls0wq",),
    ),
    (
        "basic",
        True,
        "Authorization: Basic bWtyYXVzZTpLcjR1c2UtUGFzcyE= rejected by proxy",
        ("bWtyYXVzZTpLcjR1c2UtUGFzcyE",),
    ),
    (
        "basic",
        True,
        "407 Proxy Authentication Required (Proxy-Authorization: basic cHJveHl1c2VyOlB4OS1zZWNyZXQ=)",
        ("cHJveHl1c2VyOlB4OS1zZWNyZXQ",),
    ),
    ("jwt", True, f"token expired: {_JWT_RS}", (_JWT_RS[37:117], _JWT_RS[-20:])),
    ("jwt", True, f"invalid cookie id_token={_JWT_HS}; path=/", (_JWT_HS[21:61], _JWT_HS[-20:])),
    (
        "jwt",
        True,
        f'{{"access_token": "{_JWT_ES}", "expires_in": 3600}}',
        (_JWT_ES[36:76], _JWT_ES[-20:]),
    ),
    # --- well-known key prefixes ---
    (
        "aws access key",
        True,
        "InvalidClientTokenId: The security token included in the request is invalid "
        "(AKIAFIDW7Q76D26BJA24)",
        ("AKIAFIDW7Q76D26BJA24",),
    ),
    (
        "aws access key",
        True,
        "ExpiredToken for session credentials ASIAOJK6YPO1V5DH8LZS",
        ("ASIAOJK6YPO1V5DH8LZS",),
    ),
    (
        "github token",
        True,
        "401 Bad credentials for ghp_9naHVck6pbd4ZRj2SxphvDTwrzqwo72n3wZu",
        ("9naHVck6pbd4ZRj2SxphvDTwrzqwo72n3wZu",),
    ),
    (
        "github token",
        True,
        f"remote: Invalid username or token {_GITHUB_PAT}",
        (_GITHUB_PAT[11:40], _GITHUB_PAT[-20:]),
    ),
    (
        "slack token",
        True,
        "invalid_auth: token xoxb-63654806063-11615544666-1q79VfsecC5d8qk0FKE3FcGd was revoked",
        ("1q79VfsecC5d8qk0FKE3FcGd",),
    ),
    (
        "slack token",
        True,
        "xoxp-87660407492-74253941473-90552535588-e8201acdb19e90dc0bc0487faa7afa0b "
        "is not allowed to post in #payroll",
        ("e8201acdb19e90dc0bc0487faa7afa0b", "87660407492-74253941473"),
    ),
    (
        "openai key",
        True,
        "Error code: 401 - Incorrect API key provided: "
        "sk-proj-Sov7d2lP3GU8g1UKzv352ivguvDVNJNEK6hz7YLagY2jTPD1.",
        ("Sov7d2lP3GU8g1UKzv352ivguvDVNJNEK6hz7YLagY2jTPD1",),
    ),
    (
        "openai key",
        True,
        "OpenAI key sk-kPmLIJNWuxzoJPHOhHUDLk1TRX6vD3MKQ9AbrviWrwldD6SL has no quota left",
        ("kPmLIJNWuxzoJPHOhHUDLk1TRX6vD3MKQ9AbrviWrwldD6SL",),
    ),
    (
        "anthropic key",
        True,
        f"authentication_error: invalid x-api-key {_ANTHROPIC}",
        (_ANTHROPIC[13:50], _ANTHROPIC[-20:]),
    ),
    (
        "google api key",
        True,
        "API key not valid. Please pass a valid API key. (AIza8Z8CPWTRWQQmq_CDjwNGBE_G_xE-VuBQofH)",
        ("8Z8CPWTRWQQmq_CDjwNGBE_G_xE-VuBQofH",),
    ),
    (
        "stripe key",
        True,
        "Invalid API Key provided: sk_live_51Xdocw2zvHsLOL6uuxAPJ7OyWa62E4V",
        ("51Xdocw2zvHsLOL6uuxAPJ7OyWa62E4V",),
    ),
    (
        "stripe key",
        True,
        "restricted key rk_live_511KOoASeQ6kBihdNfcOyVMIZBwjmIw6 lacks permission charges:write",
        ("511KOoASeQ6kBihdNfcOyVMIZBwjmIw6",),
    ),
    # --- PEM private keys ---
    (
        "pem private key",
        True,
        "Could not deserialize key data:\n" + _pem("RSA PRIVATE KEY", _RSA_BODY, "\n"),
        _pieces(_RSA_BODY),
    ),
    (
        "pem private key",
        True,
        'invalid key "' + _pem("PRIVATE KEY", _PKCS8_BODY, "\\n") + '\\n" in ACME_SIGNING_KEY',
        _pieces(_PKCS8_BODY),
    ),
    (
        "pem private key",
        True,
        "Could not deserialize key data. Service account info: "
        '{"type": "service_account", "project_id": "acme-prod-4411", '
        f'"private_key_id": "{_GCP_KEY_ID}", '
        '"private_key": "' + _pem("PRIVATE KEY", _GCP_BODY, "\\n") + '\\n", '
        '"client_email": "crawler-sa@acme-prod-4411.iam.gserviceaccount.com", '
        '"client_id": "104729384756102938475"}',
        (*_pieces(_GCP_BODY), _GCP_KEY_ID, "crawler-sa@acme-prod-4411"),
    ),
    # --- secret key=value pairs: the value must go ---
    ("secret pair", True, "login failed: password=Tr0ub4dor&3 rejected", ("Tr0ub4dor",)),
    (
        "secret pair",
        True,
        "LDAP modify failed: userPassword=Sup3rS3cret!2024",
        ("Sup3rS3cret",),
    ),
    (
        "secret pair",
        True,
        "refresh failed for accessToken=at4Kq9Zr2Lm8Xw1Pv",
        ("at4Kq9Zr2Lm8Xw1Pv",),
    ),
    (
        "secret pair",
        True,
        "command failed: PGPASSWORD=pg-Secr3t-77 psql -h db -U app",
        ("pg-Secr3t-77",),
    ),
    (
        "secret pair",
        True,
        'config error: password = "correct horse battery staple"',
        ("correct horse", "battery staple"),
    ),
    (
        "secret pair",
        True,
        "DB_PASSWORD='my secret pass 42' is too weak",
        ("my secret pass", "pass 42"),
    ),
    (
        "secret pair",
        True,
        'pg_dump: error: --password="Summer Holidays 24" is not accepted',
        ("Summer Holidays",),
    ),
    (
        "secret pair",
        True,
        '{"api_key": "ak_live_7Hj3Kl9Qw2", "region": "eu-west-1"}',
        ("ak_live_7Hj3Kl9Qw2",),
    ),
    (
        "secret pair",
        True,
        "invalid_client: client_secret=Qw7-Er8_Ty9.Ui0 does not match",
        ("Qw7-Er8_Ty9.Ui0",),
    ),
    (
        "secret pair",
        True,
        "Cookie: sessionid=xk29Lm4Qp7ZrT8vN; csrftoken=Hq81Lw0Zm3Yt",
        ("xk29Lm4Qp7ZrT8vN", "Hq81Lw0Zm3Yt"),
    ),
    ("secret pair", True, "X-API-Key: live_kx82mQ7zPw was rejected", ("live_kx82mQ7zPw",)),
    (
        "secret pair",
        True,
        "missing setting; the environment had AUTH_TOKEN=tok93jf8Kd2Lq",
        ("tok93jf8Kd2Lq",),
    ),
    (
        "secret pair",
        True,
        '{"password": "open sesame 99", "user": "svc"}',
        ("open sesame",),
    ),
    # --- newly promised: phone numbers in international format ---
    ("phone", False, "SMS to +1 415 555 0132 failed: unreachable handset", ("415 555 0132",)),
    ("phone", False, "callback number +44 20 7946 0958 is invalid", ("20 7946 0958",)),
    (
        "phone",
        False,
        "Twilio error 21211: '+819012345678' is not a valid phone number",
        ("819012345678",),
    ),
    ("phone", False, "fax to +49 30 901820-44 failed with status busy", ("901820-44",)),
    ("phone", False, "could not dial tel:+33-1-42-68-53-00", ("42-68-53-00",)),
    # --- newly promised: Windows UNC paths ---
    (
        "unc path",
        False,
        r"cannot open \\fileserver01\users\grace\taxes\2023-return.pdf: access denied",
        ("fileserver01", "2023-return.pdf"),
    ),
    (
        "unc path",
        False,
        r"[WinError 53] The network path was not found: "
        r"'\\\\fs-legal\\users\\okafor\\contracts\\nda-acme.docx'",
        ("fs-legal", "nda-acme.docx"),
    ),
    (
        "unc path",
        False,
        r"backup target \\nas-02.corp.example\finance$\q3-close is offline",
        ("nas-02", r"finance$\q3-close"),
    ),
    (
        "unc path",
        False,
        r"share \\fs-hq\home$\lnguyen\Desktop is not reachable",
        ("fs-hq", "lnguyen"),
    ),
    # --- newly promised: internal host names ---
    (
        "internal host",
        False,
        "artifact upload to build-07.corp.example.com timed out",
        ("build-07",),
    ),
    (
        "internal host",
        False,
        "could not connect to ip-172-31-22-33.us-west-2.compute.internal:9200",
        ("ip-172-31-22-33",),
    ),
    (
        "internal host",
        False,
        "mDNS lookup for Kims-MacBook-Pro.local failed",
        ("Kims-MacBook-Pro",),
    ),
    ("internal host", False, "printer hp-laserjet-3f.lan is offline", ("hp-laserjet-3f",)),
    ("internal host", False, "wiki.hr.intranet returned 502 Bad Gateway", ("wiki.hr.intranet",)),
    ("internal host", False, "LDAP bind to dc01.ad.acme.corp failed", ("dc01.ad.acme",)),
    # --- newly promised: unlabelled AWS secret keys ---
    (
        "aws secret key",
        False,
        "could not sign request with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",),
    ),
    (
        "aws secret key",
        False,
        "credentials line 3 has a malformed value OnItbFG4sYKjWCg+SvwzonLVxEqL3r9FcreV2k9Q",
        ("OnItbFG4sYKjWCg+SvwzonLVxEqL3r9FcreV2k9Q",),
    ),
    # --- newly promised: GitLab, Hugging Face, npm tokens ---
    (
        "gitlab token",
        False,
        "401 Unauthorized: token glpat-vUh6h-QvEZU4YUWisJEp is revoked",
        ("vUh6h-QvEZU4YUWisJEp",),
    ),
    (
        "gitlab token",
        False,
        "git clone failed: remote: HTTP Basic: Access denied for glpat-genznueBwnc0UySmBJUA",
        ("genznueBwnc0UySmBJUA",),
    ),
    (
        "huggingface token",
        False,
        "Invalid user token 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",
        ("bKYPbWajfgEulHATDTIchTgyjZYbiFstJt",),
    ),
    (
        "huggingface token",
        False,
        "HF_TOKEN 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 has no access to gated repo",
        ("uxDNGpeYjtyvIFOBrHltCsoaxyQozxOqea",),
    ),
    (
        "npm token",
        False,
        "npm ERR! 401 Unauthorized - token npm_m7exW0cQt1Go5RZ5tbalWjV27ZidQMNW442u is invalid",
        ("m7exW0cQt1Go5RZ5tbalWjV27ZidQMNW442u",),
    ),
    (
        "npm token",
        False,
        ".npmrc line 2: //registry.npmjs.org/:_authToken=npm_Xm2ufRrM85OjZHd419oNH5PblgMq53nTmBs6",
        ("Xm2ufRrM85OjZHd419oNH5PblgMq53nTmBs6",),
    ),
    # --- newly promised: SSH and PGP keys ---
    (
        "ssh key",
        False,
        f"authorized_keys line 4 rejected: ssh-rsa {_SSH_RSA} nkumar@build-box",
        (_SSH_RSA[20:60], _SSH_RSA[-40:], "nkumar@build-box"),
    ),
    (
        "ssh key",
        False,
        "unknown public key ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIJyGteds0YWPRhf3B11CE2AMoDFRbgrwmk0cPdnuDzo9 for user deploy",
        ("IJyGteds0YWPRhf3B11CE2AMoDFRbgrwmk0cPdnuDzo9",),
    ),
    (
        "ssh key",
        False,
        'Load key "deploy_key": invalid format\n'
        + _pem("OPENSSH PRIVATE KEY", _OPENSSH_BODY, "\n"),
        _pieces(_OPENSSH_BODY),
    ),
    (
        "pgp key",
        False,
        "gpg: decryption failed:\n"
        + _pem("PGP PRIVATE KEY BLOCK", _PGP_PRIVATE_BODY, "\n").replace("-----\n", "-----\n\n", 1),
        _pieces(_PGP_PRIVATE_BODY),
    ),
    (
        "pgp key",
        False,
        "key import failed: " + _pem("PGP PUBLIC KEY BLOCK", _PGP_PUBLIC_BODY, "\\n"),
        _pieces(_PGP_PUBLIC_BODY),
    ),
    # --- newly promised: connection strings without a scheme ---
    (
        "connection string",
        False,
        "connection to server failed: host=db.internal user=bob_reports port=5432 "
        "password=Kx8!mQ2zL dbname=crm",
        ("db.internal", "bob_reports", "Kx8!mQ2zL"),
    ),
    (
        "connection string",
        False,
        "Login failed: Server=sql-prod.corp;Database=Payroll;User Id=svc_payroll;Password=Pr0d#Pay!77;",
        ("sql-prod.corp", "svc_payroll", "Pr0d#Pay!77"),
    ),
    (
        "connection string",
        False,
        "could not connect with dsn 'dbname=analytics user=etl_writer password=et1-Wr!ter "
        "host=10.3.3.9'",
        ("etl_writer", "et1-Wr!ter", "10.3.3.9"),
    ),
    (
        "connection string",
        False,
        "Data Source=tcp:reporting.database.windows.net,1433;Initial Catalog=sales;"
        "User ID=rpt_reader;Password=Rp7-reader-pw",
        ("rpt_reader", "Rp7-reader-pw"),
    ),
    # --- newly promised: data values quoted in messages ---
    (
        "value",
        False,
        "'customer-ACME-4411' is not a valid CacheMode",
        ("customer-ACME-4411",),
    ),
    (
        "value",
        False,
        "[Errno 2] No such file or directory: 'q3-results.xlsx'",
        ("q3-results.xlsx",),
    ),
    (
        "value",
        False,
        "invalid request body: {'name': 'Grace Hopper', 'plan': 'pro'}",
        ("Grace Hopper",),
    ),
    (
        "value",
        False,
        "invalid literal for int() with base 10: '42 Wallaby Way'",
        ("42 Wallaby Way",),
    ),
    ("value", False, "could not convert string to float: '1,234.56 EUR'", ("1,234.56 EUR",)),
    (
        "value",
        False,
        "unexpected tags ['vip customer', 'churn-risk', 'acct 99812']",
        ("vip customer", "churn-risk", "acct 99812"),
    ),
    (
        "value",
        False,
        "cannot parse b'order #55102 shipped to Osaka'",
        ("order #55102", "shipped to Osaka"),
    ),
    (
        "value",
        False,
        'unknown product "Premium Plan (annual) - Contoso Ltd"',
        ("Premium Plan", "Contoso Ltd"),
    ),
    (
        "value",
        False,
        "duplicate key value violates unique constraint: ('ACME-INV-2024-0091', 'Fabrikam GmbH')",
        ("ACME-INV-2024-0091", "Fabrikam GmbH"),
    ),
    (
        "value",
        False,
        "'gold customer since 2019' is not a valid Tier",
        ("gold customer since 2019",),
    ),
    (
        "value",
        False,
        "{'key accounts', 'north-east region'} is not a subset of the known segments",
        ("key accounts", "north-east region"),
    ),
    (
        "value",
        False,
        "field shipping_address got 'Flat 3, 12 Baker Street'",
        ("Flat 3", "12 Baker Street"),
    ),
    # --- out of scope: person names in prose (counted, not promised) ---
    (
        "person name",
        None,
        "could not generate invoice for Henrietta Vasquez-Lindqvist",
        ("Henrietta Vasquez-Lindqvist",),
    ),
    (
        "person name",
        None,
        "assigned reviewer Tomasz Wiśniewski is on leave until next week",
        ("Tomasz Wiśniewski",),
    ),
    # --- what the first red team of issue 15 got through, each a spelling of a class ---
    (
        "home path",
        True,
        "cannot export /home/alice/projects/acme/exports/q3" + "x" * 30 + ".csv",
        ("/home/alice", "q3" + "x" * 30),
    ),
    ("ssn", True, "SSN 123-45-6789 1987 does not match", ("123-45-6789",)),
    ("secret pair", True, "login failed: db_pass=Kx9fWq2mZ rejected", ("Kx9fWq2mZ",)),
    ("secret pair", True, "wrong password 'Summer2024' for account", ("Summer2024",)),
    (
        "secret pair",
        True,
        "storage: AccountKey=Zm9vYmFyYmF6cXV4MTIz; refused",
        ("Zm9vYmFyYmF6cXV4MTIz",),
    ),
    ("secret pair", True, "cookie JSESSIONID=8F3A2B1C9D0E7F6A expired", ("8F3A2B1C9D0E7F6A",)),
    ("secret pair", True, "run with --password Hunter2Secret failed", ("Hunter2Secret",)),
    ("secret pair", True, "x pass\u200bword=Zw1dthSecret y", ("Zw1dthSecret",)),
    ("email", True, "bounce for grace\\u0040navy-research.org", ("navy-research.org",)),
    ("email", True, "bounce for grace&#64;navy-research.org", ("navy-research.org",)),
    ("home path", True, "scratch /nfs/home/ghopper/runs/7 missing", ("ghopper",)),
    (
        "home path",
        True,
        "share //fileserver01/users/grace/q3.xlsx locked",
        ("fileserver01", "grace/q3"),
    ),
    ("card", True, "card 4111.1111.1111.1111 declined", ("4111.1111.1111.1111",)),
    ("ipv4", True, "peer release 203.0.113.45 timed out", ("203.0.113.45",)),
    ("ipv4", True, "ran curl -v 192.168.1.23 and got 502", ("192.168.1.23",)),
    ("value", False, "invalid name \u2018Grace Hopper\u2019 in roster", ("Grace Hopper",)),
    ("value", False, "invalid name `Grace Hopper` in roster", ("Grace Hopper",)),
    (
        "person name",
        None,
        "Dear Amara Okafor, your export could not be completed",
        ("Amara Okafor",),
    ),
    ("person name", None, "record locked by Jean-Luc Moreau since 09:14", ("Jean-Luc Moreau",)),
]

RAISES: dict[str, str] = {
    "email": "ValueError",
    "url": "ConnectionError",
    "home path": "PermissionError",
    "user name": "PermissionError",
    "host name": "TimeoutError",
    "ipv4": "ConnectionError",
    "ipv6": "ConnectionError",
    "mac": "RuntimeError",
    "card": "PaymentError",
    "iban": "PaymentError",
    "ssn": "ValueError",
    "bearer": "AuthError",
    "basic": "AuthError",
    "jwt": "AuthError",
    "aws access key": "AuthError",
    "github token": "AuthError",
    "slack token": "AuthError",
    "openai key": "AuthError",
    "anthropic key": "AuthError",
    "google api key": "AuthError",
    "stripe key": "AuthError",
    "pem private key": "ValueError",
    "secret pair": "ConfigError",
    "phone": "RuntimeError",
    "unc path": "FileNotFoundError",
    "internal host": "ConnectionError",
    "aws secret key": "AuthError",
    "gitlab token": "AuthError",
    "huggingface token": "AuthError",
    "npm token": "AuthError",
    "ssh key": "ValueError",
    "pgp key": "ValueError",
    "connection string": "ConnectionError",
    "value": "ValueError",
    "person name": "RuntimeError",
}
"""The exception type a class's messages are raised with: a built-in one, or one of the
host's (``HOST_EXCEPTIONS``)."""

HOST_EXCEPTIONS: dict[str, str] = {
    "PaymentError": "RuntimeError",
    "AuthError": "PermissionError",
    "ConfigError": "ValueError",
    "CrawlError": "RuntimeError",
}
"""Exception classes the host package defines, and their base."""

BENIGN: list[tuple[str, str]] = [
    # (built-in exception type, its one argument): what arrives is str(type(argument)).
    ("ValueError", "Expecting value: line 1 column 1 (char 0)"),
    ("IndexError", "list index out of range"),
    ("KeyError", "raw_markdown"),
    ("UnicodeError", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ("ConnectionRefusedError", "[Errno 111] Connection refused"),
    ("TypeError", "unsupported operand type(s) for +: 'int' and 'str'"),
    ("AttributeError", "module 'acme' has no attribute 'crawl'"),
    ("ValueError", "shapes (3, 4) and (5,) not aligned: 4 (dim 1) != 5 (dim 0)"),
    ("TimeoutError", "timeout after 30.0s"),
    ("RuntimeError", "HTTP 503 from upstream"),
    ("ValueError", "option '--timeout' requires an argument"),
    ("RuntimeError", "acme 1.4.0 requires pydantic>=2.5.3, but you have pydantic 2.4.2"),
    (
        "ValueError",
        "expected sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, "
        "got e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    ("LookupError", "commit 3f786850e387550fdab836ed7e6dc881de23001b not found"),
    ("LookupError", "object 6ba7b810-9dad-11d1-80b4-00c04fd430c8 not in registry"),
    ("RuntimeError", "parse error in acme/crawler.py:123"),
    (
        "RuntimeError",
        "batch started 2024-03-15T14:22:07Z did not finish by 2024-03-15T15:22:07+00:00",
    ),
    ("ValueError", "invalid metadata: author=unknown, title=untitled"),
    ("RuntimeError", "tokenizer not loaded: call load_tokenizer() first"),
    ("ValueError", "session_id must be set before calling crawl()"),
    ("ValueError", "max_tokens=8192 exceeds the context window of 4096"),
    ("ZeroDivisionError", "division by zero"),
    ("TypeError", "'NoneType' object is not subscriptable"),
    ("RecursionError", "maximum recursion depth exceeded while calling a Python object"),
    ("ModuleNotFoundError", "No module named 'crawl4ai.models'"),
    ("ImportError", "cannot import name 'AsyncWebCrawler' from 'crawl4ai' (unknown location)"),
    ("TypeError", "crawl() missing 1 required positional argument: 'url'"),
    ("RuntimeError", "dictionary changed size during iteration"),
    ("RuntimeError", "Event loop is closed"),
    ("OSError", "[Errno 98] Address already in use"),
    ("OSError", "[Errno 28] No space left on device"),
    ("BrokenPipeError", "[Errno 32] Broken pipe"),
    ("ConnectionResetError", "[Errno 104] Connection reset by peer"),
    ("ValueError", "invalid value for '--max-depth': 'deep' is not a valid integer"),
    ("ValueError", "Expected 3 fields in line 12, saw 5"),
    ("ValueError", "Input contains NaN, infinity or a value too large for dtype('float64')."),
    (
        "RuntimeError",
        "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total capacity; "
        "6.12 GiB already allocated)",
    ),
    ("RuntimeError", "Python 3.9.18 is not supported; acme requires >=3.10"),
    (
        "ConnectionError",
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "unable to get local issuer certificate (_ssl.c:1006)",
    ),
    ("RuntimeError", "acme-1.4.0-py3-none-any.whl is not a supported wheel on this platform"),
    ("RuntimeError", "requires driver version 10.2.0.1 or newer"),
    ("RuntimeError", "acme-plugin==2.0.1.4 is incompatible with acme 1.4.0"),
    ("RuntimeError", "built from v1.4.0-12-g3f78685 with local changes"),
    ("ValueError", "event at 2024-03-15T14:22:07.123456+05:30 is in the future"),
    ("RuntimeError", "acme/parser.py:88:17: E501 line too long (120 > 100)"),
    ("OverflowError", "timestamp 1700000000 is out of range for this platform"),
    ("RuntimeError", "retry 3/5 after 2.5s backoff"),
    ("RuntimeError", "429 Too Many Requests (retry after 60s)"),
    ("RuntimeError", "table crawl_results has no column named fetched_at"),
    ("RuntimeError", 'near "SELEC": syntax error'),
    ("TypeError", "the JSON object must be str, bytes or bytearray, not NoneType"),
    ("TypeError", "Object of type datetime is not JSON serializable"),
    ("NameError", "name 'asyncio' is not defined"),
    ("IndentationError", "unexpected indent (crawler.py, line 42)"),
    ("UnboundLocalError", "local variable 'page' referenced before assignment"),
    ("ValueError", "too many values to unpack (expected 2)"),
    ("TypeError", "can't compare offset-naive and offset-aware datetimes"),
    ("ValueError", "port must be 0-65535."),
    ("TimeoutError", "The read operation timed out"),
    ("ConnectionError", "Max retries exceeded (total=3, connect=3, read=0)"),
    ("RuntimeError", "grpc status UNAVAILABLE: failed to connect to all addresses"),
    ("TypeError", "expected np.float32, got np.float64 at index 12"),
    (
        "RuntimeError",
        "layer sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1 is missing",
    ),
    ("RuntimeError", "deprecated since 2.0.0; removed in 3.0.0"),
    (
        "ValueError",
        "Token indices sequence length is longer than the specified maximum sequence length "
        "for this model (1024 > 512)",
    ),
    ("RuntimeError", "worker 3 of 8 exited with code -9 after 3600.5s"),
    ("RuntimeError", "at 2024-03-15 14:22:07,123 the queue was full (maxsize=1000)"),
    ("ValueError", "checksum mismatch: expected 5d41402abc4b2a76b9719d911017c592"),
    ("ValueError", "math domain error"),
    ("ValueError", "timezone offset +05:30 is not supported"),
    ("ValueError", "password must be at least 12 characters long"),
    ("PermissionError", "access token expired; refresh required"),
    ("AttributeError", "'_thread._local' object has no attribute 'conn'"),
    (
        "ImportError",
        "cannot import name 'builder' from 'google.protobuf.internal' (unknown location)",
    ),
    ("RuntimeError", "compiled with CUDA 12.1, runtime is 11.8"),
    ("RuntimeError", "at 13:38:47.512 the watchdog fired"),
    ("AssertionError", "assert 3 == 4"),
    (
        "NotImplementedError",
        "AsyncCrawler.fetch_batch is not implemented for the file backend",
    ),
]

# User code: a callback of the user's own program raises through the host's function,
# and a class of the user's own module (outside site-packages) does the same.
USER_CALLBACK_MESSAGE = "internal-project-codename-ORION for client BigBank"
USER_MODULE = "alice_clinic_patients"
USER_CLASS = "PatientRecordMissing"
USER_CLASS_MESSAGE = "no chart for patient Ingrid Bergqvist (MRN 00912-44) in ward 7B"
USER_SENSITIVE: tuple[str, ...] = (
    "internal-project-codename",
    "ORION",
    "BigBank",
    USER_MODULE,
    USER_CLASS,
    "no chart for patient",
    "Ingrid Bergqvist",
    "00912-44",
    "ward 7B",
)
"""What must not arrive of the user's code: its messages (every piece, not only what a
scrubbing rule would find), its class and its module."""
