"""SIGTERM / SIGINT: stop accepting, finish or close in-flight work, exit 0."""

import os
import signal
import time

import pytest

import rawhttp
from conftest import SLOW, Server, big_file, make_site, port_accepts, wait_for

CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exit_0(webserv, sig):
    srv = webserv(CONF)
    assert rawhttp.get(srv.port, "/readme.txt").status == 200
    t0 = time.monotonic()
    rc = srv.stop(sig)
    assert not srv.killed, "did not exit within 5 s"
    assert rc == 0
    assert time.monotonic() - t0 < 3
    assert not port_accepts(srv.port)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_idle_connections(webserv, sig):
    """Idle keep-alive connections and silent new ones do not hold the exit."""
    srv = webserv(CONF)
    idle = rawhttp.Conn(srv.port)
    idle.send(rawhttp.build("GET", "/readme.txt"))
    assert idle.read_response().status == 200
    silent = rawhttp.Conn(srv.port)
    try:
        time.sleep(0.1)
        t0 = time.monotonic()
        rc = srv.stop(sig)
        assert not srv.killed, "did not exit within 5 s with idle connections"
        assert rc == 0
        assert time.monotonic() - t0 < 3
        assert idle.wait_closed(1)
        assert silent.wait_closed(1)
    finally:
        idle.close()
        silent.close()


def test_sigterm_with_half_sent_request(webserv):
    """A half-received request head may be given a grace period, but the
    exit is bounded and clean."""
    srv = webserv(CONF)
    partial = rawhttp.Conn(srv.port)
    try:
        partial.send(b"GET /readme.txt HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.1)
        rc = srv.stop(signal.SIGTERM, timeout=8)
        assert not srv.killed, "did not exit within 8 s"
        assert rc == 0
    finally:
        partial.close()


def test_sigterm_during_download(webserv):
    """A response in flight is finished or closed; what arrived is a true
    prefix of the file; exit 0."""
    srv = webserv(CONF)
    data = big_file(srv.root / "big.bin", 10 * 1024 * 1024)
    with rawhttp.Conn(srv.port, timeout=10) as c:
        c.send(rawhttp.build("GET", "/big.bin"))
        # read the head and some body
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in c.buf:
            assert c._recv(deadline), "closed before the response head"
        head_end = c.buf.index(b"\r\n\r\n") + 4
        srv.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 8
        while not c.eof and time.monotonic() < deadline:
            c._recv(deadline)
            if len(c.buf) - head_end >= len(data):
                break
        body = bytes(c.buf[head_end:])
    assert body == data[:len(body)], "the bytes received are not the file's"
    srv.proc.wait(8)
    assert srv.proc.returncode == 0


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_worker_processes_2(webserv):
    srv = webserv("""
worker_processes 2;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
""")
    for i in range(20):
        r = rawhttp.get(srv.port, "/readme.txt")
        assert r.status == 200 and r.body == b"hello readme\n"
    kids = _children(srv.pid)
    assert len(kids) >= 2, "expected one process per worker, children: %r" % kids
    rc = srv.stop(signal.SIGTERM)
    assert not srv.killed and rc == 0
    deadline = time.monotonic() + 3
    while not all(_gone(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(k) for k in kids), "workers left running after the master exited"
    assert not port_accepts(srv.port)


def test_worker_restarted_after_death(webserv):
    """A worker that dies is replaced by the master; the address keeps answering."""
    srv = webserv("""
worker_processes 2;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
""")
    # the master listens before it forks its workers
    wait_for(lambda: len(_children(srv.pid)) == 2, 2.0 * SLOW)
    kids = _children(srv.pid)
    assert len(kids) == 2, kids
    os.kill(kids[0], signal.SIGKILL)
    deadline = time.monotonic() + 3 * SLOW
    while time.monotonic() < deadline:
        now = [k for k in _children(srv.pid) if not _gone(k)]
        if len(now) == 2 and kids[0] not in now:
            break
        time.sleep(0.05)
    assert len(now) == 2 and kids[0] not in now, "no replacement worker: %r" % now
    # both reuseport sockets are served again: many new connections all answered
    for i in range(40):
        r = rawhttp.get(srv.port, "/readme.txt", timeout=3)
        assert r.status == 200 and r.body == b"hello readme\n"


def test_workers_address_in_use(webserv):
    """With several workers the listening sockets share the port among
    themselves only: a second server on the same address still fails."""
    conf = """
worker_processes 2;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""
    first = webserv(conf)
    second = Server(first.tmp / "second", conf.replace("@PORT@", str(first.port)), name="second")
    make_site(second.root)
    second.start(wait=False)
    rc = second.proc.wait(5)
    assert rc == 1
    assert b"cannot listen on 127.0.0.1:%d" % first.port in second.stderr_path.read_bytes()
    assert rawhttp.get(first.port, "/readme.txt").status == 200
