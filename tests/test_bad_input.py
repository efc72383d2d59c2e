"""Bad input: each gets its exact status; framing errors close the connection."""

import random

import pytest

import rawhttp


@pytest.fixture(scope="module")
def srv(module_webserv):
    return module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
}
""")


H = b"Host: localhost\r\n"
OK = b"GET /readme.txt HTTP/1.1\r\n" + H

# (id, request bytes, expected status)
CLOSING = [
    ("garbage_line", b"HELLO\r\n\r\n", 400),
    ("extra_token", b"GET /readme.txt HTTP/1.1 extra\r\n" + H + b"\r\n", 400),
    ("space_in_target", b"GET /hello world.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_not_slash", b"GET readme.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad_method_chars", b"G(T /readme.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lowercase_http", b"GET /readme.txt http/1.1\r\n" + H + b"\r\n", 400),
    ("bad_protocol", b"GET /readme.txt FOO/1.1\r\n" + H + b"\r\n", 400),
    ("version_letters", b"GET /readme.txt HTTP/1.x\r\n" + H + b"\r\n", 400),
    ("leading_space", b" GET /readme.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("no_version", b"GET /\r\n\r\n", 400),
    ("no_version_with_headers", b"GET /readme.txt\r\n" + H + b"\r\n", 400),
    ("http2", b"GET /readme.txt HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http3", b"GET /readme.txt HTTP/3.1\r\n" + H + b"\r\n", 505),
    ("http09_major0", b"GET /readme.txt HTTP/0.9\r\n" + H + b"\r\n", 505),
    ("header_no_colon", OK + b"NoColonHere\r\n\r\n", 400),
    ("space_before_colon", OK + b"X-Foo : bar\r\n\r\n", 400),
    ("tab_before_colon", OK + b"X-Foo\t: bar\r\n\r\n", 400),
    ("ctl_in_value", OK + b"X-Foo: a\x01b\r\n\r\n", 400),
    ("nul_in_value", OK + b"X-Foo: a\x00b\r\n\r\n", 400),
    ("esc_in_value", OK + b"X-Foo: a\x1bb\r\n\r\n", 400),
    ("obs_fold_space", OK + b"X-Foo: a\r\n b\r\n\r\n", 400),
    ("obs_fold_tab", OK + b"X-Foo: a\r\n\tb\r\n\r\n", 400),
    ("no_host_11", b"GET /readme.txt HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two_hosts", OK + b"Host: other\r\n\r\n", 400),
    ("two_hosts_same", OK + b"Host: localhost\r\n\r\n", 400),
    ("cl_and_te", OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400),
    ("te_and_cl", OK + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     b"0\r\n\r\n", 400),
    ("two_cl_equal", OK + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("two_cl_different", OK + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl_list", OK + b"Content-Length: 3, 3\r\n\r\nabc", 400),
    ("cl_abc", OK + b"Content-Length: abc\r\n\r\n", 400),
    ("cl_negative", OK + b"Content-Length: -1\r\n\r\n", 400),
    ("cl_plus", OK + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl_hex", OK + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl_empty", OK + b"Content-Length: \r\n\r\n", 400),
    ("cl_huge", OK + b"Content-Length: 99999999999999999999999999\r\n\r\n", 400),
    ("te_gzip", OK + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("te_chunked_http10", b"GET /readme.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400),
    ("chunk_size_overflow", OK + b"Transfer-Encoding: chunked\r\n\r\n"
     b"ffffffffffffffffff\r\n", 400),
    ("chunk_size_bad", OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_negative", OK + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
     400),
    ("chunk_data_no_crlf", OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
    ("uri_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("header_too_big", OK + b"X-Big: " + b"b" * 40000 + b"\r\n\r\n", 431),
    ("headers_total_too_big", OK + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000)
                                            for i in range(40)) + b"\r\n", 431),
    ("too_many_headers", OK + b"".join(b"X-N%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
]


@pytest.mark.parametrize("data,status", [c[1:] for c in CLOSING], ids=[c[0] for c in CLOSING])
def test_bad_request_status_and_close(srv, data, status):
    with rawhttp.Conn(srv.port, timeout=5) as c:
        # A following valid request must not be answered: framing is lost.
        c.send(data + b"GET /readme.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        assert r.status == status, r
        assert r.status_line.startswith("HTTP/1.1 %d " % status), r.status_line
        assert r.headers.get("Content-Type", "").startswith("text/html"), r.headers
        assert str(status).encode() in r.body
        assert c.wait_closed(3), "connection still open after %d" % status
        assert not c.buf.startswith(b"HTTP/"), "answered a request after a framing error: %r" \
            % bytes(c.buf[:200])


def test_http12_answered_as_11(srv):
    r = rawhttp.request(srv.port, b"GET /readme.txt HTTP/1.2\r\n" + H + b"\r\n")
    assert r.status == 200
    assert r.status_line == "HTTP/1.1 200 OK"
    assert r.body == b"hello readme\n"


def test_http10_without_host_ok(srv):
    r = rawhttp.request(srv.port, b"GET /readme.txt HTTP/1.0\r\n\r\n")
    assert r.status == 200
    assert r.status_line.startswith("HTTP/1.1 200")
    assert r.body == b"hello readme\n"


def test_empty_lines_before_request(srv):
    r = rawhttp.request(srv.port, b"\r\n\r\n" + OK + b"\r\n")
    assert r.status == 200
    assert r.body == b"hello readme\n"


def test_empty_lines_between_pipelined(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(OK + b"\r\n" + b"\r\n" + OK + b"\r\n")
        a, b = c.read_responses(2)
    assert a.status == b.status == 200
    assert a.body == b.body == b"hello readme\n"


def test_uri_just_under_limit_404(srv):
    r = rawhttp.request(srv.port, b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\n" + H + b"\r\n")
    assert r.status == 404


def test_many_headers_under_limit(srv):
    r = rawhttp.request(srv.port, OK + b"".join(b"X-N%d: v\r\n" % i for i in range(100)) + b"\r\n")
    assert r.status == 200


def test_big_header_under_limit(srv):
    r = rawhttp.request(srv.port, OK + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n")
    assert r.status == 200


@pytest.mark.parametrize("extra", [
    b"X-Tab: a\tb\r\n",
    b"X-Empty:\r\n",
    b"X-Spaces:    lots   \r\n",
    b"x-lower-case: v\r\n",
    b"X-High: caf\xe9\r\n",
])
def test_acceptable_headers(srv, extra):
    r = rawhttp.request(srv.port, OK + extra + b"\r\n")
    assert r.status == 200
    assert r.body == b"hello readme\n"


def test_lowercase_host_header(srv):
    r = rawhttp.request(srv.port, b"GET /readme.txt HTTP/1.1\r\nhOsT: localhost\r\n\r\n")
    assert r.status == 200


def test_absolute_form(srv):
    r = rawhttp.request(srv.port, b"GET http://localhost/readme.txt HTTP/1.1\r\n" + H + b"\r\n")
    assert r.status == 200
    assert r.body == b"hello readme\n"


def test_unknown_method_with_body_framing(srv):
    """501 for an unknown method; the connection may close or not, but a
    following request is never mistaken for the rest of the first one."""
    with rawhttp.Conn(srv.port) as c:
        c.send(b"FOO /readme.txt HTTP/1.1\r\n" + H + b"\r\n" + OK + b"\r\n")
        r = c.read_response()
        assert r.status == 501
        try:
            r2 = c.read_response(timeout=3)
        except rawhttp.Closed:
            return
        assert r2.status == 200 and r2.body == b"hello readme\n"


def test_chunked_request_body_ok(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(OK + b"Transfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n" + OK + b"\r\n")
        a, b = c.read_responses(2)
    assert a.status == 200 and b.status == 200
    assert a.body == b.body == b"hello readme\n"


def test_chunked_uppercase_hex(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(OK + b"Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n" + OK + b"\r\n")
        a, b = c.read_responses(2)
    assert a.status == 200 and b.status == 200


def test_content_length_body_then_pipelined(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(OK + b"Content-Length: 12\r\n\r\nGET / HTTP/1" + OK + b"\r\n")
        a, b = c.read_responses(2)
    assert a.status == 200 and b.status == 200
    assert b.body == b"hello readme\n"


def test_no_crash_on_garbage(srv):
    rnd = random.Random(1234)
    samples = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))) + b"\r\n\r\n"
               for _ in range(25)]
    samples += [b"\r\n" * 2000, b"GET " + b"/" * 20000 + b" HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + b":" * 100 + b"\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(100)]  # a TLS hello
    for s in samples:
        try:
            with rawhttp.Conn(srv.port, timeout=3) as c:
                c.send(s)
                c.sock.shutdown(1)
                try:
                    r = c.read_response(timeout=3)
                    assert 100 <= r.status < 600, r
                except rawhttp.Closed:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert srv.alive()
    r = rawhttp.request(srv.port, OK + b"\r\n")
    assert r.status == 200
