"""Load: 1000 concurrent connections, a client that never reads, clients
that reset mid-response, slowloris clients."""

import hashlib
import resource
import selectors
import socket
import time

import pytest

import rawhttp
from conftest import big_file

BIG = 10 * 1024 * 1024
NFILES = 10


@pytest.fixture(scope="module")
def srv(module_webserv):
    files = {"f/%d.txt" % i: ("file %d\n" % i).encode() * (i + 1) for i in range(NFILES)}
    s = module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
}
""", extra_files=files)
    s.big = big_file(s.root / "big.bin", BIG)
    return s


def test_1000_concurrent_connections(srv):
    n = 1000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= n + 100, "RLIMIT_NOFILE too low for this test: %d" % soft
    socks = []
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + 40
    try:
        # 1. open them all: they are concurrent from here on
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            socks.append(s)
        # 2. a request on each
        for i, s in enumerate(socks):
            s.sendall(rawhttp.build("GET", "/f/%d.txt" % (i % NFILES)))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        # 3. read every response
        bufs = {i: bytearray() for i in range(n)}
        done = {}
        while len(done) < n:
            left = deadline - time.monotonic()
            assert left > 0, "only %d of %d answered in time" % (len(done), n)
            for key, _ in sel.select(timeout=min(left, 1.0)):
                i = key.data
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    r = rawhttp.try_parse(bufs[i], eof=True)
                    assert r is not None, "connection %d closed without a response" % i
                    done[i] = r[0]
                    continue
                bufs[i] += data
                r = rawhttp.try_parse(bufs[i])
                if r is not None:
                    done[i] = r[0]
                    sel.unregister(key.fileobj)
        for i in range(n):
            assert done[i].status == 200, (i, done[i])
            assert done[i].body == srv.files["f/%d.txt" % (i % NFILES)], i
    finally:
        sel.close()
        for s in socks:
            s.close()
    assert rawhttp.get(srv.port, "/f/1.txt").status == 200


def test_never_reading_client_does_not_block_others(srv):
    stuck = []
    try:
        for _ in range(3):
            c = rawhttp.Conn(srv.port, rcvbuf=8192)
            c.send(rawhttp.build("GET", "/big.bin"))
            stuck.append(c)
        time.sleep(0.3)
        t_all = time.monotonic()
        for i in range(20):
            t0 = time.monotonic()
            r = rawhttp.get(srv.port, "/f/%d.txt" % (i % NFILES), timeout=3)
            assert r.status == 200
            assert r.body == srv.files["f/%d.txt" % (i % NFILES)]
            assert time.monotonic() - t0 < 1.0
        assert time.monotonic() - t_all < 5.0
        # a full download in parallel still works
        with rawhttp.Conn(srv.port, timeout=30) as c:
            c.send(rawhttp.build("GET", "/big.bin"))
            r = c.read_response()
            assert hashlib.sha256(r.body).digest() == hashlib.sha256(srv.big).digest()
    finally:
        for c in stuck:
            c.abort()


def test_clients_resetting_mid_response(srv):
    for i in range(20):
        c = rawhttp.Conn(srv.port, timeout=5)
        c.send(rawhttp.build("GET", "/big.bin"))
        c.read_exact(1000 + i * 5000)
        c.abort()
    # reset before reading anything, with several requests queued
    for i in range(5):
        c = rawhttp.Conn(srv.port, timeout=5)
        c.send(rawhttp.build("GET", "/big.bin") * 3)
        c.abort()
    # reset in the middle of a request head / body
    for i in range(5):
        c = rawhttp.Conn(srv.port, timeout=5)
        c.send(b"GET /f/1.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        c.abort()
        c = rawhttp.Conn(srv.port, timeout=5)
        c.send(b"GET /f/1.txt HTTP/1.1\r\nHo")
        c.abort()
    time.sleep(0.2)
    assert srv.alive()
    r = rawhttp.get(srv.port, "/f/2.txt")
    assert r.status == 200
    assert r.body == srv.files["f/2.txt"]
    with rawhttp.Conn(srv.port, timeout=30) as c:
        c.send(rawhttp.build("GET", "/big.bin"))
        r = c.read_response()
        assert len(r.body) == BIG


def test_half_closed_client_still_answered(srv):
    """The client shuts down its write side after the request: the response
    still comes (like `nc -N`)."""
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/f/3.txt"))
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert r.status == 200
        assert r.body == srv.files["f/3.txt"]


def test_slowloris_does_not_delay_normal_client(srv):
    """20 clients trickling headers (the server's header timeout is the
    default 60 s, so they stay) while a normal client is served fast."""
    slow = []
    try:
        for _ in range(20):
            c = rawhttp.Conn(srv.port)
            c.send(b"GET /f/1.txt HTTP/1.1\r\n")
            slow.append(c)
        for round_ in range(5):
            for j, c in enumerate(slow):
                c.send(b"X-S%d-%d: a\r\n" % (round_, j))
            t0 = time.monotonic()
            r = rawhttp.get(srv.port, "/f/%d.txt" % round_, timeout=2)
            assert r.status == 200
            assert r.body == srv.files["f/%d.txt" % round_]
            assert time.monotonic() - t0 < 0.5
            time.sleep(0.1)
        # the slow ones, finished, are answered too
        for c in slow:
            c.send(b"Host: x\r\n\r\n")
        for c in slow:
            r = c.read_response()
            assert r.status == 200
            assert r.body == srv.files["f/1.txt"]
    finally:
        for c in slow:
            c.close()



EMFILE_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location = /ok { return 200 "ok"; }
}
"""


def _crowd(port, n=100):
    crowd = []
    for _ in range(n):
        crowd.append(rawhttp.Conn(port, timeout=3))
    time.sleep(0.3)
    return crowd


@pytest.mark.parametrize("target,body", [("/ok", b"ok"), ("/digits.txt", b"0123456789abcdef")])
def test_out_of_descriptors_open_connection_served(webserv, target, body):
    """RLIMIT_NOFILE 64 and 100 clients connecting: a connection that was
    already open goes on being served (a file too, not only a `return`)."""
    srv = webserv(EMFILE_CONF, nofile=64)
    first = rawhttp.Conn(srv.port, timeout=3)
    crowd = []
    try:
        first.send(rawhttp.build("GET", "/readme.txt"))
        assert first.read_response().status == 200
        crowd = _crowd(srv.port)
        for _ in range(3):
            t0 = time.monotonic()
            first.send(rawhttp.build("GET", target))
            r = first.read_response(timeout=2)
            assert r.status == 200, r
            assert r.body == body
            assert time.monotonic() - t0 < 1.0
        assert srv.alive()
    finally:
        for c in crowd:
            c.close()
        first.close()


def test_out_of_descriptors_recovers(webserv):
    """Once the crowd leaves, new clients are served again."""
    srv = webserv(EMFILE_CONF, nofile=64)
    crowd = _crowd(srv.port)
    for c in crowd:
        c.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            r = rawhttp.get(srv.port, "/readme.txt", timeout=2)
            break
        except (rawhttp.Closed, rawhttp.Timeout, OSError):
            assert time.monotonic() < deadline, "no new connection served after EMFILE"
            time.sleep(0.1)
    assert r.status == 200 and r.body == b"hello readme\n"
