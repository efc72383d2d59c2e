"""CGI (RFC 3875) with /usr/bin/python3 and php-cgi: meta-variables, body
in and out, CGI response headers, redirects, 502/504, no zombies, no
descriptor leaks, peak memory of a 100 MiB output."""

import json
import os
import re
import subprocess
import threading
import time
import zlib

import pytest

import httpbody
import rawhttp
from conftest import (SLOW, VALGRIND, children, has_open_file_under, pid_running, vm_hwm, wait_for, write_file,
                      zombie_children)

MiB = 1 << 20
HWM_SLACK = 16 * MiB
PHP = "/usr/bin/php-cgi"

ENV_PY = r"""#!/usr/bin/python3
import json, os, sys
data = sys.stdin.buffer.read()
with open("/proc/self/cmdline", "rb") as f:
    cmdline = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")[:-1]]
out = {"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv,
       "cmdline": cmdline, "stdin_len": len(data)}
body = json.dumps(out).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
"""

ECHO_PY = r"""#!/usr/bin/python3
import sys
data = sys.stdin.buffer.read()
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(data) + data)
"""

# echoes as it reads: the server must read stdout while it still writes stdin
STREAM_ECHO_PY = r"""#!/usr/bin/python3
import os
os.write(1, b"Content-Type: application/octet-stream\n\n")
while True:
    b = os.read(0, 65536)
    if not b:
        break
    while b:
        n = os.write(1, b)
        b = b[n:]
"""

OUT5M_PY = r"""#!/usr/bin/python3
import os, sys
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data5m.bin"), "rb") as f:
    data = f.read()
hdr = b"Content-Type: application/octet-stream\r\n"
if os.environ.get("QUERY_STRING") == "len":
    hdr += b"Content-Length: %d\r\n" % len(data)
sys.stdout.buffer.write(hdr + b"\r\n")
sys.stdout.buffer.write(data)
"""

BIG_PY = r"""#!/usr/bin/python3
import sys
block = bytes(range(256)) * 4096
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\r\n\r\n")
for i in range(100):
    out.write((b"%016x" % i) + block[16:])
out.flush()
"""

STATUS404_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Status: 404 Not Found\nContent-Type: text/plain\n\nnot here, says the script\n")
"""

STATUS_CODE_ONLY_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Status: 418\r\nContent-Type: text/plain\r\n\r\nteapot\n")
"""

REDIRECT_ABS_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Location: http://example.com/\n\n")
"""

REDIRECT_LOCAL_PY = r"""#!/usr/bin/python3
import sys
sys.stdin.buffer.read()
sys.stdout.write("Location: /readme.txt\r\n\r\n")
"""

CL_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.buffer.write(b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
"""

NOLEN_PY = r"""#!/usr/bin/python3
import sys, time
out = sys.stdout.buffer
out.write(b"Content-Type: text/plain\n\n")
for i in range(200):
    out.write(b"line %d of a body without length\n" % i)
    if i % 50 == 0:
        out.flush()
        time.sleep(0.01)
"""

HEADERS_LF_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.buffer.write(b"Content-Type: text/plain; charset=utf-8\n"
                        b"Set-Cookie: a=1; Path=/\n"
                        b"Set-Cookie: b=2; HttpOnly\n"
                        b"X-Foo: bar baz\n"
                        b"\n"
                        b"lf body\n")
"""

HEADERS_CRLF_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.buffer.write(b"Content-Type: text/plain; charset=utf-8\r\n"
                        b"Set-Cookie: a=1; Path=/\r\n"
                        b"Set-Cookie: b=2; HttpOnly\r\n"
                        b"X-Foo: bar baz\r\n"
                        b"\r\n"
                        b"crlf body\n")
"""

NOOUT_PY = r"""#!/usr/bin/python3
import sys
sys.exit(0)
"""

NOOUT_FAIL_PY = r"""#!/usr/bin/python3
import sys
sys.exit(3)
"""

GARBAGE_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("this is not a header line\n\nbody\n")
"""

NO_BLANK_LINE_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Content-Type: text/plain\n")
"""

