"""HTTP/2 (SPEC "## HTTP/2"): h2c with prior knowledge and h2 over TLS by
ALPN, frame by frame with python3-h2 (h2util.H2Client) and with frames
built by hand (h2util.RawH2), plus curl, nghttp and h2load.

  1. Basics on both transports: static GET/HEAD, 404 with its error page,
     the access log's "HTTP/2.0", ranges, conditionals, uploads in DATA
     frames (413 over client_max_body_size), DELETE, CGI (SERVER_PROTOCOL
     HTTP/2.0), :authority picking the server, a large file through a
     small flow-control window; HTTP/1.1 still served on `http2` ports.
  2. Concurrency: many streams on one connection; a stream whose window
     stays at 0 does not hold back the others (and resumes when opened).
  3. Hostile clients: rapid reset, CONTINUATION flood, SETTINGS and PING
     floods left unread, empty DATA flood, HPACK bomb, streams beyond
     http2_max_concurrent_streams (REFUSED_STREAM before the SETTINGS ACK,
     GOAWAY PROTOCOL_ERROR after), HTTP/1.1-only headers, upper-case names,
     pseudo-header mistakes, bad SETTINGS, content-length against DATA.
     After each one a new client is served.
  4. SIGQUIT: GOAWAY NO_ERROR, the open stream completes, exit 0.
  5. Real clients: curl --http2-prior-knowledge, curl --http2 over TLS,
     nghttp, h2load.

Every socket read has a timeout (h2util); every client is closed by a
`with` block.
"""

import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import time
import uuid

import pytest

import rawhttp
import tlsutil
from conftest import MTIME_HTTP, SLOW, VALGRIND, dir_names, vm_hwm, wait_for, write_file
from h2util import (CANCEL, COMPRESSION_ERROR, DEFAULT_WINDOW, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR,
                    FRAME_SIZE_ERROR, NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, SETTINGS,
                    SETTINGS_ENABLE_PUSH, SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE,
                    SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_FRAME_SIZE, H2Client, RawH2,
                    continuation_frame, data_frame, encode_block, error_name, frame, headers_frame,
                    hp_indexed, hp_literal, ping_frame, request_headers, rst_frame, settings_frame)

MiB = 1 << 20
T = 10.0 * SLOW                 # a client's timeout for one wait
BIG_SIZE = 8 * MiB
MID_SIZE = 1 * MiB

# SPEC: "Floods are cut with GOAWAY (ENHANCE_YOUR_CALM or PROTOCOL_ERROR)".
FLOOD_CODES = (ENHANCE_YOUR_CALM, PROTOCOL_ERROR)

ENV_PY = r"""#!/usr/bin/python3
import json, os, sys
data = sys.stdin.buffer.read()
body = json.dumps({"env": dict(os.environ), "stdin_len": len(data),
                   "stdin_sha": __import__("hashlib").sha256(data).hexdigest()}).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
"""

OTHER_INDEX = b"<html>the other.test site</html>\n"

BODY = """
    root @ROOT@;
    index index.html;
    error_page 404 /errors/404.html;
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        client_max_body_size 20m;
    }
    location /up/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/up;
        client_max_body_size 100m;
    }
    location /lim/ {
        allow_methods GET HEAD POST PUT;
        upload_store @ROOT@/lim;
        client_max_body_size 1k;
    }
"""

H2C, TLS = 0, 1   # the module server's ports


def _conf(certs):
    return """
server {
    listen 127.0.0.1:@PORT0@ http2;
    server_name localhost;
    access_log @TMP@/access-h2c.log;
%(body)s}
server {
    listen 127.0.0.1:@PORT0@ http2;
    server_name other.test;
    root @TMP@/other;
}
server {
    listen 127.0.0.1:@PORT1@ ssl http2;
    server_name localhost;
    ssl_certificate %(pem)s;
    ssl_certificate_key %(key)s;
    access_log @TMP@/access-tls.log;
%(body)s}
""" % {"body": BODY, "pem": certs.pem("localhost"), "key": certs.key("localhost")}


def _setup(s):
    for d in ("up", "lim"):
        (s.root / d).mkdir(exist_ok=True)
    write_file(s.tmp / "other" / "index.html", OTHER_INDEX)
    os.chmod(write_file(s.root / "cgi-bin" / "env.py", ENV_PY, mtime=None), 0o755)
    s.big = os.urandom(BIG_SIZE)
    write_file(s.root / "big.bin", s.big)
    s.mid = os.urandom(MID_SIZE)
    write_file(s.root / "mid.bin", s.mid)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return tlsutil.Certs(tmp_path_factory.mktemp("h2certs"))


@pytest.fixture(scope="module")
def srv(module_webserv, certs):
    s = module_webserv(_conf(certs), nports=2, setup=_setup)
    s.certs = certs
    return s


@pytest.fixture(params=["h2c", "tls"])
def transport(request):
    return request.param


def h2_ctx(certs, alpn=("h2", "http/1.1")):
    return tlsutil.context(ca=certs.pem("ca"), alpn=list(alpn) if alpn is not None else None)


