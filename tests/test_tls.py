"""TLS (issue 9): real TLS over 127.0.0.1 with Python's ssl module and curl.

TLS 1.3 and 1.2, 1.1/1.0/SSLv3 refused, SNI (exact, wildcard, unknown, none)
with Host picking the server, ALPN, plain HTTP to a TLS port, garbage and
truncated handshakes next to a served client, the handshake deadline, a
10 MiB file and ranges, a 1 GiB upload within the memory bound, CGI's TLS
variables, client certificates, session resumption (cache, tickets, across
workers), many interleaved clients with handshakes split byte by byte, and
every `-t` error of the TLS directives.

The certificates are made once per module (tlsutil.Certs: a local CA,
ECDSA and RSA leaves, client certificates of two CAs)."""

import hashlib
import json
import os
import pwd
import random
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import httpbody
import rawhttp
import tlsutil
from conftest import BIN, SLOW, VALGRIND, free_ports, make_site, vm_hwm, wait_for, write_file
from tlsutil import BioClient, TLSConn, context, drive, tls_get

MiB = 1 << 20

ENV_PY = r"""#!/usr/bin/python3
import json, os, sys
body = json.dumps({"env": dict(os.environ), "ppid": os.getppid()}).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
"""

A_INDEX = b"<html>the a.test site</html>\n"
WILD_INDEX = b"<html>the wildcard site</html>\n"
PUB_INDEX = b"public site\n"
SECRET_INDEX = b"secret site: only with a client certificate\n"
BIG_SIZE = 10 * MiB
PLAIN_ON_TLS = b"The plain HTTP request was sent to HTTPS port"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    t0 = time.monotonic()
    c = tlsutil.Certs(tmp_path_factory.mktemp("certs"))
    c.elapsed = time.monotonic() - t0
    return c


def cert_lines(certs, name, indent="    "):
    return "%sssl_certificate %s;\n%sssl_certificate_key %s;\n" % (
        indent, certs.pem(name), indent, certs.key(name))


CGI_LOCATION = """
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
    }
"""

# Ports of the module's server
MAIN, PLAIN, VERIFY_ON, VERIFY_OPTIONAL, VERIFY_NO_CA, PUBSEC, NO_RESUME, TICKETS_ONLY, CACHE_ONLY = range(9)


def _main_conf(c):
    C = lambda name: cert_lines(c, name)  # noqa: E731
    return """
worker_processes 1;
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    root @ROOT@;
%(lh)s%(lhrsa)s%(cgi)s
    location /up/ {
        allow_methods GET HEAD PUT DELETE;
        upload_store @ROOT@/up;
        client_max_body_size 0;
    }
}
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name a.test;
    root @TMP@/a;
%(a)s}
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name *.wild.test;
    root @TMP@/wild;
%(wild)s}
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name nocert.test;      # no certificate: SNI keeps the default one
    root @TMP@/pub;
}
server {
    listen 127.0.0.1:@PORT1@;
    server_name localhost;
    root @ROOT@;
%(cgi)s}
server {
    listen 127.0.0.1:@PORT2@ ssl;
    root @ROOT@;
%(lh)s    ssl_client_certificate %(ca)s;
    ssl_verify_client on;
%(cgi)s}
server {
    listen 127.0.0.1:@PORT3@ ssl;
    root @ROOT@;
%(lh)s    ssl_client_certificate %(ca)s;
    ssl_verify_client optional;
%(cgi)s}
server {
    listen 127.0.0.1:@PORT4@ ssl;
    root @ROOT@;
%(lh)s    ssl_verify_client optional_no_ca;
%(cgi)s}
server {
    listen 127.0.0.1:@PORT5@ ssl;
    server_name public.test;
    root @TMP@/pub;
%(lh)s}
server {
    listen 127.0.0.1:@PORT5@ ssl;
    server_name secret.test;
    root @TMP@/secret;
%(lh)s    ssl_client_certificate %(ca)s;
    ssl_verify_client on;
}
server {
    listen 127.0.0.1:@PORT6@ ssl;
    root @ROOT@;
%(lh)s    ssl_session_cache off;
    ssl_session_tickets off;
}
server {
    listen 127.0.0.1:@PORT7@ ssl;
    root @ROOT@;
%(lh)s    ssl_session_cache off;
}
server {
    listen 127.0.0.1:@PORT8@ ssl;
    root @ROOT@;
%(lh)s    ssl_session_tickets off;
}
""" % {"lh": C("localhost"), "lhrsa": C("localhost_rsa"), "a": C("a"), "wild": C("wild"),
       "ca": c.pem("ca"), "cgi": CGI_LOCATION}


def _setup_main(s):
    write_file(s.tmp / "a" / "index.html", A_INDEX)
    write_file(s.tmp / "wild" / "index.html", WILD_INDEX)
    write_file(s.tmp / "pub" / "index.html", PUB_INDEX)
    write_file(s.tmp / "secret" / "index.html", SECRET_INDEX)
    (s.root / "up").mkdir(exist_ok=True)
    os.chmod(write_file(s.root / "cgi-bin" / "env.py", ENV_PY, mtime=None), 0o755)
    s.big = os.urandom(BIG_SIZE)
    write_file(s.root / "big.bin", s.big)


@pytest.fixture(scope="module")
def srv(module_webserv, certs):
    s = module_webserv(_main_conf(certs), nports=9, setup=_setup_main)
    s.certs = certs
    s.p = lambda i: s.ports[i]
    return s


def ctx_for(srv, **kw):
    return context(ca=srv.certs.pem("ca"), **kw)


def assert_index(r, body=None):
    assert r.status == 200, r
    assert r.body == (body if body is not None else b"<html><body>index page</body></html>\n"), r


def test_certificates_are_made_quickly(certs):
    assert certs.elapsed < 2.0 * SLOW, "making the certificates took %.2f s" % certs.elapsed


# ---------------------------------------------------------------------------
# 1. TLS 1.3 and 1.2: GET, keep-alive, pipelining