BAD_STATUS_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Status: abc\nContent-Type: text/plain\n\nbody\n")
"""

SUICIDE_PY = r"""#!/usr/bin/python3
import os
os.kill(os.getpid(), 9)
"""

FDS_PY = r"""#!/usr/bin/python3
import json, os, sys
res = {}
for n in os.listdir("/proc/self/fd"):
    try:
        res[n] = os.readlink("/proc/self/fd/" + n)
    except OSError:
        res[n] = "(gone)"
body = json.dumps(res).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\n\r\n" + body)
"""

SLEEP_PY = r"""#!/usr/bin/python3
import os, sys, time
name = os.environ.get("QUERY_STRING") or "sleep"
with open(os.path.join(@PIDDIR@, name + ".pid"), "w") as f:
    f.write(str(os.getpid()))
time.sleep(30)
sys.stdout.write("Content-Type: text/plain\n\ntoo late\n")
"""

QUICK_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Content-Type: text/plain\n\nquick\n")
"""

TEST_PHP = r"""<?php
header("Content-Type: text/plain");
echo "x=" . (isset($_GET['x']) ? $_GET['x'] : '') . "\n";
echo "method=" . $_SERVER['REQUEST_METHOD'] . "\n";
echo "field=" . (isset($_POST['field']) ? $_POST['field'] : '') . "\n";
"""

SCRIPTS = {
    "cgi-bin/env.py": ENV_PY,
    "cgi-bin/echo.py": ECHO_PY,
    "cgi-bin/stream_echo.py": STREAM_ECHO_PY,
    "cgi-bin/out5m.py": OUT5M_PY,
    "cgi-bin/big.py": BIG_PY,
    "cgi-bin/status404.py": STATUS404_PY,
    "cgi-bin/status418.py": STATUS_CODE_ONLY_PY,
    "cgi-bin/redirect_abs.py": REDIRECT_ABS_PY,
    "cgi-bin/redirect_local.py": REDIRECT_LOCAL_PY,
    "cgi-bin/cl.py": CL_PY,
    "cgi-bin/nolen.py": NOLEN_PY,
    "cgi-bin/headers_lf.py": HEADERS_LF_PY,
    "cgi-bin/headers_crlf.py": HEADERS_CRLF_PY,
    "cgi-bin/noout.py": NOOUT_PY,
    "cgi-bin/noout_fail.py": NOOUT_FAIL_PY,
    "cgi-bin/garbage.py": GARBAGE_PY,
    "cgi-bin/suicide.py": SUICIDE_PY,
    "cgi-bin/no_blank_line.py": NO_BLANK_LINE_PY,
    "cgi-bin/bad_status.py": BAD_STATUS_PY,
    "cgi-bin/fds.py": FDS_PY,
    "cgi-bin/sub/env.py": ENV_PY,
    "cgi-bin/test.php": TEST_PHP,
    "tcgi/sleep.py": SLEEP_PY,
    "tcgi/quick.py": QUICK_PY,
    "tcgi/suicide.py": SUICIDE_PY,
}

NOLEN_BODY = b"".join(b"line %d of a body without length\n" % i for i in range(200))