def client(srv, transport="h2c", **kw):
    """An H2Client to the module server over `transport`."""
    kw.setdefault("timeout", T)
    if transport == "tls":
        return H2Client(srv.ports[TLS], ctx=h2_ctx(srv.certs), **kw)
    return H2Client(srv.ports[H2C], **kw)


def raw(srv, transport="h2c", **kw):
    """A RawH2 to the module server over `transport`."""
    kw.setdefault("timeout", T)
    if transport == "tls":
        return RawH2(srv.ports[TLS], ctx=h2_ctx(srv.certs), **kw)
    return RawH2(srv.ports[H2C], **kw)


def tok():
    return uuid.uuid4().hex[:12]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def assert_served(srv, transport="h2c"):
    """A new, well-behaved client gets a file (after a hostile one)."""
    with client(srv, transport) as c:
        r = c.get("/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r
        assert r.ended and r.reset is None, r


def assert_nothing_new(folder, before):
    ok = wait_for(lambda: dir_names(folder) == before, 5 * SLOW)
    assert ok, "left in %s: %r" % (folder, sorted(dir_names(folder) - before))


# ---------------------------------------------------------------------------
# 1. Basics

def test_server_settings_first(srv, transport):
    """The server's first frame is SETTINGS; it advertises the default
    http2_max_concurrent_streams (128) and acknowledges ours."""
    with raw(srv, transport) as c:
        c.handshake()
        assert c.server_settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == 128, c.server_settings
        assert c.wait(lambda: c.settings_acks >= 1), "our SETTINGS were not acknowledged: " + c.summary()
        assert c.sync(), "no PING ACK: " + c.summary()
        assert not c.goaways and not c.eof, c.summary()


@pytest.mark.parametrize("path, ctype", [("/readme.txt", "text/plain"), ("/img.png", "image/png"),
                                         ("/", "text/html"), ("/a/b/d.txt", "text/plain")])
def test_get_static(srv, transport, path, ctype):
    with client(srv, transport) as c:
        r = c.get(path)
        want = srv.files["index.html" if path == "/" else path[1:]]
        assert r.status == 200, r
        assert r.body == want, r
        assert r.headers.get("content-length") == str(len(want)), r
        assert r.headers.get("content-type", "").split(";")[0] == ctype, r
        assert r.headers.get("etag") and r.headers.get("last-modified") == MTIME_HTTP, r
        assert r.ended and r.reset is None


def test_keeps_serving_on_one_connection(srv, transport):
    """Requests one after the other on one connection (streams 1, 3, 5 ...)."""
    with client(srv, transport) as c:
        for i in range(20):
            r = c.get("/digits.txt?n=%d" % i)
            assert (r.status, r.body) == (200, b"0123456789abcdef"), r
        assert max(c.streams) == 39


def test_head(srv, transport):
    with client(srv, transport) as c:
        r = c.get("/digits.txt", method="HEAD")
        assert r.status == 200, r
        assert r.headers.get("content-length") == "16", r
        assert r.body == b"", r
        assert r.ended and r.reset is None


def test_404_error_page(srv, transport):
    with client(srv, transport) as c:
        r = c.get("/no/such/file.txt")
        assert r.status == 404, r
        assert r.body == srv.files["errors/404.html"], r


def test_access_log_says_http2(srv, transport):
    t = tok()
    with client(srv, transport) as c:
        assert c.get("/readme.txt?h2log=" + t).status == 200
    log = srv.tmp / ("access-%s.log" % transport)
    want = '"GET /readme.txt?h2log=%s HTTP/2.0" 200 13 ' % t

    def line():
        try:
            return [ln for ln in log.read_text().splitlines() if want in ln]
        except OSError:
            return []
    assert wait_for(line, 5 * SLOW), "no line with %r in %s" % (want, log)


def test_range(srv, transport):
    with client(srv, transport) as c:
        r = c.get("/digits.txt", [("range", "bytes=2-5")])
        assert r.status == 206, r
        assert r.headers.get("content-range") == "bytes 2-5/16", r
        assert r.body == b"2345", r
        r = c.get("/big.bin", [("range", "bytes=5000000-5000099")])
        assert r.status == 206, r
        assert r.headers.get("content-range") == "bytes 5000000-5000099/%d" % BIG_SIZE, r
        assert r.body == srv.big[5000000:5000100]
        r = c.get("/digits.txt", [("range", "bytes=100-")])
        assert r.status == 416, r
        assert r.headers.get("content-range") == "bytes */16", r


def test_conditionals(srv, transport):
    with client(srv, transport) as c:
        etag = c.get("/readme.txt").headers["etag"]
        r = c.get("/readme.txt", [("if-none-match", etag)])
        assert r.status == 304 and r.body == b"", r
        assert r.headers.get("etag") == etag, r
        r = c.get("/readme.txt", [("if-none-match", '"not-the-etag"')])
        assert r.status == 200 and r.body == b"hello readme\n", r
        r = c.get("/readme.txt", [("if-modified-since", MTIME_HTTP)])
        assert r.status == 304 and r.body == b"", r


def test_put_upload_in_data_frames(srv, transport):
    """A 600 KiB body: more than the server's initial window, so it has to
    reopen it (WINDOW_UPDATE) while the body arrives. Replacing → 204."""
    name = "put-%s.bin" % tok()
    body = os.urandom(600 * 1024)
    with client(srv, transport) as c:
        r = c.get("/up/" + name, method="PUT", body=body,
                  headers=[("content-length", str(len(body))), ("content-type", "application/octet-stream")])
        assert r.status == 201, r
        assert (srv.root / "up" / name).read_bytes() == body
        r = c.get("/up/" + name)
        assert r.status == 200 and r.body == body, r
        # no content-length this time: DATA frames until END_STREAM are the body
        body2 = os.urandom(100 * 1024 + 7)
        r = c.get("/up/" + name, method="PUT", body=body2)
        assert r.status == 204, r
        assert wait_for(lambda: (srv.root / "up" / name).read_bytes() == body2, 5 * SLOW)


def test_post_upload(srv, transport):
    """POST of a raw body → 201 with the Location of the stored copy."""
    body = os.urandom(70000)
    before = dir_names(srv.root / "up")
    with client(srv, transport) as c:
        r = c.get("/up/", method="POST", body=body, headers=[("content-type", "application/octet-stream")])
        assert r.status == 201, r
        loc = r.headers.get("location")
        assert loc and loc.startswith("/up/"), r
        new = dir_names(srv.root / "up") - before
        assert len(new) == 1, new
        assert (srv.root / "up" / new.pop()).read_bytes() == body
        r = c.get(loc)
        assert r.status == 200 and r.body == body, r


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_body_too_large_413(srv, transport, declared):
    """client_max_body_size 1k: 413, nothing stored, the connection goes on."""
    body = os.urandom(4000)
    before = dir_names(srv.root / "lim")
    headers = [("content-length", str(len(body)))] if declared else []
    with client(srv, transport) as c:
        r = c.get("/lim/too-big-%s.bin" % tok(), method="PUT", body=body, headers=headers)
        assert r.status == 413, r
        r = c.get("/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r
    assert_nothing_new(srv.root / "lim", before)


def test_delete(srv, transport):
    name = "del-%s.txt" % tok()
    write_file(srv.root / "up" / name, b"delete me\n")
    with client(srv, transport) as c:
        r = c.get("/up/" + name, method="DELETE")
        assert r.status == 204, r
        assert not (srv.root / "up" / name).exists()
        r = c.get("/up/" + name, method="DELETE")
        assert r.status == 404, r


def env_of(r):
    assert r.status == 200, r
    return json.loads(r.body)


def test_cgi_environment(srv, transport):
    port = srv.ports[TLS if transport == "tls" else H2C]
    with client(srv, transport) as c:
        d = env_of(c.get("/cgi-bin/env.py?x=1&y=a%20b", [("x-custom-thing", "v"),
                                                          ("user-agent", "h2-test/1")]))
    env = d["env"]
    assert env.get("SERVER_PROTOCOL") == "HTTP/2.0", env
    assert env.get("REQUEST_METHOD") == "GET"
    assert env.get("QUERY_STRING") == "x=1&y=a%20b"
    assert env.get("SCRIPT_NAME") == "/cgi-bin/env.py"
    assert env.get("SERVER_PORT") == str(port)
    assert env.get("HTTP_X_CUSTOM_THING") == "v"
    assert env.get("HTTP_USER_AGENT") == "h2-test/1"
    assert env.get("GATEWAY_INTERFACE") == "CGI/1.1"
    if transport == "tls":
        assert env.get("HTTPS") == "on", env
    assert d["stdin_len"] == 0


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_cgi_post_body(srv, transport, declared):
    """The DATA frames are the script's stdin; CONTENT_LENGTH is the body's
    length even when the request declared none (as for chunked)."""
    body = os.urandom(300 * 1024 + 3)
    headers = [("content-type", "application/octet-stream")]
    if declared:
        headers.append(("content-length", str(len(body))))
    with client(srv, transport) as c:
        d = env_of(c.get("/cgi-bin/env.py", method="POST", body=body, headers=headers))
    assert d["env"].get("REQUEST_METHOD") == "POST"
    assert d["env"].get("SERVER_PROTOCOL") == "HTTP/2.0"
    assert d["env"].get("CONTENT_LENGTH") == str(len(body)), d["env"]
    assert d["env"].get("CONTENT_TYPE") == "application/octet-stream"
    assert d["stdin_len"] == len(body) and d["stdin_sha"] == sha(body)


def test_large_file_small_window(srv, transport):
    """8 MiB through a 16 KiB stream window: the server sends within the
    window (h2 raises on any excess), waits for each WINDOW_UPDATE, never
    stalls, and every byte arrives."""
    with client(srv, transport, window=16384) as c:
        r = c.get("/big.bin", timeout=60 * SLOW)
        assert r.status == 200, r
        assert r.headers.get("content-length") == str(BIG_SIZE), r
        assert len(r.body) == BIG_SIZE and r.body == srv.big, "body differs (%d bytes)" % len(r.body)
        assert r.data_frames >= BIG_SIZE // 16384, r.data_frames
        assert c.window_updates_sent >= BIG_SIZE // 16384


def test_authority_picks_the_server(srv):
    """:authority plays Host: other.test is the second server of the port."""
    with client(srv, authority="other.test") as c:
        r = c.get("/")
        assert r.status == 200 and r.body == OTHER_INDEX, r
    with client(srv, authority="localhost") as c:
        r = c.get("/")
        assert r.status == 200 and r.body == srv.files["index.html"], r


def test_http11_on_h2c_port(srv):
    """`listen ... http2` without ssl still serves HTTP/1.1 (keep-alive)."""
    with rawhttp.Conn(srv.ports[H2C], timeout=T) as c:
        for _ in range(2):
            c.send(rawhttp.build("GET", "/readme.txt"))
            r = c.read_response()
            assert r.version == "HTTP/1.1" and r.status == 200 and r.body == b"hello readme\n", r


@pytest.mark.parametrize("offer", [["http/1.1"], None], ids=["alpn-http1.1", "no-alpn"])
def test_http11_over_tls_without_h2(srv, offer):
    ctx = h2_ctx(srv.certs, alpn=offer)
    with tlsutil.TLSConn(srv.ports[TLS], ctx, timeout=T) as c:
        assert c.sock.selected_alpn_protocol() == (None if offer is None else "http/1.1")
        r = c.get("/readme.txt")
        assert r.version == "HTTP/1.1" and r.status == 200 and r.body == b"hello readme\n", r


@pytest.mark.parametrize("offer", [["h2", "http/1.1"], ["h2"]])
def test_alpn_selects_h2(srv, offer):
    with H2Client(srv.ports[TLS], ctx=h2_ctx(srv.certs, alpn=offer), timeout=T) as c:
        assert c.sock.selected_alpn_protocol() == "h2"
        r = c.get("/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r


# ---------------------------------------------------------------------------
# 2. Concurrency and fairness

def test_many_streams_on_one_connection(srv, transport):
    """100 requests sent before any answer is read, all answered right."""
    paths = ["/readme.txt", "/digits.txt", "/a/c.txt", "/img.png", "/style.css", "/dir/x.txt",
             "/sub/other.txt", "/app.js", "/mid.bin", "/no-such-%d"]
    with client(srv, transport) as c:
        sids = {}
        for i in range(100):
            p = paths[i % len(paths)]
            if "%d" in p:
                p = p % i
            sids[c.request("GET", p)] = p
        for sid, p in sids.items():
            r = c.response(sid, timeout=30 * SLOW)
            if p.startswith("/no-such"):
                assert r.status == 404, (p, r)
                continue
            want = srv.mid if p == "/mid.bin" else srv.files[p[1:]]
            assert r.status == 200 and r.body == want, (p, r)
        assert not c.goaways


def test_zero_window_stream_does_not_stall_others(srv, transport):
    """Stream A's window is never reopened: it gets its first 65,535 bytes
    and stops. Meanwhile 20 other streams on the same connection (one of
    them 1 MiB) complete. Then A's window opens and A completes."""
    with client(srv, transport) as c:
        a = c.request("GET", "/big.bin", frozen=True)
        sa = c.streams[a]
        c.wait(lambda: len(sa.data) >= DEFAULT_WINDOW, what="stream A's first window")
        others = {}
        for i in range(20):
            p = "/mid.bin" if i == 10 else ("/readme.txt", "/digits.txt", "/a/c.txt")[i % 3]
            others[c.request("GET", p)] = p
        for sid, p in others.items():
            r = c.response(sid, timeout=30 * SLOW)
            want = srv.mid if p == "/mid.bin" else srv.files[p[1:]]
            assert r.status == 200 and r.body == want, (p, r)
        assert len(sa.data) == DEFAULT_WINDOW and not sa.done, \
            "stream A went past its window: %r" % sa
        c.thaw(a)
        r = c.response(a, timeout=60 * SLOW)
        assert r.status == 200 and r.body == srv.big, "stream A: %d bytes" % len(r.body)


def test_h2load(srv, transport):
    """nghttp2's load generator: 4 connections, 16 streams each at a time."""
    url = ("https://127.0.0.1:%d/readme.txt" % srv.ports[TLS] if transport == "tls"
           else "http://127.0.0.1:%d/readme.txt" % srv.ports[H2C])
    r = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "16", url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60 * SLOW)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    assert re.search(r"requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, "
                     r"0 errored", out), out
    assert "status codes: 2000 2xx" in out, out
    if transport == "tls":
        assert "Application protocol: h2" in out, out


# ---------------------------------------------------------------------------
# 3. Hostile clients

def assert_cut(c, codes=FLOOD_CODES, need_goaway=True, timeout=None):
    """The server ends the connection: a GOAWAY with one of `codes`
    (required when need_goaway) and then the close."""
    closed = c.wait_closed(T if timeout is None else timeout)
    got = c.goaway_codes()
    if need_goaway:
        assert got, "no GOAWAY; " + c.summary()
    assert all(code in codes for code in got), \
        "GOAWAY %s, expected one of %s; %s" % ([error_name(x) for x in got],
                                                [error_name(x) for x in codes], c.summary())
    assert closed, "the server kept the connection open; " + c.summary()


def test_rapid_reset(srv, transport):
    """CVE-2023-44487: streams opened and reset at once, 20,000 of them at
    most, as fast as the server reads: GOAWAY, then the close."""
    with raw(srv, transport) as c:
        c.handshake()
        block = encode_block(request_headers("GET", "/readme.txt", scheme=c.scheme))

        def batches():
            for _ in range(200):
                out = bytearray()
                for _ in range(100):
                    sid = c.new_sid()
                    out += headers_frame(sid, block, end_stream=True) + rst_frame(sid, CANCEL)
                yield bytes(out)
        c.flood(batches(), stop=lambda: bool(c.goaways), timeout=20 * SLOW)
        assert_cut(c)
    assert_served(srv, transport)


@pytest.mark.parametrize("kind", ["fields", "empty"])
def test_continuation_flood(srv, transport, kind):
    """CVE-2024-27316: HEADERS without END_HEADERS, then CONTINUATION
    frames without end (1 KiB header fields each, or empty ones): the
    connection is cut (GOAWAY, if one comes, with a flood code); the
    request is never answered."""
    with raw(srv, transport) as c:
        c.handshake()
        first = encode_block(request_headers("GET", "/readme.txt", scheme=c.scheme))
        piece = hp_literal("x-flood", "a" * 1000) if kind == "fields" else b""

        sid = c.new_sid()

        def frames():
            yield headers_frame(sid, first, end_stream=True, end_headers=False)
            for _ in range(1000):
                yield continuation_frame(sid, piece) * 20     # 20 frames a write
        c.flood(frames(), stop=lambda: bool(c.goaways), timeout=20 * SLOW)
        assert_cut(c, need_goaway=False)
        assert c.streams[sid].status is None, "the flooded request was answered: %r" % c.streams[sid]
    assert_served(srv, transport)


def test_settings_flood_unread(srv):
    """Empty SETTINGS frames as fast as the server reads them (up to
    1,000,000: far more than 1,000 a second, and far more ACKs than the
    socket buffers hold), never reading the ACKs: the server cuts the
    connection (with GOAWAY ENHANCE_YOUR_CALM or PROTOCOL_ERROR if one
    gets through) instead of queueing answers."""
    with raw(srv, rcvbuf=8192) as c:
        c.handshake()
        chunk = settings_frame() * 1000
        sent, _ = c.flood((chunk for _ in range(1000)), read=False, timeout=20 * SLOW)
        assert_cut(c, need_goaway=False, timeout=20 * SLOW)
        assert c.settings_acks < sent // 9, "every SETTINGS was answered: " + c.summary()
    assert_served(srv)


def test_ping_flood_unread(srv):
    """PINGs as fast as the server reads them (up to 1,000,000), never
    reading the ACKs (small receive buffer): more than 10,000 answers left
    unread, so the connection is cut."""
    with raw(srv, rcvbuf=8192) as c:
        c.handshake()
        chunk = b"".join(ping_frame(struct.pack("!Q", i)) for i in range(1000))
        sent, _ = c.flood((chunk for _ in range(1000)), read=False, timeout=20 * SLOW)
        assert_cut(c, need_goaway=False, timeout=20 * SLOW)
        assert len(c.ping_acks) < sent // 17, "every PING was answered: " + c.summary()
    assert_served(srv)


def test_empty_data_flood(srv, transport):
    """An upload stream fed with empty DATA frames (20,000 at most, no
    END_STREAM): GOAWAY, close, and nothing stored."""
    before = dir_names(srv.root / "up")
    with raw(srv, transport) as c:
        c.handshake()
        sid = c.request(request_headers("PUT", "/up/empty-flood-%s.bin" % tok(), scheme=c.scheme),
                        end_stream=False)
        c.send(data_frame(sid, b"x"))
        c.flood((data_frame(sid, b"") * 100 for _ in range(200)), stop=lambda: bool(c.goaways),
                timeout=20 * SLOW)
        assert_cut(c)
    assert_nothing_new(srv.root / "up", before)
    assert_served(srv, transport)


def test_hpack_bomb(srv):
    """One header field of nearly the whole dynamic table, then referenced
    by its index (one byte each) until the header list decodes to 256 MiB:
    the request is refused (GOAWAY with a flood or COMPRESSION_ERROR code,
    a close, RST_STREAM, or a 4xx), the server's peak memory does not follow the
    decoded size, and the server goes on serving."""
    before = vm_hwm(srv.pid)
    with raw(srv) as c:
        c.handshake()
        table = c.server_settings.get(SETTINGS_HEADER_TABLE_SIZE, 4096)
        name = "x-bomb"
        vlen = max(1, table - 32 - len(name))
        refs = min((256 * MiB) // (vlen + len(name)), 1 << 20)
        block = (encode_block(request_headers("GET", "/readme.txt"))
                 + hp_literal(name, "b" * vlen, indexing=True) + hp_indexed(62) * refs)
        sid = c.new_sid()
        size = 16384
        parts = [block[i:i + size] for i in range(0, len(block), size)]
        frames = [headers_frame(sid, parts[0], end_stream=True, end_headers=len(parts) == 1)]
        frames += [continuation_frame(sid, p, end_headers=(i == len(parts) - 1))
                   for i, p in enumerate(parts[1:], 1)]
        st = c.streams[sid]
        c.flood(frames, stop=lambda: bool(c.goaways) or st.done, timeout=20 * SLOW)
        c.wait(lambda: bool(c.goaways) or st.done, T)
        if c.goaways:
            assert_cut(c, codes=FLOOD_CODES + (COMPRESSION_ERROR,))
        elif c.eof:
            pass   # cut without a GOAWAY (a fatal error of the decoder): an error too
        else:
            assert st.status != 200, "the bomb was served: %r" % st
            assert (st.reset not in (None, NO_ERROR)) or (st.status is not None and 400 <= st.status < 500), \
                "neither a stream error nor a 4xx: %r; %s" % (st, c.summary())
    after = vm_hwm(srv.pid)
    slack = 32 * MiB + (20 * MiB if VALGRIND else 0)
    assert after - before <= slack, "VmHWM grew by %.1f MiB" % ((after - before) / MiB)
    assert_served(srv)


LIMITED = """
server {
    listen 127.0.0.1:@PORT@ http2;
    root @ROOT@;
    http2_max_concurrent_streams 4;
    location /up/ {
        allow_methods GET PUT;
        upload_store @ROOT@/up;
    }
}
"""


def _limited(webserv):
    return webserv(LIMITED, setup=lambda s: (s.root / "up").mkdir())


def _open_uploads(c, n):
    """n PUT streams that wait for a 10-byte body that never comes."""
    return [c.request(request_headers("PUT", "/up/cs-%s.bin" % tok(), extra=[("content-length", "10")]),
                      end_stream=False) for _ in range(n)]


def test_streams_over_limit_before_settings_ack_refused(webserv):
    """http2_max_concurrent_streams 4, our SETTINGS ACK withheld: streams 5
    and 6 get RST_STREAM REFUSED_STREAM, the first four stay open, the
    connection goes on."""
    srv = _limited(webserv)
    with RawH2(srv.port, timeout=T, ack_settings=False) as c:
        c.handshake()
        assert c.server_settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == 4, c.server_settings
        sids = _open_uploads(c, 6)
        assert c.wait(lambda: all(c.streams[s].reset is not None for s in sids[4:])), \
            "no RST_STREAM for the streams over the limit; " + c.summary()
        assert [c.streams[s].reset for s in sids[4:]] == [REFUSED_STREAM] * 2, c.summary()
        assert c.sync(), c.summary()
        assert all(c.streams[s].reset is None and not c.streams[s].done for s in sids[:4]), \
            [c.streams[s] for s in sids[:4]]
        assert not c.goaways, c.summary()
        # a stream of the four completes; then a new one has room
        c.send(data_frame(sids[0], b"0123456789", end_stream=True))
        assert c.wait(lambda: c.streams[sids[0]].done), c.summary()
        assert c.streams[sids[0]].status == 201, c.streams[sids[0]]
        sid = c.get("/readme.txt")
        assert c.wait(lambda: c.streams[sid].done), c.summary()
        assert c.streams[sid].status == 200 and c.streams[sid].body == b"hello readme\n", c.streams[sid]
    with H2Client(srv.port, timeout=T) as c:
        r = c.get("/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r


def test_streams_over_limit_after_settings_ack_goaway(webserv):
    """Once the client has acknowledged the limit, opening a fifth stream
    is a connection error: GOAWAY PROTOCOL_ERROR."""
    srv = _limited(webserv)
    with RawH2(srv.port, timeout=T) as c:
        c.handshake()
        assert c.wait(lambda: c.settings_acks >= 1) and c.sync(), c.summary()
        sids = _open_uploads(c, 4)
        assert c.sync() and not any(c.streams[s].done for s in sids), c.summary()
        _open_uploads(c, 1)
        assert_cut(c, codes=(PROTOCOL_ERROR,))
    with H2Client(srv.port, timeout=T) as c:
        r = c.get("/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n", r


def assert_stream_error(c, sid):
    """A malformed request: RST_STREAM PROTOCOL_ERROR (a 400 may precede
    it) or a 400 answer; not a connection error; the connection still
    serves a good request."""
    st = c.streams[sid]
    c.wait(lambda: st.done or bool(c.goaways))
    assert not c.goaways and not c.eof, "a connection error for a stream's mistake: " + c.summary()
    assert st.done, "no answer: " + c.summary()
    assert st.status in (None, 400), st
    if st.reset is not None:
        assert st.reset == PROTOCOL_ERROR, st
    else:
        assert st.status == 400, st
    ok = c.get("/readme.txt")
    assert c.wait(lambda: c.streams[ok].done), c.summary()
    assert c.streams[ok].status == 200, c.streams[ok]


BAD_HEADERS = [
    ("connection", "keep-alive"),
    ("keep-alive", "timeout=5"),
    ("proxy-connection", "keep-alive"),
    ("transfer-encoding", "chunked"),
    ("upgrade", "websocket"),
    ("te", "gzip"),
    ("x-upper-Case", "1"),
    ("Accept", "*/*"),
]


@pytest.mark.parametrize("name, value", BAD_HEADERS, ids=[n for n, _ in BAD_HEADERS])
def test_malformed_header(srv, name, value):
    with raw(srv) as c:
        c.handshake()
        sid = c.request(request_headers("GET", "/readme.txt", extra=[(name, value)]))
        assert_stream_error(c, sid)
    assert_served(srv)


@pytest.mark.parametrize("extra", [[("te", "trailers")], [("x-lower", "1"), ("accept", "*/*")]],
                         ids=["te-trailers", "lower-case"])
def test_well_formed_headers_accepted(srv, extra):
    """The counterpart of test_malformed_header, through the same client."""
    with raw(srv) as c:
        c.handshake()
        sid = c.request(request_headers("GET", "/readme.txt", extra=extra))
        assert c.wait(lambda: c.streams[sid].done), c.summary()
        assert c.streams[sid].status == 200 and c.streams[sid].body == b"hello readme\n", c.streams[sid]


PSEUDO_CASES = {
    "no-method": [(":scheme", "http"), (":authority", "localhost"), (":path", "/readme.txt")],
    "no-path": [(":method", "GET"), (":scheme", "http"), (":authority", "localhost")],
    "no-scheme": [(":method", "GET"), (":authority", "localhost"), (":path", "/readme.txt")],
    "empty-path": [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "")],
    "two-paths": request_headers("GET", "/readme.txt") + [(":path", "/digits.txt")],
    "two-methods": [(":method", "GET"), (":method", "HEAD")] + request_headers("GET", "/readme.txt")[1:],
    "unknown-pseudo": request_headers("GET", "/readme.txt") + [(":foo", "bar")],
    "status-in-request": request_headers("GET", "/readme.txt") + [(":status", "200")],
    "pseudo-after-regular": request_headers("GET", "/readme.txt")[:3] + [("accept", "*/*"),
                                                                         (":path", "/readme.txt")],
}


@pytest.mark.parametrize("case", list(PSEUDO_CASES))
def test_malformed_pseudo_headers(srv, case):
    with raw(srv) as c:
        c.handshake()
        sid = c.request(PSEUDO_CASES[case])
        assert_stream_error(c, sid)
    assert_served(srv)


BAD_SETTINGS = {
    "initial-window-over-2^31-1": (settings_frame([(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31)]),
                                   FLOW_CONTROL_ERROR),
    "enable-push-2": (settings_frame([(SETTINGS_ENABLE_PUSH, 2)]), PROTOCOL_ERROR),
    "max-frame-size-too-small": (settings_frame([(SETTINGS_MAX_FRAME_SIZE, 16383)]), PROTOCOL_ERROR),
    "max-frame-size-too-large": (settings_frame([(SETTINGS_MAX_FRAME_SIZE, 1 << 24)]), PROTOCOL_ERROR),
    "length-not-a-multiple-of-6": (frame(SETTINGS, 0, 0, b"\x00\x04\x00\x00\xff"), FRAME_SIZE_ERROR),
    "ack-with-payload": (frame(SETTINGS, 1, 0, struct.pack("!HI", SETTINGS_ENABLE_PUSH, 0)),
                         FRAME_SIZE_ERROR),
    "on-a-stream": (settings_frame([(SETTINGS_ENABLE_PUSH, 0)], sid=1), PROTOCOL_ERROR),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_invalid_settings(srv, case):
    """RFC 9113 6.5 / 6.5.2: a connection error of the given type."""
    bad, code = BAD_SETTINGS[case]
    with raw(srv) as c:
        c.handshake()
        assert c.sync(), c.summary()
        c.send(bad)
        assert_cut(c, codes=(code,))
    assert_served(srv)


@pytest.mark.parametrize("declared, sent", [(5, b"0123456789"), (10, b"01234")],
                         ids=["more-data", "less-data"])
def test_content_length_disagrees_with_data(srv, transport, declared, sent):
    """RST_STREAM PROTOCOL_ERROR (a 400 may precede it), nothing stored,
    the connection still serves."""
    before = dir_names(srv.root / "up")
    with raw(srv, transport) as c:
        c.handshake()
        sid = c.request(request_headers("PUT", "/up/cl-%s.bin" % tok(), scheme=c.scheme,
                                        extra=[("content-length", str(declared))]), end_stream=False)
        c.send(data_frame(sid, sent[:3]) + data_frame(sid, sent[3:], end_stream=True))
        st = c.streams[sid]
        c.wait(lambda: st.done or bool(c.goaways))
        assert not c.goaways and not c.eof, c.summary()
        assert st.reset == PROTOCOL_ERROR, "%r; %s" % (st, c.summary())
        assert st.status in (None, 400), st
        ok = c.get("/readme.txt")
        assert c.wait(lambda: c.streams[ok].done) and c.streams[ok].status == 200, c.summary()
    assert_nothing_new(srv.root / "up", before)
    assert_served(srv, transport)


# ---------------------------------------------------------------------------
# 4. Graceful stop

@pytest.mark.parametrize("stalled_upload", [True, False], ids=["stalled-upload", "idle"])
def test_pings_do_not_hold_a_connection(webserv, stalled_upload):
    """Control frames are not progress: a client that PINGs every 0.2 s
    but sends no body for its upload (or no request at all) is cut when
    send_timeout (keepalive_timeout when idle) runs out, as a silent one is."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@ http2;
    root @ROOT@;
    send_timeout 1s;
    keepalive_timeout 1s;
    location /up/ { allow_methods PUT; upload_store @ROOT@; }
}
""")
    with RawH2(srv.port, timeout=T) as c:
        c.handshake()
        if stalled_upload:
            c.request(request_headers("PUT", "/up/stalled.bin", extra=[("content-length", "10")]), end_stream=False)
        start = time.monotonic()
        while not c.eof and time.monotonic() - start < 8 * SLOW:
            c.send(ping_frame(b"stalling"))
            c.pump(0.2)
        took = time.monotonic() - start
        assert c.eof, "still open after %.1f s of PINGs; %s" % (took, c.summary())
        assert took >= 0.8, "cut before its timeout (%.1f s)" % took
    assert not (srv.root / "stalled.bin").exists()
    with RawH2(srv.port, timeout=T) as c:  # and the server serves on
        c.handshake()
        st = c._stream(c.get("/"))
        assert c.wait(lambda: st.done), c.summary()


def test_sigquit_finishes_the_open_stream(webserv):
    """A download held at window 0; SIGQUIT: GOAWAY NO_ERROR (every one
    of them) naming our stream, the server waits for the stream, which
    completes whole once the window opens; then the close and exit 0."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@ http2;
    root @ROOT@;
}
""")
    data = os.urandom(BIG_SIZE)
    write_file(srv.root / "big.bin", data)
    with RawH2(srv.port, timeout=T) as c:
        c.handshake()
        sid = c.new_sid()
        c.frozen.add(sid)
        c.request(request_headers("GET", "/big.bin"), sid=sid)
        st = c.streams[sid]
        assert c.wait(lambda: len(st.data) >= DEFAULT_WINDOW), c.summary()
        srv.send_signal(signal.SIGQUIT)
        assert c.wait(lambda: bool(c.goaways)), "no GOAWAY after SIGQUIT; " + c.summary()
        time.sleep(0.5)   # the server has no reason to stop: the stream waits for us
        c.pump(0.1)
        assert srv.alive(), "the server exited with a stream in progress"
        assert not c.eof and not st.done and len(st.data) == DEFAULT_WINDOW, "%r; %s" % (st, c.summary())
        c.open_window(sid)
        assert c.wait(lambda: st.done, 60 * SLOW), "%r; %s" % (st, c.summary())
        assert st.status == 200 and st.ended and st.reset is None, st
        assert st.body == data, "the stream's body differs (%d bytes)" % len(st.data)
        assert c.wait_closed(T), "the connection stays open after the last stream; " + c.summary()
        assert c.goaway_codes() and set(c.goaway_codes()) == {NO_ERROR}, c.summary()
        assert min(last for _, last, _ in c.goaways) >= sid, c.summary()
    srv.proc.wait(T)
    assert srv.proc.returncode == 0, srv.stderr()[-2000:]


# ---------------------------------------------------------------------------
# 5. Real clients

def _run(cmd, timeout=30):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout * SLOW)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def test_curl_prior_knowledge(srv):
    rc, out, err = _run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version}",
                         "http://127.0.0.1:%d/readme.txt" % srv.ports[H2C]])
    assert rc == 0, err
    assert out == b"hello readme\n\n200 2", out