@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_get_keepalive_and_pipelining(srv, version):
    ctx = ctx_for(srv, version=version)
    with TLSConn(srv.port, ctx) as c:
        assert c.version == version
        assert c.peer_der() in (srv.certs.der("localhost"), srv.certs.der("localhost_rsa"))
        # keep-alive: one request after the other on the same connection
        for target, body in [("/readme.txt", b"hello readme\n"), ("/digits.txt", b"0123456789abcdef"),
                             ("/", srv.files["index.html"]), ("/a/c.txt", b"this is a/c.txt\n")]:
            r = c.get(target)
            assert r.status == 200 and r.body == body, (target, r)
            assert "close" not in r.header_tokens("Connection"), r
        r = c.get("/nope.txt")
        assert r.status == 404, r
        # pipelining: three requests in one write, three answers in order
        c.send(rawhttp.build("GET", "/readme.txt") + rawhttp.build("HEAD", "/digits.txt")
               + rawhttp.build("GET", "/dir/x.txt"))
        a, b, d = c.read_responses(3, heads=[False, True, False])
        assert (a.status, a.body) == (200, b"hello readme\n"), a
        assert (b.status, b.body, b.headers.get("Content-Length")) == (200, b"", "16"), b
        assert (d.status, d.body) == (200, b"x in dir\n"), d
        # then Connection: close ends it
        c.send(rawhttp.build("GET", "/readme.txt", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello readme\n", r
        assert c.wait_closed(5 * SLOW), "still open after Connection: close"
        assert not c.buf, c.buf


def test_ecdsa_and_rsa_certificates_by_the_clients_offer(srv):
    """Two pairs on one server: a TLS 1.2 client offering only ECDSA (or
    only RSA) suites gets the certificate it can use."""
    for ciphers, name in [("ECDHE-ECDSA-AES128-GCM-SHA256", "localhost"),
                          ("ECDHE-RSA-AES256-GCM-SHA384", "localhost_rsa")]:
        r, version, der = tls_get(srv.port, ctx_for(srv, version="TLSv1.2", ciphers=ciphers), "/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r
        assert version == "TLSv1.2"
        assert der == srv.certs.der(name), "%s: not the %s certificate" % (ciphers, name)


def test_default_ciphers_refuse_cbc(srv):
    """The default TLS 1.2 list is ECDHE + AEAD: a client offering only CBC
    suites (or no forward secrecy) gets no handshake."""
    for ciphers in ["ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"]:
        with pytest.raises(ssl.SSLError) as e:
            tls_get(srv.port, ctx_for(srv, version="TLSv1.2", ciphers=ciphers), "/readme.txt")
        assert "HANDSHAKE_FAILURE" in str(e.value).upper() or "NO SHARED CIPHER" in str(e.value).upper(), e.value
    # and the server is fine
    r, _, _ = tls_get(srv.port, ctx_for(srv), "/readme.txt")
    assert r.status == 200, r


def test_server_cipher_preference(srv):
    """ssl_prefer_server_ciphers on (default): the server's order wins over
    the client's (CHACHA20 listed first by the client, AES128-GCM first by
    the server)."""
    ctx = ctx_for(srv, version="TLSv1.2",
                  ciphers="ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256")
    with TLSConn(srv.port, ctx) as c:
        assert c.sock.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256", c.sock.cipher()
        assert c.get("/readme.txt").status == 200


def test_curl_over_tls(srv):
    """A real client: curl verifies the chain and the name (localhost)."""
    r = subprocess.run(["curl", "-sS", "--cacert", str(srv.certs.pem("ca")),
                        "--resolve", "localhost:%d:127.0.0.1" % srv.port,
                        "-w", "\n%{http_code} %{http_version} %{ssl_verify_result}",
                        "https://localhost:%d/readme.txt" % srv.port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20 * SLOW)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello readme\n\n200 1.1 0", r.stdout


# ---------------------------------------------------------------------------
# 2. TLS 1.1, 1.0 and SSLv3 refused

@pytest.mark.parametrize("version", [0x0302, 0x0301, 0x0300], ids=["TLSv1.1", "TLSv1.0", "SSLv3"])
def test_old_protocol_client_hello_refused(srv, version):
    """A hand-made ClientHello that offers nothing newer than VERSION: the
    server answers with a fatal protocol_version alert (or just closes),
    never a ServerHello, and the connection ends."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5 * SLOW) as s:
        s.sendall(tlsutil.legacy_client_hello(version))
        data, closed = tlsutil.read_until_closed(s, 5 * SLOW)
    assert closed, "the server kept the connection open; got %r" % data
    recs = tlsutil.records(data)
    assert all(kind != 0x16 for kind, _, _ in recs), "a handshake record came back: %r" % data[:64]
    assert recs, "no alert before the close"
    kind, _, payload = recs[0]
    # SSLv3 has no protocol_version alert: handshake_failure stands for it
    alert = b"\x02\x28" if version == 0x0300 else b"\x02\x46"
    assert kind == 0x15 and payload[:2] == alert, \
        "expected a fatal protocol_version alert, got %r" % data[:16]
    # the next client is served
    r, _, _ = tls_get(srv.port, ctx_for(srv), "/readme.txt")
    assert r.status == 200, r


@pytest.mark.parametrize("version", ["TLSv1.1", "TLSv1"])
def test_old_protocol_refused_to_a_real_client(srv, version):
    """The same with OpenSSL's own client, allowed to offer the old version
    at security level 0."""
    ctx = context(version=version, ciphers="ALL:@SECLEVEL=0")
    try:
        with TLSConn(srv.port, ctx, timeout=5 * SLOW) as c:
            raise AssertionError("handshake succeeded with %s" % c.version)
    except ssl.SSLError as e:
        reason = (e.reason or str(e)).upper()
        if "NO_PROTOCOLS_AVAILABLE" in reason or "NO_CIPHERS_AVAILABLE" in reason:
            pytest.skip("the local OpenSSL client cannot offer %s at all (%s); "
                        "test_old_protocol_client_hello_refused covers it" % (version, e))
        assert "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason, e


def test_renegotiation_refused(srv):
    """A TLS 1.2 client that asks to renegotiate (OpenSSL's s_client, "R")
    gets a no_renegotiation alert; the server goes on serving others."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port, "-tls1_2",
                          "-servername", "localhost", "-CAfile", str(srv.certs.pem("ca"))],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = bytearray()

    def read_all():
        while True:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return
            out.extend(chunk)
    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        p.stdin.write(b"GET /readme.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        p.stdin.flush()
        assert wait_for(lambda: b"hello readme" in out, 10 * SLOW), bytes(out[-2000:])
        p.stdin.write(b"R\n")
        p.stdin.flush()
        assert wait_for(lambda: b"RENEGOTIATING" in out and b"no renegotiation" in out, 10 * SLOW), \
            bytes(out[-2000:])
        assert p.wait(10 * SLOW) != 0   # s_client gives up on the connection
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        reader.join(5)
        p.stdout.close()
    r, _, _ = tls_get(srv.port, ctx_for(srv, version="TLSv1.2"), "/readme.txt")
    assert r.status == 200 and r.body == b"hello readme\n"


def _kernel_tls_available():
    """Our own probe: may a connected TCP socket take the "tls" ULP?"""
    with socket.create_server(("127.0.0.1", 0)) as lsock, \
            socket.create_connection(lsock.getsockname()) as c:
        try:
            c.setsockopt(socket.IPPROTO_TCP, 31, b"tls")   # TCP_ULP
            return True
        except OSError:
            return False


def test_kernel_tls_probe_is_logged(srv):
    """The server probes kernel TLS at start and says what files over TLS
    use; on a kernel without the "tls" module that is the bounded buffer
    (the path every other test here takes), else SSL_sendfile. Either way
    a 10 MiB file arrives whole (test_10mib_file)."""
    lines = [ln for ln in srv.error_log_text().splitlines() if "kernel TLS" in ln]
    assert len(lines) == 1, lines
    if _kernel_tls_available():
        assert "kernel TLS: on" in lines[0], lines
    else:
        assert "kernel TLS: off" in lines[0] and "65536-byte buffer" in lines[0], lines


def test_no_kernel_tls_probe_without_tls(webserv):
    srv = webserv("server {\n    listen 127.0.0.1:@PORT@;\n    root @ROOT@;\n}\n")
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200
    assert "kernel TLS" not in srv.error_log_text()


# ---------------------------------------------------------------------------
# 3. SNI, then Host

def _subject_names(der):
    """CN and DNS names of a DER certificate (through the ssl module's
    decoder of a PEM file)."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(ssl.DER_cert_to_PEM_cert(der))
        f.flush()
        info = ssl._ssl._test_decode_cert(f.name)
    cn = [v for rdn in info["subject"] for k, v in rdn if k == "commonName"]
    dns = [v for k, v in info.get("subjectAltName", ()) if k == "DNS"]
    return cn, dns


@pytest.mark.parametrize("sni, cert, names", [
    ("localhost", "localhost", ["localhost"]),
    ("a.test", "a", ["a.test"]),
    ("x.wild.test", "wild", ["*.wild.test"]),
    ("deep.x.wild.test", "wild", ["*.wild.test"]),
    ("unknown.test", "localhost", ["localhost"]),
    ("nocert.test", "localhost", ["localhost"]),
    (None, "localhost", ["localhost"]),
])
def test_sni_picks_the_certificate(srv, sni, cert, names):
    ctx = ctx_for(srv, version="TLSv1.3")
    with TLSConn(srv.port, ctx, sni=sni) as c:
        der = c.peer_der()
        assert der == srv.certs.der(cert), "SNI %r: got %r" % (sni, _subject_names(der))
        assert _subject_names(der)[1] == names
        r = c.get("/")
        assert r.status == 200, r


@pytest.mark.parametrize("sni, host, body", [
    ("a.test", "a.test", A_INDEX),
    ("x.wild.test", "x.wild.test", WILD_INDEX),
    ("localhost", "localhost", None),
    (None, "a.test", A_INDEX),            # no SNI: Host still picks the server
    ("a.test", "localhost", None),        # Host, not SNI, picks the server
    ("a.test", "other.test", None),       # unknown Host: the default server
    ("nocert.test", "nocert.test", PUB_INDEX),
])
def test_host_picks_the_server(srv, sni, host, body):
    for version in ("TLSv1.3", "TLSv1.2"):
        r, _, _ = tls_get(srv.port, ctx_for(srv, version=version), "/", sni=sni, host=host)
        assert_index(r, body)


def test_sni_on_a_keepalive_connection_then_other_hosts(srv):
    with TLSConn(srv.port, ctx_for(srv), sni="a.test") as c:
        assert_index(c.get("/", host="a.test"), A_INDEX)
        assert_index(c.get("/", host="y.wild.test"), WILD_INDEX)
        assert_index(c.get("/", host="localhost"))


# ---------------------------------------------------------------------------
# 4. ALPN

@pytest.mark.parametrize("offer", [["http/1.1"], ["h2", "http/1.1"], ["http/1.1", "h2"],
                                   ["spdy/3", "http/1.1"], None])
def test_alpn_selects_http11(srv, offer):
    with TLSConn(srv.port, ctx_for(srv, alpn=offer)) as c:
        assert c.sock.selected_alpn_protocol() == (None if offer is None else "http/1.1")
        assert c.get("/readme.txt").body == b"hello readme\n"


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_alpn_without_http11_is_refused(srv, version):
    """Only h2 offered: no_application_protocol (RFC 7301), the handshake
    fails; the server logs it and goes on."""
    before = srv.error_log_text().count("no application protocol")
    with pytest.raises(ssl.SSLError) as e:
        with TLSConn(srv.port, ctx_for(srv, version=version, alpn=["h2"])):
            pass
    assert "NO_APPLICATION_PROTOCOL" in re.sub(r"[\s_]+", "_", str(e.value).upper()), e.value
    assert wait_for(lambda: srv.error_log_text().count("no application protocol") > before, 5 * SLOW), \
        srv.error_log_text()[-2000:]
    r, _, _ = tls_get(srv.port, ctx_for(srv, alpn=["http/1.1"]), "/readme.txt")
    assert r.status == 200, r


# ---------------------------------------------------------------------------
# 5. Plain HTTP to the TLS port

@pytest.mark.parametrize("request_bytes", [
    rawhttp.build("GET", "/readme.txt"),
    rawhttp.build("GET", "/readme.txt") + rawhttp.build("GET", "/digits.txt"),
    rawhttp.build("POST", "/x", [("Content-Length", "5")], b"hello"),
    b"GET / HTTP/1.0\r\n\r\n",
], ids=["get", "pipelined", "post", "http10"])
def test_plain_http_to_tls_port(srv, request_bytes):
    with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
        c.send(request_bytes)
        r = c.read_response()
        assert r.status == 400, r
        assert PLAIN_ON_TLS in r.body, r
        assert "close" in r.header_tokens("Connection"), r
        assert c.wait_closed(5 * SLOW), "the connection stays open after the 400"
        assert not c.buf, "bytes after the 400: %r" % bytes(c.buf)


def test_error_page_for_plain_http_to_tls_port(webserv, certs):
    """error_page 497 names the page of that answer (as nginx); the status
    stays 400 and the connection closes."""
    srv = webserv(SERVER_HEAD + cert_lines(certs, "localhost") + "    error_page 497 /use-https.html;\n}\n",
                  setup=lambda s: write_file(s.root / "use-https.html", b"use https, please\n"))
    with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
        c.send(rawhttp.build("GET", "/readme.txt"))
        r = c.read_response()
        assert r.status == 400 and r.body == b"use https, please\n", r
        assert c.wait_closed(5 * SLOW)


@pytest.mark.parametrize("version", [b"\x00\x02", b"\x03\x01"])
def test_sslv2_format_client_hello_refused_at_once(srv, version):
    """An SSLv2-format ClientHello (first byte with the high bit set, as old
    scanners send) is a handshake, not plain HTTP: refused and closed at
    once, with an alert at most, never a 400 page or a wait."""
    ciphers = b"\x07\x00\xc0\x03\x00\x80\x00\x00\x35\x00\x00\x2f"
    challenge = bytes(range(16))
    body = b"\x01" + version + struct.pack("!HHH", len(ciphers), 0, len(challenge)) + ciphers + challenge
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5 * SLOW) as s:
        t0 = time.monotonic()
        s.sendall(struct.pack("!H", 0x8000 | len(body)) + body)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        assert time.monotonic() - t0 < 3 * SLOW
        assert not got.startswith(b"HTTP/"), got
        assert got == b"" or got[0] == 0x15, got   # nothing, or a TLS alert


def test_every_response_says_nosniff(srv):
    """X-Content-Type-Options: nosniff on files, error pages and CGI, over
    TLS and plain HTTP (testssl.sh's security_headers)."""
    ctx = ctx_for(srv)
    for target in ("/readme.txt", "/no-such-file", "/cgi-bin/env.py"):
        r, _, _ = tls_get(srv.port, ctx, target)
        assert r.header_tokens("X-Content-Type-Options") == ["nosniff"], (target, r)
    r = rawhttp.get(srv.p(PLAIN), "/readme.txt")
    assert r.header_tokens("X-Content-Type-Options") == ["nosniff"], r


def assert_head_refused(c):
    """A HEAD refused before it is served: 400 without a body, then close."""
    c.send(rawhttp.build("HEAD", "/readme.txt"))
    r = c.read_response(head=True)
    assert r.status == 400 and r.body == b"", r
    assert c.wait_closed(5 * SLOW)
    assert not c.buf, bytes(c.buf)


def test_plain_http_head_to_tls_port(srv):
    with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
        assert_head_refused(c)


# ---------------------------------------------------------------------------
# 6. Garbage, truncated and silent handshakes; the handshake deadline

def garbage_lines(srv):
    """The error log's lines about failed handshakes."""
    return [ln for ln in srv.error_log_text().splitlines() if "handshake failed" in ln]


def watch_closes(socks, timeout):
    """Watch {name: socket} (plain or TLS) at once until each one is closed
    by the server: {name: (monotonic time of the close, bytes received)};
    a socket still open at `timeout` is missing from the result."""
    deadline = time.monotonic() + timeout
    pending = dict(socks)
    data = {n: bytearray() for n in socks}
    out = {}
    for sk in socks.values():
        sk.setblocking(False)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(list(pending.values()), [], [], left)
        for sk in ready:
            name = [n for n, x in pending.items() if x is sk][0]
            try:
                got = sk.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue   # TLS records that carry no data (tickets)
            except (ConnectionResetError, ssl.SSLEOFError):
                got = b""
            if got:
                data[name] += got
                continue
            out[name] = (time.monotonic(), bytes(data[name]))
            del pending[name]
    return out


def test_bad_handshakes_next_to_a_served_client(webserv, certs):
    """Garbage handshakes fail at once (logged at info); a ClientHello cut
    in the middle then closed costs nothing; a silent client, one stuck in
    the middle of its ClientHello and one that finished its handshake but
    sends no request are closed at client_header_timeout (2 s from accept),
    with no plaintext 408; meanwhile a normal client is served at once."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@ ssl;
    server_name localhost;
    root @ROOT@;
    client_header_timeout 2s;
%s}
""" % cert_lines(certs, "localhost"))
    ctx = context(ca=certs.pem("ca"))
    rnd = random.Random(9)
    probe = BioClient(srv.port, ctx)     # the ClientHello of a real client
    full_hello = probe.start()
    probe.close()
    assert len(full_hello) > 100
    garbage = [
        b"\x16\x07\x07" + bytes(rnd.getrandbits(8) for _ in range(600)),           # bad version
        b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4" + bytes(rnd.getrandbits(8) for _ in range(196)),
        b"\x16\x03\x01\xff\xff" + bytes(rnd.getrandbits(8) for _ in range(100)),   # record too long
        b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00",                              # a ServerHello
    ]
    waiting = {}
    opened = {}
    try:
        opened["silent"] = time.monotonic()
        waiting["silent"] = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
        opened["stuck"] = time.monotonic()
        waiting["stuck"] = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
        waiting["stuck"].sendall(full_hello[:len(full_hello) // 2])
        opened["idle"] = time.monotonic()
        idle = TLSConn(srv.port, ctx, timeout=10 * SLOW)   # handshake done, no request
        waiting["idle"] = idle.sock
        result = {}
        watcher = threading.Thread(target=lambda: result.update(watch_closes(waiting, 2 + 3 * SLOW)),
                                   daemon=True)
        watcher.start()
        # the normal client: served while the others wait
        with TLSConn(srv.port, ctx, timeout=5 * SLOW) as c:
            for _ in range(3):
                r = c.get("/readme.txt")
                assert r.status == 200 and r.body == b"hello readme\n", r
            served = time.monotonic()
            # garbage: each one is closed promptly, with an alert at most, and
            # logged at info with OpenSSL's reason
            for i, g in enumerate(garbage):
                with socket.create_connection(("127.0.0.1", srv.port), timeout=5 * SLOW) as s:
                    s.sendall(g)
                    data, closed = tlsutil.read_until_closed(s, 1.5 * SLOW)
                assert closed, "garbage %r: the connection stays open" % g[:8]
                assert all(k == 0x15 for k, _, _ in tlsutil.records(data)), (g[:8], data[:40])
                assert wait_for(lambda: len(garbage_lines(srv)) == i + 1, 2 * SLOW), \
                    (g[:8], srv.error_log_text()[-2000:])
            # a ClientHello cut in the middle, then closed by the client
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5 * SLOW) as s:
                s.sendall(full_hello[:len(full_hello) // 3])
            # the same client again, after all that
            r = c.get("/digits.txt")
            assert r.status == 200 and r.body == b"0123456789abcdef", r
        watcher.join(5 + 3 * SLOW)
        assert not watcher.is_alive()
        for name in ("silent", "stuck", "idle"):
            assert name in result, "%s client still open after %.1f s" % (
                name, time.monotonic() - opened[name])
            closed_at, data = result[name]
            took = closed_at - opened[name]
            # the deadline counts from the server's accept, which is after opened[]
            assert 1.9 <= took <= 2 + 2 * SLOW, "%s client closed after %.2f s (deadline 2 s)" % (
                name, took)
            assert served < closed_at, "the normal client was served after the %s one was closed" % name
            assert not data.startswith(b"HTTP/"), "%s client got plaintext %r" % (name, data[:60])
            if name != "idle":
                assert all(k == 0x15 for k, _, _ in tlsutil.records(data)), (name, data[:40])
            else:
                assert data == b"", "the idle TLS client got %r" % data
    finally:
        for sk in waiting.values():
            sk.close()
    lines = garbage_lines(srv)
    assert len(lines) == len(garbage), lines
    assert all(re.search(r"\[info\] \d+: client 127\.0\.0\.1: TLS handshake failed: \S", ln)
               for ln in lines), lines
    # the server is fine
    r, _, _ = tls_get(srv.port, ctx, "/readme.txt")
    assert r.status == 200, r


# ---------------------------------------------------------------------------
# 7. A 10 MiB file and ranges

def test_10mib_file(srv):
    """Larger than the open-file cache keeps in memory: read from the file
    through the 16 KiB staging buffer. Twice on one connection, in TLS 1.3
    and 1.2."""
    want = hashlib.sha256(srv.big).hexdigest()
    for version in ("TLSv1.3", "TLSv1.2"):
        with TLSConn(srv.port, ctx_for(srv, version=version), timeout=30 * SLOW) as c:
            for _ in range(2):
                r = c.get("/big.bin")
                assert r.status == 200, r
                assert int(r.headers["Content-Length"]) == BIG_SIZE
                assert len(r.body) == BIG_SIZE and hashlib.sha256(r.body).hexdigest() == want
            assert c.get("/readme.txt").body == b"hello readme\n"


def test_10mib_file_with_curl(srv, tmp_path):
    out = tmp_path / "big.out"
    r = subprocess.run(["curl", "-sS", "--cacert", str(srv.certs.pem("ca")),
                        "--resolve", "localhost:%d:127.0.0.1" % srv.port, "-o", str(out),
                        "-w", "%{http_code} %{size_download}",
                        "https://localhost:%d/big.bin" % srv.port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"200 %d" % BIG_SIZE, r.stdout
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(srv.big).hexdigest()


def test_ranges_over_tls(srv):
    big = srv.big
    cases = [("bytes=1000-1999", 1000, 2000), ("bytes=-777", BIG_SIZE - 777, BIG_SIZE),
             ("bytes=%d-" % (BIG_SIZE - 70000), BIG_SIZE - 70000, BIG_SIZE),
             ("bytes=3-4194306", 3, 4194307)]
    with TLSConn(srv.port, ctx_for(srv), timeout=30 * SLOW) as c:
        for spec, start, end in cases:
            r = c.get("/big.bin", headers=[("Range", spec)])
            assert r.status == 206, (spec, r)
            assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (start, end - 1, BIG_SIZE), r
            assert r.body == big[start:end], spec
        # a small (cached) file too, and an unsatisfiable range
        r = c.get("/digits.txt", headers=[("Range", "bytes=4-7")])
        assert r.status == 206 and r.body == b"4567", r
        r = c.get("/big.bin", headers=[("Range", "bytes=%d-" % BIG_SIZE)])
        assert r.status == 416, r
        assert c.get("/readme.txt").body == b"hello readme\n"


def test_upload_and_delete_over_tls(srv):
    """PUT with Content-Length, with Expect: 100-continue, chunked, then
    DELETE, on one TLS connection; each result read back on a new one
    (test_changes_seen_by_the_next_request_on_the_connection reads it back
    on the same one)."""
    data = os.urandom(300000)
    other = os.urandom(70001)
    ctx = ctx_for(srv)

    def fetch():
        return tls_get(srv.port, ctx, "/up/t.bin", timeout=10 * SLOW)[0]
    with TLSConn(srv.port, ctx, timeout=10 * SLOW) as c:
        c.send(rawhttp.build("PUT", "/up/t.bin", [("Content-Length", str(len(data)))], data))
        r = c.read_response()
        assert r.status == 201, r
        assert fetch().body == data
        c.send(rawhttp.build("PUT", "/up/t.bin", [("Content-Length", str(len(other))),
                                                  ("Expect", "100-continue")]))
        r = c.read_response()
        assert r.status == 100, r
        c.send(other)
        r = c.read_response()
        assert r.status == 204, r
        assert (srv.root / "up" / "t.bin").read_bytes() == other
        assert fetch().body == other
        c.send(rawhttp.build("PUT", "/up/t.bin", [("Transfer-Encoding", "chunked")],
                             httpbody.chunked(data, sizes=[1, 4000, 17000, 100000])))
        r = c.read_response()
        assert r.status == 204, r
        assert fetch().body == data
        c.send(rawhttp.build("DELETE", "/up/t.bin"))
        r = c.read_response()
        assert r.status == 204, r
        assert not (srv.root / "up" / "t.bin").exists()
        assert fetch().status == 404
        assert c.get("/readme.txt").body == b"hello readme\n"


def test_changes_seen_by_the_next_request_on_the_connection(srv):
    old, new = os.urandom(1000), os.urandom(1000)
    with TLSConn(srv.port, ctx_for(srv), timeout=10 * SLOW) as c:
        c.send(rawhttp.build("PUT", "/up/c.bin", [("Content-Length", "1000")], old))
        assert c.read_response().status in (201, 204)
        assert c.get("/up/c.bin").body == old    # now in the cache
        c.send(rawhttp.build("PUT", "/up/c.bin", [("Content-Length", "1000")], new)
               + rawhttp.build("GET", "/up/c.bin"))
        a, b = c.read_responses(2)
        assert a.status == 204, a
        replaced = b.body == new
        c.send(rawhttp.build("DELETE", "/up/c.bin") + rawhttp.build("GET", "/up/c.bin"))
        a, b = c.read_responses(2)
        assert a.status == 204, a
        assert replaced, "the GET after the PUT got the old file"
        assert b.status == 404, "the GET after the DELETE: %r" % b


# ---------------------------------------------------------------------------
# 8. A 1 GiB upload over TLS, memory bounded

HWM_SLACK = 16 * MiB      # as test_upload.py::test_upload_1gib_peak_memory
OPENSSL_SLACK = 2 * MiB   # what OpenSSL may add: record buffers, a session, error strings
# With SSL_MODE_RELEASE_BUFFERS OpenSSL frees and allocates its record
# buffers as the connection empties and fills: memcheck keeps freed blocks
# in a queue of --freelist-vol bytes (20 MB by default) before reusing
# them, so under valgrind the peak grows by that queue too (under ASan by
# its 4 MiB quarantine, see conftest).
VALGRIND_FREELIST = 20000000 if VALGRIND else 0


def test_upload_1gib_over_tls_peak_memory(webserv, certs):
    """PUT of 1 GiB (64 MiB under valgrind) with Content-Length over TLS,
    streamed from a generator: stored exactly (size and CRC), and the
    server's peak RSS grows by less than the plain HTTP bound plus what
    OpenSSL needs. On a server of its own, so nothing earlier raised its
    peak."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@ ssl;
    root @ROOT@;
%s    location /big/ {
        allow_methods GET HEAD PUT DELETE;
        upload_store @ROOT@/big;
        client_max_body_size 0;
    }
}
""" % cert_lines(certs, "localhost"), setup=lambda s: (s.root / "big").mkdir(parents=True, exist_ok=True))
    size = (64 * MiB) if VALGRIND else (1 << 30)
    path = srv.root / "big" / "huge.bin"
    ctx = context(ca=certs.pem("ca"))
    warm = os.urandom(300000)
    with TLSConn(srv.port, ctx, timeout=10 * SLOW) as c:   # buffers the server keeps for good
        c.send(rawhttp.build("PUT", "/big/warm.bin", [("Content-Length", str(len(warm)))], warm))
        r = c.read_response(timeout=10 * SLOW)
        assert r.status == 201, r
    assert (srv.root / "big" / "warm.bin").read_bytes() == warm
    before = vm_hwm(srv.pid)
    t0 = time.monotonic()
    try:
        with TLSConn(srv.port, ctx, timeout=60 * SLOW) as c:
            c.send(rawhttp.build("PUT", "/big/huge.bin", [("Content-Length", str(size))]))
            try:
                total, crc = httpbody.send_stream(c, httpbody.counted_blocks(size, os.urandom(MiB)))
            except OSError as e:
                raise AssertionError("send failed after %.1f s: %s" % (time.monotonic() - t0, e))
            r = c.read_final(timeout=60 * SLOW)[1]
        elapsed = time.monotonic() - t0
        after = vm_hwm(srv.pid)
        assert r.status == 201, r
        assert total == size
        assert path.stat().st_size == size
        assert httpbody.file_crc(path) == (size, crc)
        assert after - before <= HWM_SLACK + OPENSSL_SLACK + VALGRIND_FREELIST, "VmHWM grew by %.1f MiB (%.1f s)" % (
            (after - before) / MiB, elapsed)
        if not VALGRIND:
            assert elapsed < 30 * SLOW, "1 GiB over TLS took %.1f s" % elapsed
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# 9. CGI over TLS

def _cgi_env(conn, target="/cgi-bin/env.py", host="localhost"):
    r = conn.get(target, host=host)
    assert r.status == 200, r
    return json.loads(r.body)


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_cgi_tls_variables(srv, version):
    with TLSConn(srv.port, ctx_for(srv, version=version), timeout=10 * SLOW) as c:
        env = _cgi_env(c)["env"]
        assert env.get("HTTPS") == "on", env
        assert env.get("SSL_PROTOCOL") == version, env
        assert env.get("SSL_CIPHER") and env["SSL_CIPHER"] == c.sock.cipher()[0], (env, c.sock.cipher())
        assert env.get("SSL_CLIENT_VERIFY") == "NONE", env
        assert env.get("SERVER_PORT") == str(srv.port), env
        # the same on the next request of the connection
        env2 = _cgi_env(c)["env"]
        assert (env2["HTTPS"], env2["SSL_PROTOCOL"]) == ("on", version)


def test_cgi_over_plain_http_has_no_tls_variables(srv):
    r = rawhttp.get(srv.p(PLAIN), "/cgi-bin/env.py", timeout=10 * SLOW)
    assert r.status == 200, r
    env = json.loads(r.body)["env"]
    assert env.get("REQUEST_METHOD") == "GET", env
    assert not [k for k in env if k == "HTTPS" or k.startswith("SSL_")], env


# ---------------------------------------------------------------------------
# Client certificates

def _client_ctx(srv, who, version=None):
    if who is None:
        return ctx_for(srv, version=version)
    return ctx_for(srv, version=version, cert=srv.certs.pem(who), key=srv.certs.key(who))


@pytest.mark.parametrize("port, who, status, verify", [
    (VERIFY_ON, None, 400, None),
    (VERIFY_ON, "client", 200, "SUCCESS"),
    (VERIFY_ON, "other_client", 400, None),
    (VERIFY_OPTIONAL, None, 200, "NONE"),
    (VERIFY_OPTIONAL, "client", 200, "SUCCESS"),
    (VERIFY_OPTIONAL, "other_client", 400, None),
    (VERIFY_NO_CA, None, 200, "NONE"),
    (VERIFY_NO_CA, "client", 200, "FAILED:"),
    (VERIFY_NO_CA, "other_client", 200, "FAILED:"),
    (MAIN, "client", 200, "NONE"),    # verify off: a certificate sent anyway is ignored
])
@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_client_certificates(srv, port, who, status, verify, version):
    with TLSConn(srv.p(port), _client_ctx(srv, who, version), timeout=10 * SLOW) as c:
        r = c.get("/cgi-bin/env.py")
        assert r.status == status, r
        if status == 400:
            want = b"No required SSL certificate was sent" if who is None else b"The SSL certificate error"
            assert want in r.body, r
            return
        env = json.loads(r.body)["env"]
        assert env["SSL_CLIENT_VERIFY"].startswith(verify), env
        if verify == "FAILED:":
            assert len(env["SSL_CLIENT_VERIFY"]) > len("FAILED:"), env
        if verify == "SUCCESS":
            assert env["SSL_CLIENT_S_DN"] == "CN=test client", env
        elif who is None:
            assert env.get("SSL_CLIENT_S_DN", "") == "", env
        # the verdict holds for the whole connection
        assert c.get("/readme.txt").status == 200


def test_head_without_required_client_certificate(srv):
    with TLSConn(srv.p(VERIFY_ON), ctx_for(srv), timeout=5 * SLOW) as c:
        assert_head_refused(c)


def test_host_cannot_bypass_client_verification(srv):
    """SNI public.test (no client certificate asked), then Host secret.test,
    whose server requires one: as nginx, 421 Misdirected Request (never the
    secret page)."""
    # the two servers themselves work as configured
    r, _, _ = tls_get(srv.p(PUBSEC), ctx_for(srv), "/", sni="public.test", host="public.test")
    assert_index(r, PUB_INDEX)
    r, _, _ = tls_get(srv.p(PUBSEC), ctx_for(srv), "/", sni="secret.test", host="secret.test")
    assert r.status == 400, r
    r, _, _ = tls_get(srv.p(PUBSEC), _client_ctx(srv, "client"), "/", sni="secret.test", host="secret.test")
    assert_index(r, SECRET_INDEX)
    # the crossing
    r, _, _ = tls_get(srv.p(PUBSEC), ctx_for(srv), "/", sni="public.test", host="secret.test")
    assert r.status == 421 and r.body != SECRET_INDEX, r
    # without SNI the handshake is the default server's (public.test): the same
    r, _, _ = tls_get(srv.p(PUBSEC), ctx_for(srv), "/", sni=None, host="secret.test")
    assert r.status == 421 and r.body != SECRET_INDEX, r
    # the other way: a certificate verified by secret.test does not follow
    # the client to another server either (nor is it needed there)
    r, _, _ = tls_get(srv.p(PUBSEC), _client_ctx(srv, "client"), "/", sni="secret.test", host="public.test")
    assert r.status == 421, r
    # a HEAD gets the status without the page
    with TLSConn(srv.p(PUBSEC), ctx_for(srv), sni="public.test", timeout=5 * SLOW) as c:
        c.send(rawhttp.build("HEAD", "/", host="secret.test"))
        r = c.read_response(head=True)
        assert r.status == 421 and r.body == b"", r


# ---------------------------------------------------------------------------
# 11. Session resumption


def _close(c, close_notify):
    if close_notify:
        c.close_notify()
    else:
        c.close()


def _connect_twice(port, ctx, sni="localhost", close_notify=False):
    """A first connection (a request read, so TLS 1.3 tickets have come),
    then a second one offering its session; each one closed with
    close_notify or by a plain close (a TCP FIN without it): (session,
    reused)."""
    c = TLSConn(port, ctx, sni=sni)
    try:
        assert c.get("/readme.txt").status == 200
        assert not c.sock.session_reused
        sess = c.sock.session
    finally:
        _close(c, close_notify)
    c2 = TLSConn(port, ctx, sni=sni, session=sess)
    try:
        r = c2.get("/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r
        return sess, c2.sock.session_reused
    finally:
        _close(c2, close_notify)


def test_tls13_resumption_brings_a_new_ticket(srv):
    """A TLS 1.3 client uses a ticket once (RFC 8446 C.4; browsers, wrk):
    each resumed connection gets a fresh ticket, so a chain of connections,
    each offering the ticket of the one before, resumes every time."""
    ctx = ctx_for(srv, version="TLSv1.3")
    c = TLSConn(srv.port, ctx)
    try:
        assert c.get("/readme.txt").status == 200
        sess = c.sock.session
    finally:
        c.close_notify()
    for i in range(4):
        c = TLSConn(srv.port, ctx, session=sess)
        try:
            assert c.get("/readme.txt").status == 200
            assert c.sock.session_reused, i
            new = c.sock.session
            assert new.has_ticket and new.id != sess.id, "no new ticket on resumption %d" % i
            sess = new
        finally:
            c.close_notify()


# (port, version, client asks for tickets, resumed, by what)
RESUME_CASES = [
    (MAIN, "TLSv1.2", False, True, "cache"),         # session id, the shared cache
    (MAIN, "TLSv1.2", True, True, "ticket"),         # TLS 1.2 ticket
    (MAIN, "TLSv1.3", True, True, "ticket"),         # TLS 1.3 ticket
    (CACHE_ONLY, "TLSv1.2", False, True, "cache"),
    (CACHE_ONLY, "TLSv1.2", True, True, "cache"),    # a client that wants a ticket: the cache still works
    (CACHE_ONLY, "TLSv1.3", True, True, "cache"),    # TLS 1.3 with tickets off: stateful tickets (the cache)
    (TICKETS_ONLY, "TLSv1.2", True, True, "ticket"),
    (TICKETS_ONLY, "TLSv1.2", False, False, None),   # no ticket asked, no cache
    (TICKETS_ONLY, "TLSv1.3", True, True, "ticket"),
    (NO_RESUME, "TLSv1.2", False, False, None),
    (NO_RESUME, "TLSv1.2", True, False, None),
    (NO_RESUME, "TLSv1.3", True, False, None),
]
PORT_NAMES = {MAIN: "default", CACHE_ONLY: "cache-only", TICKETS_ONLY: "tickets-only", NO_RESUME: "both-off"}


def _resume_params():
    for close in ("close_notify", "eof"):
        for port, version, tickets, reused, via in RESUME_CASES:
            marks = []
            yield pytest.param(port, version, tickets, reused, close == "close_notify", marks=marks,
                               id="%s-%s-%s-%s" % (PORT_NAMES[port], version,
                                                   "tickets" if tickets else "no-tickets", close))


@pytest.mark.parametrize("port, version, client_tickets, reused, close_notify", _resume_params())
def test_session_resumption(srv, port, version, client_tickets, reused, close_notify):
    ctx = ctx_for(srv, version=version, tickets=client_tickets)
    sess, was_reused = _connect_twice(srv.p(port), ctx, close_notify=close_notify)
    assert was_reused == reused, "session %s (id %d bytes, ticket %s)" % (
        "resumed" if was_reused else "not resumed", len(sess.id), sess.has_ticket)
    if reused and version == "TLSv1.3":
        assert sess.has_ticket
    if reused:   # resumed again with the same session: still fine
        with TLSConn(srv.p(port), ctx, session=sess) as c:
            assert c.sock.session_reused
            assert c.get("/readme.txt").status == 200


def test_close_without_close_notify_is_not_a_tls_error(webserv, certs):
    """A client served, then gone with a plain close (no close_notify):
    nothing is logged as a failed handshake (nginx logs nothing)."""
    srv = webserv(SERVER_HEAD + cert_lines(certs, "localhost") + "}\n")
    for version in ("TLSv1.3", "TLSv1.2"):
        with TLSConn(srv.port, context(ca=certs.pem("ca"), version=version)) as c:
            assert c.get("/readme.txt").status == 200
    # a client after them, so the server has handled their EOFs
    with TLSConn(srv.port, context(ca=certs.pem("ca"))) as c:
        assert c.get("/readme.txt").status == 200
        c.close_notify()
    assert wait_for(lambda: srv.held_descriptors()[0] == [], 5 * SLOW)
    log = srv.error_log_text()
    assert "handshake failed" not in log and "unexpected eof" not in log, log


def test_no_resumption_when_both_are_off_is_not_vacuous(srv):
    """With cache and tickets off the server does not resume, though the
    client offers the session it holds (its id is in the client hello);
    the same client and session resume on the default server."""
    ctx = ctx_for(srv, version="TLSv1.2", tickets=False)
    sess, reused = _connect_twice(srv.p(MAIN), ctx, close_notify=True)
    assert reused and sess.id
    b = BioClient(srv.p(NO_RESUME), ctx, session=sess, requests=[rawhttp.build("GET", "/readme.txt")],
                  timeout=5 * SLOW)
    try:
        flight = b.start()
        assert tlsutil.client_hello_session_id(flight) == sess.id
        drive([b], 10 * SLOW)
        assert b.error is None, b.error
        assert b.responses and b.responses[0].status == 200
        assert not b.obj.session_reused
    finally:
        b.close()


def test_session_is_resumed_only_by_its_server(srv):
    """A session made by a.test (SNI) is offered to localhost on the same
    address: refused there (its id is in the client hello), resumed again
    by a.test."""
    ctx = ctx_for(srv, version="TLSv1.2", tickets=False)
    sess, reused = _connect_twice(srv.port, ctx, sni="a.test", close_notify=True)
    assert reused
    b = BioClient(srv.port, ctx, sni="localhost", session=sess,
                  requests=[rawhttp.build("GET", "/readme.txt")], timeout=5 * SLOW)
    try:
        flight = b.start()
        assert tlsutil.client_hello_session_id(flight) == sess.id
        drive([b], 10 * SLOW)
        assert b.error is None, b.error
        assert b.responses[0].status == 200 and b.responses[0].body == b"hello readme\n"
        assert not b.obj.session_reused, "a.test's session resumed by localhost"
        assert b.obj.getpeercert(binary_form=True) == srv.certs.der("localhost")
    finally:
        b.close()
    with TLSConn(srv.port, ctx, sni="a.test", session=sess) as c:
        assert c.sock.session_reused
        assert_index(c.get("/", host="a.test"), A_INDEX)


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_resumption_does_not_carry_a_client_certificate_to_another_server(webserv, certs, version):
    """x.test trusts other_ca's client certificates (optional), y.test
    requires one of ca. A client verified by x.test resumes that session
    with SNI and Host y.test: y.test must not take other_ca's certificate
    (a full handshake, then 400), never its page."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@ ssl;
    server_name x.test;
    root @TMP@/x;
%s    ssl_client_certificate %s;
    ssl_verify_client optional;
}
server {
    listen 127.0.0.1:@PORT@ ssl;
    server_name y.test;
    root @TMP@/y;
%s    ssl_client_certificate %s;
    ssl_verify_client on;
}
""" % (cert_lines(certs, "localhost"), certs.pem("other_ca"), cert_lines(certs, "a"), certs.pem("ca")),
        setup=lambda s: (write_file(s.tmp / "x" / "index.html", b"x site\n"),
                         write_file(s.tmp / "y" / "index.html", SECRET_INDEX)))
    ctx = context(version=version, cert=certs.pem("other_client"), key=certs.key("other_client"))
    # without resumption y.test refuses that certificate, x.test takes it
    r, _, _ = tls_get(srv.port, ctx, "/", sni="y.test", host="y.test")
    assert r.status == 400 and b"certificate error" in r.body, r
    c = TLSConn(srv.port, ctx, sni="x.test")
    try:
        assert_index(c.get("/", host="x.test"), b"x site\n")
        sess = c.sock.session
    finally:
        c.close_notify()
    c = TLSConn(srv.port, ctx, sni="y.test", session=sess)
    try:
        r = c.get("/", host="y.test")
        assert r.body != SECRET_INDEX, "y.test served its page to a certificate of another CA " \
            "(session resumed: %s)" % c.sock.session_reused
        assert r.status == 400, r
    finally:
        c.close()


def test_resumption_across_workers(webserv, certs):
    """worker_processes 2: a session made by one worker resumes on the
    other (TLS 1.2 by session id through the shared cache, TLS 1.3 by a
    ticket whose key both workers derive). The worker is the CGI script's
    parent. Connections end with close_notify."""
    srv = webserv("""
worker_processes 2;
server {
    listen 127.0.0.1:@PORT@ ssl;
    root @ROOT@;
%s%s}
""" % (cert_lines(certs, "localhost"), CGI_LOCATION),
        setup=lambda s: os.chmod(write_file(s.root / "cgi-bin" / "env.py", ENV_PY, mtime=None), 0o755))
    ca = certs.pem("ca")
    for version, tickets in (("TLSv1.2", False), ("TLSv1.3", True)):
        ctx = context(ca=ca, version=version, tickets=tickets)
        c = TLSConn(srv.port, ctx, timeout=10 * SLOW)
        try:
            maker = _cgi_env(c)["ppid"]
            sess = c.sock.session
        finally:
            c.close_notify()
        assert maker != srv.pid
        others = 0
        for attempt in range(40):
            c = TLSConn(srv.port, ctx, session=sess, timeout=10 * SLOW)
            try:
                worker = _cgi_env(c)["ppid"]
                assert c.sock.session_reused, "%s: not resumed on worker %d (made on %d)" % (
                    version, worker, maker)
            finally:
                c.close_notify()
            if worker != maker:
                others += 1
                if others == 2:
                    break
        assert others == 2, "%s: every connection went to worker %d" % (version, maker)


# ---------------------------------------------------------------------------
# 12. Many interleaved clients

def test_many_interleaved_clients(srv):
    """50 TLS connections opened together, 3 requests each (pipelined on
    half of them), a fifth of the handshakes split byte by byte, TLS 1.2 and
    1.3, three SNI names: every one served, in order, nothing leaked."""
    ca = srv.certs.pem("ca")
    ctxs = {v: context(ca=ca, version=v) for v in ("TLSv1.2", "TLSv1.3")}
    names = [("localhost", "localhost", b"hello readme\n", "/readme.txt"),
             ("a.test", "a.test", A_INDEX, "/"),
             ("z.wild.test", "z.wild.test", WILD_INDEX, "/")]
    clients = []
    want = []
    try:
        for i in range(50):
            sni, host, body, target = names[i % 3]
            reqs = [rawhttp.build("GET", target, host=host),
                    rawhttp.build("GET", "/digits.txt" if host == "localhost" else target, host=host),
                    rawhttp.build("GET", target, host=host)]
            bodies = [body, b"0123456789abcdef" if host == "localhost" else body, body]
            clients.append(BioClient(srv.port, ctxs["TLSv1.2" if i % 2 else "TLSv1.3"], sni=sni,
                                     requests=reqs, pipeline=i % 4 < 2, chunk=1 if i % 5 == 0 else None,
                                     timeout=10 * SLOW))
            want.append(bodies)
        drive(clients, 30 * SLOW)
        for i, (c, bodies) in enumerate(zip(clients, want)):
            assert c.error is None, "client %d: %r" % (i, c.error)
            assert [r.status for r in c.responses] == [200] * 3, (i, c.responses)
            assert [r.body for r in c.responses] == bodies, i
            if c.chunk == 1:
                assert c.segments > 100, "client %d: handshake in only %d segments" % (i, c.segments)
    finally:
        for c in clients:
            c.close()


# ---------------------------------------------------------------------------
# 10. `-t` errors

def run_t(conf_path, preexec=None):
    return subprocess.run([BIN, "-t", str(conf_path)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20 * SLOW,
                          preexec_fn=preexec)


def write_t_conf(folder, text, certs):
    """Write a configuration (placeholders: @ROOT@, @PORT@, @C@ = the
    certificates' folder); the line with `#ERR` is the one the error must
    name. Returns (path, that line or None)."""
    root = Path(folder) / "www"
    make_site(root)
    text = (text.replace("@ROOT@", str(root)).replace("@PORT@", str(free_ports(1)[0]))
                .replace("@C@", str(certs.dir)))
    line = None
    for n, ln in enumerate(text.splitlines(), 1):
        if "#ERR" in ln:
            line = n
    path = Path(folder) / "tls.conf"
    path.write_text(text.replace("#ERR", ""))
    return path, line


def assert_error_at(r, path, line, *words):
    text = r.stderr.decode(errors="replace")
    assert r.returncode == 1, (r.returncode, text)
    lines = text.splitlines()
    assert len(lines) == 1, "expected one line on stderr, got %r" % text
    m = re.fullmatch(r"webserv: (.+):(\d+): (\S.*)", lines[0])
    assert m, "not 'webserv: FILE:LINE: message': %r" % lines[0]
    assert m.group(1) == str(path), lines[0]
    assert int(m.group(2)) == line, "line %s in %r, expected %d" % (m.group(2), lines[0], line)
    for w in words:
        assert w in m.group(3), "%r not in %r" % (w, lines[0])


SERVER_HEAD = "server {\n    listen 127.0.0.1:@PORT@ ssl;\n    root @ROOT@;\n"

T_ERRORS = {
    "missing-certificate": (SERVER_HEAD + "    ssl_certificate @C@/nope.pem; #ERR\n"
                            "    ssl_certificate_key @C@/localhost.key;\n}\n", ["nope.pem"]),
    "certificate-is-a-folder": (SERVER_HEAD + "    ssl_certificate @C@; #ERR\n"
                                "    ssl_certificate_key @C@/localhost.key;\n}\n", ["certificate"]),
    "certificate-not-pem": (SERVER_HEAD + "    ssl_certificate @C@/garbage.pem; #ERR\n"
                            "    ssl_certificate_key @C@/localhost.key;\n}\n", ["garbage.pem"]),
    "missing-key": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                    "    ssl_certificate_key @C@/nope.key; #ERR\n}\n", ["nope.key"]),
    "key-not-pem": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                    "    ssl_certificate_key @C@/garbage.pem; #ERR\n}\n", ["garbage.pem"]),
    "key-does-not-match": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                           "    ssl_certificate_key @C@/mismatch_key.key; #ERR\n}\n",
                           ["match", "mismatch_key.key"]),
    "second-pair-does-not-match": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                                   "    ssl_certificate_key @C@/localhost.key;\n"
                                   "    ssl_certificate @C@/localhost_rsa.pem;\n"
                                   "    ssl_certificate_key @C@/a.key; #ERR\n}\n", ["match", "a.key"]),
    "default-server-without-certificate": (
        "server {\n    listen 127.0.0.1:@PORT@ ssl; #ERR\n    server_name first.test;\n"
        "    root @ROOT@;\n}\n"
        "server {\n    listen 127.0.0.1:@PORT@ ssl;\n    server_name second.test;\n    root @ROOT@;\n"
        "    ssl_certificate @C@/localhost.pem;\n    ssl_certificate_key @C@/localhost.key;\n}\n",
        ["ssl_certificate", "default server"]),
    "certificate-without-key": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem; #ERR\n}\n",
                                ["ssl_certificate_key"]),
    "key-without-certificate": (SERVER_HEAD + "    ssl_certificate_key @C@/localhost.key; #ERR\n}\n",
                                ["ssl_certificate"]),
    "protocols-tls11": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                        "    ssl_certificate_key @C@/localhost.key;\n"
                        "    ssl_protocols TLSv1.2 TLSv1.1; #ERR\n}\n", ["TLSv1.1"]),
    "protocols-tls10": ("ssl_protocols TLSv1 TLSv1.2; #ERR\n" + SERVER_HEAD + "}\n", ["TLSv1"]),
    "protocols-sslv3": (SERVER_HEAD + "    ssl_protocols SSLv3; #ERR\n}\n", ["SSLv3"]),
    "protocols-unknown": (SERVER_HEAD + "    ssl_protocols TLSv1.4; #ERR\n}\n", ["TLSv1.4"]),
    "verify-client-bad-value": (SERVER_HEAD + "    ssl_verify_client maybe; #ERR\n}\n", ["maybe"]),
    "client-ca-missing": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                          "    ssl_certificate_key @C@/localhost.key;\n"
                          "    ssl_client_certificate @C@/nope-ca.pem; #ERR\n"
                          "    ssl_verify_client on;\n}\n", ["nope-ca.pem"]),
    "client-ca-not-pem": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                          "    ssl_certificate_key @C@/localhost.key;\n"
                          "    ssl_client_certificate @C@/garbage.pem; #ERR\n"
                          "    ssl_verify_client on;\n}\n", ["garbage.pem"]),
    "session-timeout-zero": (SERVER_HEAD + "    ssl_session_timeout 0; #ERR\n}\n", ["ssl_session_timeout"]),
    "session-cache-bad": (SERVER_HEAD + "    ssl_session_cache sometimes; #ERR\n}\n", ["sometimes"]),
    "tickets-bad": (SERVER_HEAD + "    ssl_session_tickets yes; #ERR\n}\n", ["yes"]),
    "certificate-in-location": (SERVER_HEAD + "    location / {\n"
                                "        ssl_certificate @C@/localhost.pem; #ERR\n    }\n}\n",
                                ["ssl_certificate"]),
    "listen-bad-parameter": ("server {\n    listen 127.0.0.1:@PORT@ tls; #ERR\n    root @ROOT@;\n}\n",
                             ["tls"]),
}


T_ERRORS.update({
    "ciphers-none-usable": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                            "    ssl_certificate_key @C@/localhost.key;\n"
                            "    ssl_ciphers NO-SUCH-CIPHER; #ERR\n}\n", ["NO-SUCH-CIPHER"]),
    "verify-client-without-ca": (SERVER_HEAD + "    ssl_certificate @C@/localhost.pem;\n"
                                 "    ssl_certificate_key @C@/localhost.key;\n"
                                 "    ssl_verify_client on; #ERR\n}\n", ["ssl_client_certificate"]),
})


def _t_params():
    for case in sorted(T_ERRORS):
        yield pytest.param(T_ERRORS[case], id=case)


@pytest.mark.parametrize("case", _t_params())
def test_t_errors(tmp_path, certs, case):
    text, words = case
    path, line = write_t_conf(tmp_path, text, certs)
    assert line is not None
    assert_error_at(run_t(path), path, line, *words)


def test_t_unreadable_certificate(certs):
    """A certificate the server's user cannot read: the error has the line
    of its ssl_certificate. Root reads everything, so then the check runs
    as `nobody` on a world-readable configuration."""
    folder = Path(tempfile.mkdtemp(prefix="webserv-tls-"))
    try:
        os.chmod(folder, 0o755)
        for name in ("localhost.pem", "localhost.key"):
            shutil.copy(certs.dir / name, folder / name)
        os.chmod(folder / "localhost.pem", 0o644)
        os.chmod(folder / "localhost.key", 0o000)
        text = (SERVER_HEAD + "    ssl_certificate %s/localhost.pem;\n"
                "    ssl_certificate_key %s/localhost.key; #ERR\n}\n") % (folder, folder)
        path, line = write_t_conf(folder, text, certs)
        os.chmod(path, 0o644)
        for dirpath, dirnames, filenames in os.walk(folder / "www"):
            os.chmod(dirpath, 0o755)
            for n in filenames:
                os.chmod(os.path.join(dirpath, n), 0o644)
        preexec = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")

            def preexec():
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
        r = run_t(path, preexec)
        assert_error_at(r, path, line, "localhost.key", "Permission denied")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


GOOD_CONF = """\
ssl_certificate @C@/localhost.pem;          # main level: every server's default
ssl_certificate_key @C@/localhost.key;
ssl_protocols TLSv1.2 TLSv1.3;
ssl_session_timeout 10m;
server {
    listen 127.0.0.1:@PORT@ ssl;
    server_name localhost;
    root @ROOT@;
    ssl_certificate @C@/localhost.pem;
    ssl_certificate_key @C@/localhost.key;
    ssl_certificate @C@/localhost_rsa.pem;
    ssl_certificate_key @C@/localhost_rsa.key;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets off;
    ssl_client_certificate @C@/ca.pem;
    ssl_verify_client optional;
    ssl_verify_depth 2;
}
server {
    listen 127.0.0.1:@PORT@ ssl;
    server_name a.test;
    root @ROOT@;
    ssl_certificate @C@/a.pem;
    ssl_certificate_key @C@/a.key;
    ssl_protocols TLSv1.3;
    ssl_session_cache none;
}
server {
    listen 127.0.0.1:@PORT@ ssl;
    server_name inherits.test;
    root @ROOT@;
}
"""


def test_t_good_configuration(tmp_path, certs):
    path, _ = write_t_conf(tmp_path, GOOD_CONF, certs)
    r = run_t(path)
    assert r.returncode == 0, r.stderr
    assert b"configuration ok" in r.stderr, r.stderr


def test_main_level_certificate_is_inherited(webserv, certs):
    """A certificate at main level serves a server that has none of its own."""
    srv = webserv("ssl_certificate %s;\nssl_certificate_key %s;\nserver {\n"
                  "    listen 127.0.0.1:@PORT@ ssl;\n    root @ROOT@;\n}\n"
                  % (certs.pem("localhost"), certs.key("localhost")))
    r, version, der = tls_get(srv.port, context(ca=certs.pem("ca")), "/readme.txt")
    assert r.status == 200 and r.body == b"hello readme\n", r
    assert der == certs.der("localhost")


def test_protocols_tls13_only(webserv, certs):
    srv = webserv(SERVER_HEAD.replace("@PORT@", "@PORT@") + "    ssl_protocols TLSv1.3;\n"
                  + cert_lines(certs, "localhost") + "}\n")
    r, version, _ = tls_get(srv.port, context(ca=certs.pem("ca")), "/readme.txt")
    assert r.status == 200 and version == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        tls_get(srv.port, context(ca=certs.pem("ca"), version="TLSv1.2"), "/readme.txt")
    r, version, _ = tls_get(srv.port, context(ca=certs.pem("ca")), "/readme.txt")
    assert r.status == 200