@pytest.fixture(scope="module")
def srv(module_webserv):
    def setup(s):
        s.piddir = s.tmp / "pids"
        s.piddir.mkdir(exist_ok=True)
        for rel, text in SCRIPTS.items():
            text = text.replace("@PIDDIR@", repr(str(s.piddir)))
            p = write_file(s.root / rel, text, mtime=None)
            os.chmod(p, 0o755)
        # not executable: the server runs INTERPRETER SCRIPT anyway
        p = write_file(s.root / "cgi-bin/noexec.py", QUICK_PY, mtime=None)
        os.chmod(p, 0o644)
        (s.root / "up").mkdir()
        s.data5m = os.urandom(5 * MiB)
        write_file(s.root / "cgi-bin/data5m.bin", s.data5m)

    return module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    root @ROOT@;
    index index.html;
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        cgi .php /usr/bin/php-cgi;
        cgi_timeout 30s;
        client_max_body_size 20m;
    }
    location /tcgi/ {
        cgi .py /usr/bin/python3;
        cgi_timeout 1s;
    }
    location /up/ {
        allow_methods GET PUT;
        upload_store @ROOT@/up;
    }
}
""", setup=setup)


def env_of(r):
    assert r.status == 200, r
    return json.loads(r.body)


def get_env(srv, target, method="GET", headers=(), body=None, coding="length"):
    if body is None:
        r = rawhttp.get(srv.port, target, list(headers), method=method)
    else:
        r = httpbody.request_with_body(srv.port, method, target, body, headers, coding=coding)
    return env_of(r)


# ---------------------------------------------------------------------------
# meta-variables


def test_env_get(srv):
    d = get_env(srv, "/cgi-bin/env.py?x=1&y=a%20b&z=%2F+q", headers=[
        ("X-Custom-Thing", "v"), ("Accept", "text/plain")])
    env = d["env"]
    script = str(srv.root / "cgi-bin" / "env.py")
    assert env.get("REQUEST_METHOD") == "GET"
    assert env.get("QUERY_STRING") == "x=1&y=a%20b&z=%2F+q"
    assert env.get("CONTENT_LENGTH", "") == ""
    assert env.get("SCRIPT_NAME") == "/cgi-bin/env.py"
    assert env.get("SCRIPT_FILENAME") == script
    assert env.get("PATH_INFO", "") == ""
    assert env.get("SERVER_NAME") == "localhost"
    assert env.get("SERVER_PORT") == str(srv.port)
    assert env.get("SERVER_PROTOCOL") == "HTTP/1.1"
    assert env.get("GATEWAY_INTERFACE") == "CGI/1.1"
    assert env.get("REMOTE_ADDR") == "127.0.0.1"
    assert env.get("REDIRECT_STATUS") == "200"
    assert env.get("HTTP_X_CUSTOM_THING") == "v"
    assert env.get("HTTP_ACCEPT") == "text/plain"
    assert env.get("HTTP_HOST") == "localhost"
    assert os.path.realpath(d["cwd"]) == os.path.realpath(srv.root / "cgi-bin")
    assert d["stdin_len"] == 0


def test_env_argv_is_script_path(srv):
    d = get_env(srv, "/cgi-bin/env.py")
    cmd = d["cmdline"]
    assert len(cmd) == 2, cmd
    assert os.path.basename(cmd[0]).startswith("python3"), cmd
    path = cmd[1] if os.path.isabs(cmd[1]) else os.path.join(d["cwd"], cmd[1])
    assert os.path.realpath(path) == os.path.realpath(srv.root / "cgi-bin" / "env.py"), cmd


def test_env_no_query_string_empty(srv):
    env = get_env(srv, "/cgi-bin/env.py")["env"]
    assert env.get("QUERY_STRING") == "", "QUERY_STRING must be set, empty: %r" % (
        env.get("QUERY_STRING"),)


def test_env_path_info(srv):
    d = get_env(srv, "/cgi-bin/env.py/a/b?q=1")
    env = d["env"]
    assert env.get("PATH_INFO") == "/a/b"
    assert env.get("SCRIPT_NAME") == "/cgi-bin/env.py"
    assert env.get("SCRIPT_FILENAME") == str(srv.root / "cgi-bin" / "env.py")
    assert env.get("QUERY_STRING") == "q=1"


def test_env_subfolder_cwd(srv):
    d = get_env(srv, "/cgi-bin/sub/env.py")
    assert d["env"].get("SCRIPT_NAME") == "/cgi-bin/sub/env.py"
    assert os.path.realpath(d["cwd"]) == os.path.realpath(srv.root / "cgi-bin" / "sub")


def test_env_post_content_length(srv):
    body = b"a=1&b=2"
    d = get_env(srv, "/cgi-bin/env.py", "POST", [("Content-Type", "application/x-www-form-urlencoded")],
                body)
    env = d["env"]
    assert env.get("REQUEST_METHOD") == "POST"
    assert env.get("CONTENT_LENGTH") == "7"
    assert env.get("CONTENT_TYPE") == "application/x-www-form-urlencoded"
    assert d["stdin_len"] == 7


def test_env_post_chunked_content_length(srv):
    body = os.urandom(100000)
    d = get_env(srv, "/cgi-bin/env.py", "POST", [("Content-Type", "application/octet-stream")],
                body, coding="chunked")
    assert d["env"].get("CONTENT_LENGTH") == str(len(body))
    assert d["stdin_len"] == len(body)


def test_env_headers_multiple_and_dashes(srv):
    env = get_env(srv, "/cgi-bin/env.py", headers=[
        ("User-Agent", "test-agent/1.0"), ("X-A-B-C", "1 2 3"), ("Cookie", "s=abc")])["env"]
    assert env.get("HTTP_USER_AGENT") == "test-agent/1.0"
    assert env.get("HTTP_X_A_B_C") == "1 2 3"
    assert env.get("HTTP_COOKIE") == "s=abc"


def test_noexec_script_runs(srv):
    r = rawhttp.get(srv.port, "/cgi-bin/noexec.py")
    assert r.status == 200, r
    assert r.body == b"quick\n"


def test_missing_script_404(srv):
    r = rawhttp.get(srv.port, "/cgi-bin/nope.py")
    assert r.status == 404, r
    r = rawhttp.get(srv.port, "/cgi-bin/nope.py/path/info")
    assert r.status == 404, r


# ---------------------------------------------------------------------------
# bodies


@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_body_echo_1mib(srv, coding):
    body = os.urandom(MiB)
    r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/echo.py", body,
                                   [("Content-Type", "application/octet-stream")], coding=coding)
    assert r.status == 200, r
    assert r.headers.get("Content-Length") == str(len(body))
    assert r.body == body


@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_body_stream_echo_8mib(srv, coding):
    body = os.urandom(8 * MiB)
    r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/stream_echo.py", body,
                                   coding=coding, timeout=20)
    assert r.status == 200, r
    assert len(r.body) == len(body)
    assert r.body == body


def test_body_ignored_by_script(srv):
    """A script that never reads its stdin, with a body larger than a pipe
    holds: the answer still comes, and the connection goes on."""
    body = os.urandom(2 * MiB)
    with rawhttp.Conn(srv.port, timeout=10) as c:
        interim, r = httpbody.exchange(c, rawhttp.build(
            "POST", "/cgi-bin/cl.py", [("Content-Length", str(len(body)))]) + body)
        assert r.status == 200, r
        assert r.body == b"hello"
        try:
            c.send(rawhttp.build("GET", "/readme.txt"))
            r2 = c.read_response()
        except (OSError, rawhttp.Closed):
            return   # closing after an unread body is allowed
        assert r2.status == 200 and r2.body == b"hello readme\n"


def test_head_no_body(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("HEAD", "/cgi-bin/cl.py") + rawhttp.build("GET", "/readme.txt"))
        h = c.read_response(head=True)
        g = c.read_response()
    assert h.status == 200, h
    assert g.status == 200 and g.body == b"hello readme\n", g


def test_pipelined_cgi_requests(srv):
    with rawhttp.Conn(srv.port, timeout=10) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/env.py?first") +
               rawhttp.build("GET", "/cgi-bin/cl.py") +
               rawhttp.build("GET", "/readme.txt") +
               rawhttp.build("POST", "/cgi-bin/echo.py", [("Content-Length", "4")], b"four") +
               rawhttp.build("GET", "/cgi-bin/headers_lf.py"))
        rs = c.read_responses(5)
    assert [r.status for r in rs] == [200] * 5, rs
    assert json.loads(rs[0].body)["env"]["QUERY_STRING"] == "first"
    assert rs[1].body == b"hello"
    assert rs[2].body == b"hello readme\n"
    assert rs[3].body == b"four"
    assert rs[4].body == b"lf body\n"


def test_body_echo_expect_100(srv):
    body = b"expect body"
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("POST", "/cgi-bin/echo.py", [("Content-Length", str(len(body))),
                                                          ("Expect", "100-continue")]))
        cont = c.read_response(timeout=2)
        assert cont.status == 100, cont
        c.send(body)
        r = c.read_final()[1]
    assert r.status == 200 and r.body == body, r


@pytest.mark.parametrize("q", ["len", "nolen"])
def test_output_5mib_exact(srv, q):
    with rawhttp.Conn(srv.port, timeout=20) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/out5m.py?" + q))
        r = c.read_response()
        if q == "len":
            assert r.headers.get("Content-Length") == str(5 * MiB)
        else:
            assert r.headers.get("Transfer-Encoding", "").lower() == "chunked", r.headers
        assert r.status == 200
        assert r.body == srv.data5m
        # keep-alive still works after it
        c.send(rawhttp.build("GET", "/readme.txt"))
        assert c.read_response().status == 200


def test_output_100mib_peak_memory(webserv):
    """On a server of its own, so nothing earlier has raised its peak."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location /cgi-bin/ {
        cgi .py /usr/bin/python3;
    }
}
""", setup=lambda s: [os.chmod(write_file(s.root / "cgi-bin" / n, t, mtime=None), 0o755)
                      for n, t in (("big.py", BIG_PY), ("cl.py", CL_PY))])
    block = bytes(range(256)) * 4096
    expect_crc = 0
    for i in range(100):
        expect_crc = zlib.crc32((b"%016x" % i) + block[16:], expect_crc)
    rawhttp.get(srv.port, "/cgi-bin/cl.py")   # warm-up
    before = vm_hwm(srv.pid)
    crc = [0]

    def on_data(b):
        crc[0] = zlib.crc32(b, crc[0])

    with rawhttp.Conn(srv.port, timeout=30) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/big.py"))
        # a slow start: a server without back-pressure would buffer it all now
        time.sleep(1.0)
        mid = vm_hwm(srv.pid)
        r = httpbody.read_streamed(c, on_data, timeout=40)
        after = vm_hwm(srv.pid)
        assert r.status == 200, r
        assert r.body_len == 100 * MiB
        assert crc[0] == expect_crc
        assert r.headers.get("Transfer-Encoding", "").lower() == "chunked", r.headers
    assert mid - before <= HWM_SLACK, "VmHWM grew by %.1f MiB while the client waited" % (
        (mid - before) / MiB)
    assert after - before <= HWM_SLACK, "VmHWM grew by %.1f MiB" % ((after - before) / MiB)


# ---------------------------------------------------------------------------
# CGI response headers


def test_status_header(srv):
    r = rawhttp.get(srv.port, "/cgi-bin/status404.py")
    assert r.status == 404, r
    assert r.body == b"not here, says the script\n"
    r = rawhttp.get(srv.port, "/cgi-bin/status418.py")
    assert r.status == 418, r
    assert r.body == b"teapot\n"


def test_location_absolute_302(srv):
    r = rawhttp.get(srv.port, "/cgi-bin/redirect_abs.py")
    assert r.status == 302, r
    assert r.headers.get("Location") == "http://example.com/"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_location_local_redirect(srv, method):
    if method == "GET":
        r = rawhttp.get(srv.port, "/cgi-bin/redirect_local.py")
    else:
        r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/redirect_local.py", b"a=b")
    assert r.status == 200, r
    assert r.body == b"hello readme\n"
    assert r.headers.get("Content-Type", "").startswith("text/plain")


def test_content_length_passed_through(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/cl.py"))
        r = c.read_response()
        assert r.status == 200
        assert r.headers.get_all("Content-Length") == ["5"]
        assert "Transfer-Encoding" not in r.headers
        assert r.body == b"hello"
        c.send(rawhttp.build("GET", "/cgi-bin/cl.py"))
        assert c.read_response().body == b"hello"


def test_no_length_chunked_http11(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/nolen.py"))
        r = c.read_response()
        assert r.status == 200, r
        assert r.headers.get("Transfer-Encoding", "").lower() == "chunked", r.headers
        assert "Content-Length" not in r.headers
        assert r.body == NOLEN_BODY
        c.send(rawhttp.build("GET", "/readme.txt"))
        assert c.read_response().status == 200


def test_cgi_response_not_delayed(srv):
    """A small CGI answer arrives as soon as the script is done: no
    Nagle/cork-style stall (those hold the last bytes back for 200 ms).
    The best of three through the server is compared with the best of
    three runs of the script itself, so a loaded machine slows both."""
    for target in ("/cgi-bin/cl.py", "/cgi-bin/nolen.py", "/cgi-bin/headers_lf.py"):
        script = str(srv.root) + target
        alone = 10.0
        for _ in range(3):
            t0 = time.monotonic()
            subprocess.run(["/usr/bin/python3", script], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, check=True, timeout=10)
            alone = min(alone, time.monotonic() - t0)
        best = 10.0
        for _ in range(3):
            t0 = time.monotonic()
            r = rawhttp.get(srv.port, target)
            best = min(best, time.monotonic() - t0)
            assert r.status == 200, r
        assert best < alone + 0.12 * SLOW, "%s: %.3f s (the script alone: %.3f s)" % (target, best, alone)


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_no_length_repeated(srv, version):
    """30 bodies without length in a row: each one ends (last chunk, or the
    close) - the end of a body must not depend on the order in which the
    pipe's EOF and the child's exit are noticed."""
    for i in range(30):
        with rawhttp.Conn(srv.port, timeout=3) as c:
            if version == "HTTP/1.1":
                c.send(rawhttp.build("GET", "/cgi-bin/headers_lf.py"))
                r = c.read_response()
                assert r.body == b"lf body\n", (i, r)
            else:
                c.send(b"GET /cgi-bin/headers_lf.py HTTP/1.0\r\n\r\n")
                assert c.wait_closed(3), (i, bytes(c.buf))
                r = rawhttp.try_parse(c.buf, eof=True)[0]
                assert r.body == b"lf body\n", (i, r)
            assert r.status == 200, (i, r)


def test_no_length_close_delimited_http10(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(b"GET /cgi-bin/nolen.py HTTP/1.0\r\n\r\n")
        assert c.wait_closed(5), "HTTP/1.0 response without length must end with a close"
        r = rawhttp.try_parse(c.buf, eof=True)[0]
    assert r.status == 200, r
    assert "Content-Length" not in r.headers
    assert "Transfer-Encoding" not in r.headers
    assert r.body == NOLEN_BODY


def test_content_length_http10_keepalive(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(b"GET /cgi-bin/cl.py HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello"


@pytest.mark.parametrize("script,body", [("headers_lf.py", b"lf body\n"),
                                         ("headers_crlf.py", b"crlf body\n")])
def test_headers_passed_through(srv, script, body):
    r = rawhttp.get(srv.port, "/cgi-bin/" + script)
    assert r.status == 200, r
    assert r.headers.get("Content-Type") == "text/plain; charset=utf-8"
    assert r.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert r.headers.get("X-Foo") == "bar baz"
    assert r.body == body


# ---------------------------------------------------------------------------
# 502, 504


@pytest.mark.parametrize("script", ["noout.py", "noout_fail.py", "garbage.py", "suicide.py",
                                    "no_blank_line.py", "bad_status.py"])
def test_bad_gateway(srv, script):
    r = rawhttp.get(srv.port, "/cgi-bin/" + script)
    assert r.status == 502, r
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200


def read_pid(srv, name):
    p = srv.piddir / (name + ".pid")
    assert wait_for(lambda: p.exists() and p.read_text().strip(), 3.0), "no pid file " + name
    return int(p.read_text())


def test_timeout_504_kills_and_others_served(srv):
    name = "t504"
    with rawhttp.Conn(srv.port, timeout=10) as c:
        t0 = time.monotonic()
        c.send(rawhttp.build("GET", "/tcgi/sleep.py?" + name))
        pid = read_pid(srv, name)
        # during the hang other clients are served quickly
        lat = []
        for _ in range(3):
            s = time.monotonic()
            r = rawhttp.get(srv.port, "/readme.txt", timeout=2)
            lat.append(time.monotonic() - s)
            assert r.status == 200 and r.body == b"hello readme\n"
            q = rawhttp.get(srv.port, "/tcgi/quick.py", timeout=2)
            assert q.status == 200 and q.body == b"quick\n"
            time.sleep(0.1)
        r = c.read_response(timeout=6)
        elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.9 <= elapsed <= 3.0, elapsed
    assert max(lat) < 0.5, lat
    assert wait_for(lambda: not pid_running(pid), 2.0), "CGI %d still running after 504" % pid


def test_client_gone_cgi_killed(srv):
    """A client that leaves during a hanging CGI: the script is killed (by
    the timeout at the latest) and reaped."""
    name = "gone"
    c = rawhttp.Conn(srv.port)
    c.send(rawhttp.build("GET", "/tcgi/sleep.py?" + name))
    pid = read_pid(srv, name)
    c.close()
    assert wait_for(lambda: not pid_running(pid), 3.0), "CGI %d still running" % pid
    assert wait_for(lambda: not zombie_children(srv.pid), 2.0), zombie_children(srv.pid)


def test_no_zombies(srv):
    results = []

    def one(target):
        try:
            results.append((target, rawhttp.get(srv.port, target, timeout=10).status))
        except AssertionError as e:
            results.append((target, repr(e)))

    threads = [threading.Thread(target=one, args=("/tcgi/sleep.py?z%d" % i,)) for i in range(2)]
    for t in threads:
        t.start()
    plan = (["/cgi-bin/cl.py"] * 6 + ["/cgi-bin/suicide.py"] * 3 + ["/cgi-bin/noout.py"] * 2 +
            ["/cgi-bin/garbage.py", "/tcgi/suicide.py", "/cgi-bin/env.py", "/cgi-bin/nolen.py",
             "/tcgi/quick.py", "/cgi-bin/noout_fail.py", "/cgi-bin/test.php"])
    for target in plan:
        one(target)
    for t in threads:
        t.join(15)
    got = dict()
    for target, status in results:
        got.setdefault(target, set()).add(status)
    assert got["/tcgi/sleep.py?z0"] == {504} and got["/tcgi/sleep.py?z1"] == {504}, got
    assert got["/cgi-bin/suicide.py"] == {502}, got
    assert got["/cgi-bin/cl.py"] == {200}, got
    assert len(results) == len(plan) + 2
    left = wait_for(lambda: not zombie_children(srv.pid), 2.0)
    assert left, "zombie children of the server: %r" % (zombie_children(srv.pid),)
    assert wait_for(lambda: not children(srv.pid), 2.0), "children left: %r" % (
        children(srv.pid),)


# ---------------------------------------------------------------------------
# descriptors


def _valgrind_log(target):
    """Valgrind's own log file (valgrind mode) is open in the children of
    the server it runs: not the server's leak."""
    return VALGRIND and os.path.basename(target).startswith("valgrind-")