@pytest.mark.parametrize("option, version", [("--http2", "2"), ("--http1.1", "1.1")])
def test_curl_over_tls_on_h2_port(srv, option, version):
    """curl --http2 gets h2 by ALPN; --http1.1 gets HTTP/1.1 on the same port."""
    rc, out, err = _run(["curl", "-sS", option, "--cacert", str(srv.certs.pem("ca")),
                         "--resolve", "localhost:%d:127.0.0.1" % srv.ports[TLS],
                         "-w", "\n%{http_code} %{http_version}",
                         "https://localhost:%d/readme.txt" % srv.ports[TLS]])
    assert rc == 0, err
    assert out == b"hello readme\n\n200 " + version.encode(), out


def test_curl_upload_prior_knowledge(srv):
    name = "curl-%s.bin" % tok()
    src = srv.tmp / name
    body = os.urandom(200000)
    src.write_bytes(body)
    rc, out, err = _run(["curl", "-sS", "--http2-prior-knowledge", "-T", str(src), "-o", "/dev/null",
                         "-w", "%{http_code} %{http_version}",
                         "http://127.0.0.1:%d/up/%s" % (srv.ports[H2C], name)])
    assert rc == 0, err
    assert out == b"201 2", out
    assert (srv.root / "up" / name).read_bytes() == body


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_nghttp(srv, scheme):
    port = srv.ports[TLS if scheme == "https" else H2C]
    url = "%s://127.0.0.1:%d/readme.txt" % (scheme, port)
    rc, out, err = _run(["nghttp", "-nv", url])
    text = out.decode(errors="replace")
    assert rc == 0, text + err
    assert "recv SETTINGS frame" in text and "recv HEADERS frame" in text, text
    assert re.search(r"recv \(stream_id=\d+\) :status: 200$", text, re.M), text
    rc, out, err = _run(["nghttp", url])
    assert rc == 0, err
    assert out == b"hello readme\n", out
