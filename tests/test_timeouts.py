"""keepalive_timeout, client_header_timeout, client_body_timeout,
send_timeout (all about 1 s here). On a cut the server may answer 408 or
just close."""

import time

import pytest

import rawhttp
from conftest import big_file

BIG = 10 * 1024 * 1024
TIMEOUT = 1.0
EARLY = 0.6      # a cut before this is too early
LATE = 2.6       # a cut after this is too late (timeout + slack for a loaded box)


@pytest.fixture(scope="module")
def srv(module_webserv):
    s = module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    keepalive_timeout 1s;
    client_header_timeout 1000ms;
    client_body_timeout 1;
    send_timeout 1s;
}
""")
    big_file(s.root / "big.bin", BIG)
    return s


def check_cut_response(c):
    """Whatever arrived before the close must be nothing or a 408."""
    if c.buf:
        r = rawhttp.try_parse(c.buf, eof=True)
        assert r is not None, bytes(c.buf[:200])
        assert r[0].status == 408, r[0]


def test_idle_keepalive_closed(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/readme.txt"))
        r = c.read_response()
        assert r.status == 200
        t0 = time.monotonic()
        assert c.is_open(EARLY), "closed too early"
        assert c.wait_closed(LATE), "idle keep-alive connection not closed"
        elapsed = time.monotonic() - t0
        assert EARLY <= elapsed <= LATE, elapsed
        assert c.buf == b"", "no response expected on an idle close: %r" % bytes(c.buf)


def test_keepalive_counts_between_requests(srv):
    """Four requests 0.6 s apart (2.4 s in all) on one connection."""
    with rawhttp.Conn(srv.port) as c:
        for i in range(4):
            if i:
                time.sleep(0.6)
            c.send(rawhttp.build("GET", "/readme.txt"))
            r = c.read_response()
            assert r.status == 200, i


def test_new_connection_without_bytes_closed(srv):
    with rawhttp.Conn(srv.port) as c:
        t0 = time.monotonic()
        assert c.wait_closed(LATE + 0.5), "silent new connection never closed"
        elapsed = time.monotonic() - t0
        assert EARLY <= elapsed <= LATE + 0.5, elapsed
        check_cut_response(c)


def trickle(c, data, interval, limit):
    """Send one byte every `interval` s until the server closes (or `limit`
    s pass). Returns the time from the first byte to the close, or None."""
    t_first = None
    deadline = time.monotonic() + limit
    i = 0
    while time.monotonic() < deadline and i < len(data):
        try:
            c.sock.send(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t_first
        if t_first is None:
            t_first = time.monotonic()
        i += 1
        if c.wait_closed(interval):
            return time.monotonic() - t_first
    return None


def test_slow_headers_cut_at_deadline(srv):
    """One byte every 0.3 s: each byte is progress, but the head has a
    deadline from its first byte."""
    data = b"GET /readme.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
    with rawhttp.Conn(srv.port) as c:
        elapsed = trickle(c, data, 0.3, 6)
        assert elapsed is not None, "slow-header client never cut"
        assert EARLY <= elapsed <= LATE, elapsed
        check_cut_response(c)


def test_partial_head_then_stall(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(b"GET /readme.txt HTTP/1.1\r\nHost: loc")
        t0 = time.monotonic()
        assert c.wait_closed(LATE), "stalled head never cut"
        assert EARLY <= time.monotonic() - t0 <= LATE
        check_cut_response(c)


def test_slow_head_after_keepalive(srv):
    """Second request on a connection, trickled: cut at the head deadline."""
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/readme.txt"))
        assert c.read_response().status == 200
        data = b"GET /readme.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
        elapsed = trickle(c, data, 0.3, 6)
        assert elapsed is not None, "slow second head never cut"
        assert EARLY <= elapsed <= LATE, elapsed
        check_cut_response(c)


def test_body_timeout(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/readme.txt", [("Content-Length", "100")], body=b"x" * 10))
        t0 = time.monotonic()
        assert c.wait_closed(LATE + 0.5), "stalled body never cut"
        elapsed = time.monotonic() - t0
        assert EARLY <= elapsed <= LATE + 0.5, elapsed
        # the server may have answered the GET before reading its body
        if c.buf:
            r = rawhttp.try_parse(c.buf, eof=True)
            assert r is not None
            assert r[0].status in (200, 408), r[0]


def test_slow_body_progress_not_cut(srv):
    """client_body_timeout counts between reads: 5 bytes 0.45 s apart
    (2.25 s in all) are fine."""
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/readme.txt", [("Content-Length", "5")]))
        for ch in b"hello":
            time.sleep(0.45)
            c.send(bytes([ch]))
        r = c.read_response()
        assert r.status == 200
        c.send(rawhttp.build("GET", "/digits.txt"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"0123456789abcdef"


def test_send_timeout_slow_reader(srv):
    """A client that stops reading a 10 MiB response is closed after
    send_timeout: it can then read only what was already buffered."""
    with rawhttp.Conn(srv.port, rcvbuf=16384, timeout=10) as c:
        c.send(rawhttp.build("GET", "/big.bin"))
        time.sleep(3.0)
        total = c.drain_until_closed(timeout=10)
        assert total < BIG, "the whole 10 MiB arrived: send_timeout did not close"
        assert c.eof


def test_normal_client_during_slow_ones(srv):
    """Slow-header clients being cut do not delay a normal client."""
    slow = [rawhttp.Conn(srv.port) for _ in range(20)]
    try:
        for s in slow:
            s.send(b"GET /readme.txt HTTP/1.1\r\nHost: x")
        for _ in range(5):
            t0 = time.monotonic()
            r = rawhttp.get(srv.port, "/readme.txt", timeout=2)
            assert r.status == 200
            assert time.monotonic() - t0 < 0.5
            time.sleep(0.1)
    finally:
        for s in slow:
            s.close()
