"""Keep-alive, pipelining, HTTP/1.0, Connection: close, Expect: 100-continue."""

import time

import pytest

import rawhttp

NFILES = 10


@pytest.fixture(scope="module")
def srv(module_webserv):
    files = {"p/%d.txt" % i: ("file number %d\n" % i).encode() * (i + 1) for i in range(NFILES)}
    files.update({"big/%d.bin" % i: bytes([i]) * (200 * 1024 + i) for i in range(10)})
    return module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
    location /small/ {
        client_max_body_size 10;
        allow_methods GET POST;
    }
    location = /ok { return 200 "ok"; }
}
""", extra_files=files)


def conn_tokens(r):
    return r.header_tokens("Connection")


def test_keepalive_100_requests(srv):
    with rawhttp.Conn(srv.port) as c:
        for i in range(100):
            n = i % NFILES
            c.send(rawhttp.build("GET", "/p/%d.txt" % n))
            r = c.read_response()
            assert r.status == 200, (i, r)
            assert r.body == srv.files["p/%d.txt" % n], i
            assert "close" not in conn_tokens(r), i
        assert c.is_open(0.1)


def test_pipelined_10_in_one_send(srv):
    data = b"".join(rawhttp.build("GET", "/p/%d.txt" % i) for i in range(NFILES))
    with rawhttp.Conn(srv.port) as c:
        c.send(data)
        rs = c.read_responses(NFILES)
        for i, r in enumerate(rs):
            assert r.status == 200
            assert r.body == srv.files["p/%d.txt" % i], i
        assert c.is_open(0.1)


def test_pipelined_mixed(srv):
    data = (rawhttp.build("GET", "/p/1.txt") + rawhttp.build("HEAD", "/p/2.txt") +
            rawhttp.build("GET", "/nope") + rawhttp.build("GET", "/ok") +
            rawhttp.build("GET", "/nope-again") +
            rawhttp.build("GET", "/p/3.txt", [("Content-Length", "4")], body=b"abcd") +
            rawhttp.build("GET", "/p/4.txt"))
    with rawhttp.Conn(srv.port) as c:
        c.send(data)
        rs = c.read_responses(7, heads=[False, True, False, False, False, False, False])
    assert [r.status for r in rs] == [200, 200, 404, 200, 404, 200, 200]
    assert rs[0].body == srv.files["p/1.txt"]
    assert rs[1].body == b"" and rs[1].headers["Content-Length"] == str(len(srv.files["p/2.txt"]))
    assert rs[3].body == b"ok"
    assert rs[5].body == srv.files["p/3.txt"]
    assert rs[6].body == srv.files["p/4.txt"]


def test_pipelined_large_responses(srv):
    """Ten 200 KiB responses pipelined: the server must keep their order
    while the socket buffer fills."""
    data = b"".join(rawhttp.build("GET", "/big/%d.bin" % i) for i in range(10))
    with rawhttp.Conn(srv.port, timeout=10) as c:
        c.send(data)
        time.sleep(0.2)
        rs = c.read_responses(10)
    for i, r in enumerate(rs):
        assert r.status == 200
        assert r.body == srv.files["big/%d.bin" % i], i


def test_pipelined_split_across_writes(srv):
    data = b"".join(rawhttp.build("GET", "/p/%d.txt" % i) for i in range(5))
    cuts = [1, 7, 30, 31, 60, len(data) - 3, len(data) - 1]
    with rawhttp.Conn(srv.port) as c:
        prev = 0
        for cut in cuts + [len(data)]:
            c.send(data[prev:cut])
            prev = cut
            time.sleep(0.02)
        rs = c.read_responses(5)
    for i, r in enumerate(rs):
        assert r.body == srv.files["p/%d.txt" % i]


def test_request_byte_by_byte(srv):
    data = rawhttp.build("GET", "/p/7.txt", [("User-Agent", "slow")])
    with rawhttp.Conn(srv.port) as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        r = c.read_response()
    assert r.status == 200 and r.body == srv.files["p/7.txt"]


def test_http10_closes_by_default(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(b"GET /p/0.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.status_line.startswith("HTTP/1.1 200")
        assert r.body == srv.files["p/0.txt"]
        assert "keep-alive" not in conn_tokens(r)
        assert c.wait_closed(2)


def test_http10_keepalive(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(b"GET /p/0.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert "keep-alive" in conn_tokens(r)
        assert r.body == srv.files["p/0.txt"]
        assert c.is_open(0.3)
        c.send(b"GET /p/1.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        r = c.read_response()
        assert r.body == srv.files["p/1.txt"]
        c.send(b"GET /p/2.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.body == srv.files["p/2.txt"]
        assert c.wait_closed(2)


def test_connection_close(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/p/3.txt", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert r.body == srv.files["p/3.txt"]
        assert "close" in conn_tokens(r)
        assert c.wait_closed(2)


def test_connection_close_case_and_list(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/p/3.txt", [("Connection", "foo, CLOSE")]))
        r = c.read_response()
        assert r.status == 200
        assert c.wait_closed(2)


def test_connection_close_in_pipeline(srv):
    data = (rawhttp.build("GET", "/p/1.txt") +
            rawhttp.build("GET", "/p/2.txt", [("Connection", "close")]) +
            rawhttp.build("GET", "/p/3.txt"))
    with rawhttp.Conn(srv.port) as c:
        c.send(data)
        a, b = c.read_responses(2)
        assert a.body == srv.files["p/1.txt"]
        assert b.body == srv.files["p/2.txt"]
        assert c.wait_closed(2)
        assert c.buf == b"", "answered a request after Connection: close"


def test_http11_keepalive_no_close_header(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/p/1.txt"))
        r = c.read_response()
        assert "close" not in conn_tokens(r)
        assert c.is_open(0.3)


def test_expect_100_continue_413_immediately(srv):
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("POST", "/small/x", [("Content-Length", "100"),
                                                   ("Expect", "100-continue")]))
        r = c.read_response()
        assert r.status == 413, r
        assert c.wait_closed(3)


def test_expect_100_continue_get(srv):
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("GET", "/p/5.txt", [("Content-Length", "5"),
                                                 ("Expect", "100-continue")]))
        r = c.read_response()
        assert r.status == 100, r
        assert r.status_line.startswith("HTTP/1.1 100")
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200
        assert r.body == srv.files["p/5.txt"]
        # and the connection goes on
        c.send(rawhttp.build("GET", "/p/6.txt"))
        assert c.read_response().body == srv.files["p/6.txt"]


def test_expect_100_continue_chunked(srv):
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("GET", "/p/5.txt", [("Transfer-Encoding", "chunked"),
                                                 ("Expect", "100-continue")]))
        r = c.read_response()
        assert r.status == 100, r
        c.send(b"3\r\nabc\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.body == srv.files["p/5.txt"]


def test_expect_100_continue_post_static(srv):
    """A POST that will be refused (405): either 100 Continue then 405 after
    the body, or 405 at once. Only the final status is fixed."""
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("POST", "/small/x", [("Content-Length", "5"),
                                                   ("Expect", "100-continue")]))
        r = c.read_response()
        if r.status == 100:
            c.send(b"hello")
            r = c.read_response()
        assert r.status == 405


def test_many_connections_sequential(srv):
    for i in range(200):
        r = rawhttp.get(srv.port, "/p/%d.txt" % (i % NFILES))
        assert r.status == 200
