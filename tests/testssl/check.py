#!/usr/bin/python3
"""Judge the flat JSON findings of testssl.sh (--jsonfile) for tests/testssl/run.sh.

    check.py [--problem TEXT]... FILE.json...

Every finding of every FILE is one check. It fails when its severity is
MEDIUM, HIGH or CRITICAL, or WARN or FATAL (the scanner could not test
something, or gave up), unless ALLOWED below matches it: findings that come
from the local test setup, not from webserv. A finding the scan should always
produce (REQUIRED) that no FILE has fails too (the scan stopped early or
skipped a part), as does each --problem (run.sh's: a scan that timed out or
exited non-zero, a server that died). A file that is not complete JSON fails.

Prints each failing finding and each allowed one (with its reason), then one
line: "N passed, N failed". Exit status 1 on any failure, else 0.
Standard library only.
"""

import json
import re
import sys

FAILING = {"MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"}

# A certificate's findings carry " <cert#N>" when the server has several.
CERT = r"(?: <cert#\d+>)?"

# Findings that say something about the local test setup, not about webserv:
# (id pattern, severities, finding pattern, why). Patterns must match whole.
ALLOWED = [
    (r"cert_revocation" + CERT, {"HIGH"}, r"Neither CRL nor OCSP URI provided",
     "certs/localhost.pem is issued by the local CA of scripts/make-cert.sh, "
     "which runs no CRL or OCSP service, so the certificate names neither; "
     "that is a property of the certificate, not of the server's TLS"),
    (r"cert_(?:expirationStatus|notAfter)" + CERT, {"MEDIUM", "HIGH"},
     r"(?:expires < \d+ days \(-?\d+\)|\d{4}-\d\d-\d\d \d\d:\d\d)",
     "the local certificate in certs/ is kept between runs (make cert does "
     "not replace it), so it nears its end of validity with age; an EXPIRED "
     "certificate (CRITICAL) still fails: delete certs/ and run make cert"),
    (r"cert_validityPeriod" + CERT, {"MEDIUM", "HIGH"}, r".*",
     "the lifetime of the local certificate is chosen by scripts/make-cert.sh "
     "(825 days), not by the server"),
]

# Findings that every complete scan of run.sh's checks (-p -s -f -P -S, -h -U)
# produces, whatever the server offers. One missing means part of the scan
# did not run.
REQUIRED = [
    # protocols (-p)
    "SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "ALPN",
    # cipher categories (-s)
    "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
    "cipherlist_3DES_IDEA", "cipherlist_AVERAGE", "cipherlist_STRONG",
    # forward secrecy (-f), server preference (-P)
    "PFS", "cipher_order",
    # server defaults (-S)
    "TLS_extensions", "cert_chain_of_trust", "cert_trust", "cert_expirationStatus",
    "cert_revocation", "OCSP_stapling",
    # HTTP headers (-h)
    "HTTP_status_code", "HSTS", "banner_server",
    # vulnerabilities (-U)
    "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
    "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
    "LOGJAM", "BEAST", "LUCKY13", "RC4",
]


def allowed(f):
    for id_re, sevs, finding_re, why in ALLOWED:
        if (f["severity"] in sevs and re.fullmatch(id_re, f["id"])
                and re.fullmatch(finding_re, f["finding"], re.S)):
            return why
    return None


def one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def main(argv):
    problems, files = [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--problem" and i + 1 < len(argv):
            problems.append(argv[i + 1])
            i += 2
        else:
            files.append(argv[i])
            i += 1
    if not files:
        print("usage: check.py [--problem TEXT]... FILE.json...", file=sys.stderr)
        return 2

    passed = failed = 0
    seen = set()
    for text in problems:
        print("FAIL run: %s" % one_line(text, 1000))
        failed += 1
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                findings = json.load(fh)
            if not isinstance(findings, list):
                raise ValueError("not a list of findings")
            findings = [f for f in findings if isinstance(f, dict)]
        except (OSError, ValueError) as e:
            print("FAIL %s: no complete testssl JSON (%s)" % (path, one_line(e)))
            failed += 1
            continue
        for f in findings:
            f = {k: str(f.get(k, "")) for k in ("id", "severity", "finding")}
            seen.add(re.sub(CERT + "$", "", f["id"]))
            if f["severity"] not in FAILING:
                passed += 1
                continue
            why = allowed(f)
            if why:
                print("allowed %s %s: %s\n    (%s)" % (f["severity"], f["id"], one_line(f["finding"]), why))
                passed += 1
            else:
                print("FAIL %s %s: %s" % (f["severity"], f["id"], one_line(f["finding"])))
                failed += 1
    missing = [rid for rid in REQUIRED if rid not in seen]
    if missing:
        print("FAIL %d findings missing (that part of the scan did not run): %s"
              % (len(missing), " ".join(missing)))
        failed += len(missing)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