def test_no_descriptor_leak(srv):
    idle = [rawhttp.Conn(srv.port) for _ in range(3)]
    try:
        for c in idle:
            c.send(rawhttp.build("GET", "/readme.txt"))
            assert c.read_response().status == 200
        # and one with a request head in progress
        idle[0].send(b"GET /readme.txt HTTP/1.1\r\nHost: x\r\n")
        # and an upload in progress (its file is open in the server)
        idle[1].send(rawhttp.build("PUT", "/up/open.bin", [("Content-Length", "100000")]) +
                     b"u" * 50000)
        assert wait_for(lambda: has_open_file_under(srv.pid, srv.root / "up"), 2.0)
        r = rawhttp.get(srv.port, "/cgi-bin/fds.py")
        assert r.status == 200, r
        fds = json.loads(r.body)
    finally:
        for c in idle:
            c.close()
    extra = {k: v for k, v in fds.items() if k not in ("0", "1", "2") and not _valgrind_log(v)}
    assert len(extra) <= 1 and all(v == "(gone)" or v.startswith("/proc/") for v in extra.values()), \
        "descriptors leaked into the CGI: %r" % fds
    assert {"0", "1", "2"} <= set(fds), fds


def test_no_descriptor_leak_with_body(srv):
    """With a request body in flight and an upload-size body too."""
    r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/fds.py", os.urandom(10000))
    assert r.status == 200, r
    fds = json.loads(r.body)
    extra = {k: v for k, v in fds.items() if k not in ("0", "1", "2") and not _valgrind_log(v)}
    assert len(extra) <= 1 and all(v == "(gone)" or v.startswith("/proc/") for v in extra.values()), \
        "descriptors leaked into the CGI: %r" % fds


# ---------------------------------------------------------------------------
# php-cgi


@pytest.mark.skipif(not os.access(PHP, os.X_OK), reason="php-cgi not installed")
def test_php_get(srv):
    r = rawhttp.get(srv.port, "/cgi-bin/test.php?x=hello%20there")
    assert r.status == 200, r
    assert r.body == b"x=hello there\nmethod=GET\nfield=\n", r


@pytest.mark.skipif(not os.access(PHP, os.X_OK), reason="php-cgi not installed")
@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_php_post_form(srv, coding):
    r = httpbody.request_with_body(
        srv.port, "POST", "/cgi-bin/test.php?x=42", b"field=form+value%21&other=1",
        [("Content-Type", "application/x-www-form-urlencoded")], coding=coding)
    assert r.status == 200, r
    assert r.body == b"x=42\nmethod=POST\nfield=form value!\n", r
    assert r.headers.get("Content-Type", "").startswith("text/plain")
