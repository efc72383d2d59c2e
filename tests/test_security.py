"""Regression tests for the fourteen defects of the security review (issue
8), written against the behaviour SPEC.md states ("Made precise after a
security review"): real TCP on 127.0.0.1, exact bytes.

test_dNN_... is defect NN of the issue. Each one was seen to fail against
the binary built before the fixes. Scripts are Python (always installed);
php-cgi variants are skipped when it is missing.

The servers run one worker (the default), so the server's own process
serves: its descriptors (/proc/PID/fd) and its TCP states (/proc/net/tcp)
show leaked connections, pipes and CLOSE-WAIT sockets.
"""

import json
import os
import re
import signal
import socket
import threading
import time
from urllib.parse import quote

import pytest

import httpbody
import rawhttp
from conftest import SLOW, children, dir_names, pid_running, wait_for, write_file

PHP = "/usr/bin/php-cgi"
HAVE_PHP = os.access(PHP, os.X_OK)
INDEX = b"<html><body>index page</body></html>\n"
README = b"hello readme\n"


# ---------------------------------------------------------------------------
# helpers


def start(webserv, conf, scripts=None, dirs=(), extra_files=None, preexec=None):
    """A server with `scripts` ({path under root: text}, executable; the
    text's @PIDDIR@ becomes a Python literal of a folder for pid files) and
    empty `dirs` under the root."""
    def setup(s):
        s.piddir = s.tmp / "pids"
        s.piddir.mkdir(exist_ok=True)
        for d in dirs:
            (s.root / d).mkdir(parents=True, exist_ok=True)
        for rel, text in (scripts or {}).items():
            p = write_file(s.root / rel, text.replace("@PIDDIR@", repr(str(s.piddir))), mtime=None)
            os.chmod(p, 0o755)
    return webserv(conf, setup=setup, extra_files=extra_files, preexec=preexec)


def fill_freed():
    """preexec: an ASan build fills freed memory with 'X' (0x58), so a read
    through a stale pointer shows, although ASan does not check the reads
    of printf's %.*s. The release build ignores the variable."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = ((opts + ":" if opts else "") +
                                  "max_free_fill_size=1048576:free_fill_byte=88")


def server_fds(pid):
    """{fd: readlink target} of the process."""
    out = {}
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except OSError:
            pass
    return out


def io_fds(pid):
    """The process's sockets, pipes and unlinked files (what a leaked
    connection, CGI or spool holds), as a sorted list of link targets."""
    return sorted(v for v in server_fds(pid).values()
                  if v.startswith(("socket:", "pipe:")) or v.endswith("(deleted)"))


def close_wait(pid):
    """Local addresses of the process's TCP sockets in CLOSE-WAIT (the peer
    closed, the server did not)."""
    inodes = {v[len("socket:["):-1] for v in server_fds(pid).values() if v.startswith("socket:[")}
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "08" and f[9] in inodes:
                out.append(f[1])
    return out


def wait_settled(srv, baseline, timeout):
    """Poll until the server holds no more sockets/pipes/unlinked files than
    `baseline` and no CLOSE-WAIT socket. Returns True or a description."""
    def ok():
        return len(io_fds(srv.pid)) <= len(baseline) and not close_wait(srv.pid)
    if wait_for(ok, timeout, 0.05):
        return True
    return "descriptors now %r (baseline %r), CLOSE-WAIT %r" % (
        io_fds(srv.pid), baseline, close_wait(srv.pid))


def read_pid(path, timeout=5.0):
    assert wait_for(lambda: path.exists() and path.read_text().strip(), timeout * SLOW), \
        "no pid file %s" % path
    return int(path.read_text())


def kill_if_running(pids):
    """Clean up after a failing test: only the PIDs of scripts this test
    started (read from their pid files), if they still run Python."""
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                ours = b"python3" in f.read()
        except OSError:
            ours = False
        if ours and pid_running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def status_lines(data):
    """Every 'HTTP/1.x NNN' at the start of a line in data."""
    return re.findall(rb"(?:^|\n)(HTTP/1\.[01] \d{3})", data)


def spooled(srv, size):
    """True when the server has an unlinked file of `size` bytes open (the
    spool of a chunked CGI body): a best-effort synchronisation point."""
    for fd, target in server_fds(srv.pid).items():
        if target.endswith("(deleted)"):
            try:
                if os.stat("/proc/%d/fd/%d" % (srv.pid, fd)).st_size >= size:
                    return True
            except OSError:
                pass
    return False


# ---------------------------------------------------------------------------
# one server for the defects that need no server of their own (3, 5, 6, 10, 13)

def basic_conf_text(extra=""):
    return """
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    root @ROOT@;
    index index.html;
%s
}
""" % extra


LONG_N = (5000, 20000)


def long_url(n):
    return "https://example.com/" + "".join("abcdefghij"[i % 10] for i in range(n))


def long_text(n):
    return "t" * n


def shared_conf():
    locs = """
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        cgi_timeout 30s;
    }
    location /app/ {
        index index.html index.py;
        cgi .py /usr/bin/python3;
    }
    location /e/ {
        error_page 404 /app/err.py;
    }
    location = /r204 {
        return 204 "hello";
    }
    location = /r304 {
        return 304 "x";
    }
"""
    if HAVE_PHP:
        locs += """
    location /php/ {
        index index.html index.php;
        cgi .php %s;
    }
    location /ephp/ {
        error_page 404 /php/err.php;
    }
""" % PHP
    for n in LONG_N:
        locs += """
    location = /redir%d {
        return 301 %s;
    }
    location = /text%d {
        return 200 "%s";
    }
""" % (n, long_url(n), n, long_text(n))
    return basic_conf_text(locs)


DEEP = b"deep file in a longer folder\n"


@pytest.fixture(scope="module")
def shared(module_webserv):
    scripts = {"cgi-bin/status.py": STATUS_PY, "app/index.py": INDEX_PY, "app/err.py": ERR_PY,
               "php/index.php": INDEX_PHP, "php/err.php": ERR_PHP}

    def setup(s):
        for rel, text in scripts.items():
            os.chmod(write_file(s.root / rel, text, mtime=None), 0o755)
    return module_webserv(shared_conf(), setup=setup,
                          extra_files={"some/longer/folder/file.txt": DEEP})


# ---------------------------------------------------------------------------
# 1. use-after-free: another client's request in QUERY_STRING

QS_PY = r"""#!/usr/bin/python3
import json, os, sys
n = len(sys.stdin.buffer.read())
env = {k.decode("latin-1"): v.decode("latin-1") for k, v in os.environb.items()}
body = json.dumps({"qs": env.get("QUERY_STRING"), "stdin": n, "env": env}).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
"""

CGI_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    root @ROOT@;
    index index.html;
    client_header_timeout 30s;
    client_body_timeout 30s;
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        cgi_timeout %s;
        client_max_body_size 10m;
    }
}
"""


def padded_head(method, target, size, headers):
    """A request head of exactly `size` bytes (an X-Pad header fills it)."""
    base = rawhttp.build(method, target, headers + [("X-Pad", "")])
    pad = size - len(base)
    assert pad >= 0, (size, len(base))
    return rawhttp.build(method, target, headers + [("X-Pad", "p" * pad)])


@pytest.mark.parametrize("head_size", [15000, 15800, 17000, 24000, 31000, 32300])
def test_d01_query_string_not_from_other_clients(webserv, head_size):
    """A chunked POST to a CGI with a large head: while its body is read,
    other clients send requests with a cookie. The script's QUERY_STRING is
    exactly the query of its own request, never bytes of another client."""
    srv = start(webserv, CGI_CONF % "30s", {"cgi-bin/qs.py": QS_PY}, preexec=fill_freed)
    q = "x=" + "Q" * 300
    a = rawhttp.Conn(srv.port, timeout=10 * SLOW)
    others = []
    try:
        a.send(padded_head("POST", "/cgi-bin/qs.py?" + q, head_size,
                           [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n")
        wait_for(lambda: spooled(srv, 5), 2.0 * SLOW)
        sent = 5
        # more body, so the server reads into (and grows, or moves) its buffer
        for n in (2048, 3000, 16000):
            a.send(b"%x\r\n" % n + b"b" * n + b"\r\n")
            sent += n
            wait_for(lambda: spooled(srv, sent), 2.0 * SLOW)
            for pad in (0, 900, 6000, 14000, 15500, 20000, 30000):
                b = rawhttp.Conn(srv.port, timeout=5 * SLOW)
                others.append(b)
                b.send(rawhttp.build("GET", "/index.html", [
                    ("Cookie", "session=VICTIM%05d%s" % (pad, "v" * 40)),
                    ("Authorization", "Bearer VICTIMTOKEN"),
                    ("X-Pad", "s" * pad)]))
                r = b.read_response()
                assert r.status == 200 and r.body == INDEX, r
            # some go away, some stay (idle, keep-alive)
            for b in others[::2]:
                b.close()
        a.send(b"0\r\n\r\n")
        r = a.read_response(timeout=10 * SLOW)
    finally:
        a.close()
        for b in others:
            b.close()
    assert r.status == 200, r
    d = json.loads(r.body)
    assert "VICTIM" not in r.body.decode("latin-1"), d["qs"][:600]
    assert d["qs"] == q, "QUERY_STRING is %r" % d["qs"][:600]
    assert d["stdin"] == sent


# ---------------------------------------------------------------------------
# 2. a local CGI redirect after a request body

REDIR_PY = r"""#!/usr/bin/python3
import sys
sys.stdin.buffer.read()
sys.stdout.write("Location: /cgi-bin/other.py\r\n\r\n")
"""

OTHER_PY = r"""#!/usr/bin/python3
import json, os, sys
n = len(sys.stdin.buffer.read())
body = json.dumps({"method": os.environ.get("REQUEST_METHOD"),
                   "content_length": os.environ.get("CONTENT_LENGTH"),
                   "stdin": n}).encode()
sys.stdout.buffer.write(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % len(body) + body)
"""

REDIR_SCRIPTS = {"cgi-bin/redir.py": REDIR_PY, "cgi-bin/other.py": OTHER_PY}


def check_redirected_get(r):
    """The answer of other.py to the GET that a local redirect makes."""
    assert r.status == 200, r
    d = json.loads(r.body)
    assert d["method"] == "GET", d
    assert d["content_length"] in (None, ""), d
    assert d["stdin"] == 0, d


def test_d02_local_redirect_after_chunked_body(webserv):
    """20 chunked POSTs whose script answers with a local redirect: each gets
    the redirected GET's answer, and once the clients are gone the server
    holds no more descriptors than before and no CLOSE-WAIT socket."""
    srv = start(webserv, CGI_CONF % "30s", REDIR_SCRIPTS)
    baseline = io_fds(srv.pid)
    req = rawhttp.build("POST", "/cgi-bin/redir.py", [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Transfer-Encoding", "chunked")]) + httpbody.chunked(b"a=1&b=2" * 50, sizes=[100])
    conns = [rawhttp.Conn(srv.port, timeout=10 * SLOW) for _ in range(20)]
    results = []
    try:
        for c in conns:
            c.send(req)
        deadline = time.monotonic() + 8 * SLOW
        for c in conns:
            try:
                results.append(c.read_response(timeout=max(0.1, deadline - time.monotonic())))
            except AssertionError as e:
                results.append(e)
    finally:
        for c in conns:
            c.close()
    settled = wait_settled(srv, baseline, 3.0 * SLOW)
    answered = [r for r in results if isinstance(r, rawhttp.Response)]
    assert len(answered) == 20, "%d of 20 answered: %r" % (len(answered), [
        r for r in results if not isinstance(r, rawhttp.Response)][:2])
    for r in answered:
        check_redirected_get(r)
    assert settled is True, settled


def test_d02_local_redirect_after_content_length_body(webserv):
    """With a Content-Length body the redirected GET has no CONTENT_LENGTH
    and its stdin ends at once: a fast 200, not a 504 at cgi_timeout; the
    connection goes on."""
    srv = start(webserv, CGI_CONF % "3s", REDIR_SCRIPTS)
    baseline = io_fds(srv.pid)
    with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
        for body in (b"hello", b"x" * 70000):
            t0 = time.monotonic()
            c.send(rawhttp.build("POST", "/cgi-bin/redir.py",
                                 [("Content-Length", str(len(body)))], body))
            r = c.read_response(timeout=8 * SLOW)
            elapsed = time.monotonic() - t0
            check_redirected_get(r)
            assert elapsed < 2.0 * SLOW, "answered after %.1f s" % elapsed
        c.send(rawhttp.build("GET", "/readme.txt"))
        r = c.read_response()
        assert r.status == 200 and r.body == README, r
    assert wait_settled(srv, baseline, 3.0 * SLOW) is True


# ---------------------------------------------------------------------------
# 3. a long path poisons the requests of later clients

def test_d03_long_uri_does_not_break_later_requests(shared):
    """A request whose path is near the URI limit (404 or 414), then, from
    other connections and on the same one, requests of an existing file
    with a longer folder path: 200 each time."""
    srv = shared
    deep = "/some/longer/folder/file.txt"
    for n in (8180, 8185, 8186, 8189, 8190, 8191, 8192, 8300, 4000):
        r = rawhttp.get(srv.port, "/" + "a" * n)
        assert r.status in (404, 414), (n, r)
        for target in (deep, deep + "?q=1"):
            r = rawhttp.get(srv.port, target)
            assert r.status == 200 and r.body == DEEP, (n, target, r)
        with rawhttp.Conn(srv.port) as c:
            c.send(rawhttp.build("GET", "/" + "b" * n) + rawhttp.build("GET", deep))
            r1 = c.read_response()
            assert r1.status in (404, 414), (n, r1)
            if r1.status == 404:
                r2 = c.read_response()
                assert r2.status == 200 and r2.body == DEEP, (n, r2)


# ---------------------------------------------------------------------------
# 4. the 201 listing of many long uploaded names

UPLOAD_LOC = """
    location /files/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/files;
        autoindex on;
        client_max_body_size 10m;
    }
"""


def test_d04_many_long_utf8_upload_names(webserv):
    """64 file parts with 200-byte UTF-8 names: the 201 (or a clean error
    status) has one Location line of the first file and links every file;
    the server lives on (under ASan: no report, checked at teardown)."""
    srv = start(webserv, basic_conf_text(UPLOAD_LOC), dirs=["files"])
    store = srv.root / "files"
    names = ["\u00e9" * 99 + "%02d" % i for i in range(64)]   # 200 bytes of UTF-8 each
    assert all(len(n.encode()) == 200 for n in names)
    boundary = "----sec4boundary"
    body = httpbody.multipart([httpbody.file_part(n, ("data %d\n" % i).encode())
                               for i, n in enumerate(names)], boundary)
    with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
        interim, r = httpbody.exchange(c, rawhttp.build("POST", "/files/", [
            ("Content-Type", "multipart/form-data; boundary=" + boundary),
            ("Content-Length", str(len(body)))]) + body + rawhttp.build("GET", "/readme.txt"),
            timeout=10 * SLOW)
        assert r.status == 201 or 400 <= r.status < 600, r
        if r.status == 201:
            loc = r.headers.get_all("Location")
            assert len(loc) == 1, r.headers
            assert not re.search(r"[\x00-\x20\x7f-\xff]", loc[0]), loc
            assert loc[0] == "/files/" + quote(names[0]), loc
            for i, n in enumerate(names):
                assert (store / n).read_bytes() == ("data %d\n" % i).encode(), n
            # the HTML list links every stored file
            html = r.body.decode("utf-8", "replace")
            unlinked = [i for i, n in enumerate(names) if not re.search(
                r"""href\s*=\s*["']%s["']""" % re.escape("/files/" + quote(n)), html)]
            assert not unlinked, "files %r not linked in the 201 body: %r" % (unlinked, html[-600:])
        try:
            r2 = c.read_response(timeout=5 * SLOW)
        except rawhttp.Closed:
            r2 = None   # closing after the answer is allowed
        if r2 is not None:
            assert r2.status == 200 and r2.body == README, r2
    assert srv.alive()
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.body == README, r


# ---------------------------------------------------------------------------
# 5. script source served through index or error_page

SECRET = "db_password = 'S3CRET-do-not-serve'"

INDEX_PY = r"""#!/usr/bin/python3
# %s
import sys
sys.stdout.write("Content-Type: text/plain\r\n\r\nran index.py\n")
""" % SECRET

ERR_PY = r"""#!/usr/bin/python3
# %s
import sys
sys.stdout.write("Content-Type: text/html\r\n\r\nerror page from err.py\n")
""" % SECRET

INDEX_PHP = """<?php
// %s
header("Content-Type: text/plain");
echo "ran index.php\\n";
""" % SECRET

ERR_PHP = """<?php
// %s
header("Content-Type: text/html");
echo "error page from err.php\\n";
""" % SECRET


@pytest.mark.parametrize("lang", ["py", pytest.param("php", marks=pytest.mark.skipif(
    not HAVE_PHP, reason="php-cgi not installed"))])
def test_d05_index_and_error_page_scripts_run(shared, lang):
    """An index file and an error page that are scripts of a cgi location
    run (output, not source); the error page keeps the error's status."""
    srv = shared
    app, err = ("/app/", "/e/") if lang == "py" else ("/php/", "/ephp/")
    for target in (app, app + "?x=1"):
        r = rawhttp.get(srv.port, target, timeout=5 * SLOW)
        assert b"S3CRET" not in r.body, (target, r)
        assert r.status == 200, (target, r)
        assert r.body == b"ran index.%s\n" % lang.encode(), (target, r)
    r = rawhttp.get(srv.port, err + "missing.txt", timeout=5 * SLOW)
    assert b"S3CRET" not in r.body, r
    assert r.status == 404, r
    assert r.body == b"error page from err.%s\n" % lang.encode(), r


# ---------------------------------------------------------------------------
# 6. error-log injection

LOG_LINE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[[a-z]+\] ")


def test_d06_error_log_escapes_control_bytes(shared):
    """A decoded path with CR/LF and a forged log line, made to fail open()
    with ENAMETOOLONG (so that it is logged): no forged line in the error
    log, control bytes written as \\xHH."""
    srv = shared
    seg = "A" * 300    # a path component over NAME_MAX: open() fails, logged
    forged = "2026/01/01%2000:00:00%20%5Berror%5D%20forged"
    for target in ("/" + seg + "%0a" + forged + "1",
                   "/" + seg + "%0d%0a" + forged + "2",
                   "/sub/" + seg + "%0a" + forged + "3%1b[31m%7f"):
        r = rawhttp.get(srv.port, target)
        assert r.status in (400, 404, 414), (target, r)
    assert rawhttp.get(srv.port, "/readme.txt").status == 200

    def logged():
        text = srv.error_log.read_bytes() if srv.error_log.exists() else b""
        return text if text.count(b"forged") >= 3 else None
    raw = wait_for(logged, 2.0 * SLOW)
    assert raw, "the failed opens are not in the error log: %r" % (
        srv.error_log.read_bytes()[-2000:] if srv.error_log.exists() else None)
    text = raw.decode("latin-1")
    assert not re.search(r"(^|\n)\s*2026/01/01 00:00:00", text), \
        "forged line in the error log: %r" % text[-1500:]
    for line in text.split("\n")[:-1]:
        assert LOG_LINE.match(line), "forged or broken log line: %r" % line[:200]
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text), \
        "raw control bytes in the error log: %r" % re.findall(r".{0,20}[\x00-\x09\x0b-\x1f\x7f]", text)
    assert re.search(r"\\x0a2026/01/01", text, re.I), text[-1500:]
    assert re.search(r"\\x0d\\x0a2026/01/01", text, re.I), text[-1500:]


# ---------------------------------------------------------------------------
# 7. a client that goes away while its CGI runs

SLEEP8_PY = r"""#!/usr/bin/python3
import os, sys, time
name = os.environ.get("QUERY_STRING") or "sleep"
with open(os.path.join(@PIDDIR@, name + ".pid"), "w") as f:
    f.write(str(os.getpid()))
time.sleep(8)
sys.stdout.write("Content-Type: text/plain\r\n\r\ntoo late\n")
"""


def test_d07_client_gone_kills_its_cgi(webserv):
    """Four clients start an 8 s script and go away (two close, two reset):
    within 2 s the scripts are gone and the server holds no CLOSE-WAIT
    socket."""
    srv = start(webserv, CGI_CONF % "30s", {"cgi-bin/sleep8.py": SLEEP8_PY})
    hows = ["close", "reset", "close", "reset"]
    pids = []
    try:
        conns = []
        for i, how in enumerate(hows):
            c = rawhttp.Conn(srv.port, timeout=5 * SLOW)
            conns.append(c)
            c.send(rawhttp.build("GET", "/cgi-bin/sleep8.py?%s%d" % (how, i)))
        for i, how in enumerate(hows):
            pids.append(read_pid(srv.piddir / ("%s%d.pid" % (how, i))))
        for c, how in zip(conns, hows):
            c.abort() if how == "reset" else c.close()
        gone = wait_for(lambda: not [p for p in pids if pid_running(p)], 2.0 * SLOW)
        assert gone, "scripts %r still running 2 s after their clients left" % [
            (h, p) for h, p in zip(hows, pids) if pid_running(p)]
        assert wait_for(lambda: not close_wait(srv.pid), 1.0 * SLOW), \
            "CLOSE-WAIT sockets held: %r" % close_wait(srv.pid)
    finally:
        kill_if_running(pids)
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.body == README, r


# ---------------------------------------------------------------------------
# 8. cgi_timeout kills the group even after the script itself exited

FORK_PY = r"""#!/usr/bin/python3
import os, time
pid = os.fork()
if pid == 0:            # the grandchild keeps stdout open
    time.sleep(30)
    os._exit(0)
with open(os.path.join(@PIDDIR@, "grandchild.pid"), "w") as f:
    f.write(str(pid))
os._exit(0)             # the script itself exits at once, with no output
"""


def test_d08_cgi_timeout_kills_group_after_script_exit(webserv):
    """The script exits at once, its grandchild (same process group) keeps
    stdout open: at cgi_timeout (2 s) the response ends (504, or a close)
    and the grandchild is killed."""
    srv = start(webserv, CGI_CONF % "2s", {"cgi-bin/fork.py": FORK_PY})
    gpid = None
    try:
        with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
            t0 = time.monotonic()
            c.send(rawhttp.build("GET", "/cgi-bin/fork.py"))
            gpid = read_pid(srv.piddir / "grandchild.pid")
            try:
                r = c.read_response(timeout=8 * SLOW)
            except rawhttp.Closed:
                r = None   # a close is allowed too
            elapsed = time.monotonic() - t0
        if r is not None:
            assert r.status == 504, r
        assert elapsed < 4.5 * SLOW, "the response ended after %.1f s" % elapsed
        assert wait_for(lambda: not pid_running(gpid), 1.5 * SLOW), \
            "grandchild %d still running %.1f s after the request" % (
                gpid, time.monotonic() - t0)
    finally:
        if gpid:
            kill_if_running([gpid])


# ---------------------------------------------------------------------------
# 9. no 408 inside a CGI response that has begun

EARLY_PY = r"""#!/usr/bin/python3
import os, sys, time
with open(os.path.join(@PIDDIR@, "early.pid"), "w") as f:
    f.write(str(os.getpid()))
sys.stdout.write("Content-Type: text/plain\r\n\r\nearly body\n")
sys.stdout.flush()
time.sleep(6)           # never reads its stdin
"""

BODY_TIMEOUT_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    client_body_timeout 2s;
    send_timeout %s;
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        cgi_timeout 30s;
    }
}
"""


def read_until(c, token, timeout):
    deadline = time.monotonic() + timeout
    while token not in c.buf:
        if c._recv(deadline) == 0:
            break
    return token in c.buf


@pytest.mark.parametrize("send_timeout", ["2s", "60s"])
def test_d09_no_second_status_line_after_body_timeout(webserv, send_timeout):
    """The script answers at once and never reads its stdin; the client's
    body stalls. At client_body_timeout the connection closes: one status
    line only (the script's 200), never a 408 after it."""
    srv = start(webserv, BODY_TIMEOUT_CONF % send_timeout, {"cgi-bin/early.py": EARLY_PY})
    pid = None
    try:
        with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
            c.send(rawhttp.build("POST", "/cgi-bin/early.py", [("Content-Length", "100000")]) +
                   b"z" * 1000)
            assert read_until(c, b"early body", 3.0 * SLOW), bytes(c.buf)
            pid = read_pid(srv.piddir / "early.pid")
            # the body stalls: client_body_timeout (2 s) passes
            closed = c.wait_closed(6.0 * SLOW)
            data = bytes(c.buf)
        assert status_lines(data) == [b"HTTP/1.1 200"], data[:2000]
        assert closed, "connection still open after the body timeout: %r" % data[:2000]
    finally:
        if pid:
            kill_if_running([pid])


# ---------------------------------------------------------------------------
# 10. bodies where none may be

STATUS_PY = r"""#!/usr/bin/python3
import os, sys
sys.stdout.write("Status: %s\r\nContent-Type: text/plain\r\n\r\nbody after status\n"
                 % os.environ["QUERY_STRING"])
"""


def answered_then_clean(c, first_status):
    """The first pipelined response has first_status; then the second one
    (GET /readme.txt) arrives intact, or the connection closes with nothing
    more."""
    r1 = c.read_response()
    assert r1.status == first_status, r1
    try:
        r2 = c.read_response()
    except rawhttp.Closed:
        assert not c.buf, bytes(c.buf)
        return r1
    assert r2.status == 200 and r2.body == README, r2
    assert c.is_open(0.2) and not c.buf, bytes(c.buf)
    return r1


@pytest.mark.parametrize("code", ["100", "101", "102", "199", "600", "999"])
def test_d10_cgi_status_outside_200_599_is_502(shared, code):
    """A CGI Status: outside 200-599 is a 502: one complete response, and
    the next pipelined request is answered cleanly (or the connection
    closes)."""
    srv = shared
    with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/status.py?" + code) +
               rawhttp.build("GET", "/readme.txt"))
        answered_then_clean(c, 502)


@pytest.mark.parametrize("code", ["204", "304"])
def test_d10_return_204_304_no_body(shared, code):
    """return 204 "hello" / return 304 "x": no body, no Content-Length; the
    next pipelined response follows cleanly."""
    srv = shared
    for method in ("GET", "HEAD"):
        with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
            c.send(rawhttp.build(method, "/r" + code) + rawhttp.build("GET", "/readme.txt"))
            r = answered_then_clean(c, int(code))
        assert "Content-Length" not in r.headers, r
        assert "Transfer-Encoding" not in r.headers, r


# ---------------------------------------------------------------------------
# 11. uploads in progress are neither listed nor served; names not guessable


def open_in(srv, folder):
    """Link targets of the server's descriptors inside `folder` (an upload
    in progress: a named temporary file, or an O_TMPFILE '#N (deleted)')."""
    prefix = str(folder) + "/"
    return [t for t in server_fds(srv.pid).values() if t.startswith(prefix)]


def longest_common_substring(a, b):
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best


def test_d11_upload_in_progress_not_visible(webserv):
    """A stalled PUT: no visible file in the store (an O_TMPFILE, or only a
    hidden name that GET does not serve), GET of its name is 404, the
    listing does not show it; once complete, the exact bytes. Generated
    names of raw POSTs are unguessable."""
    srv = start(webserv, basic_conf_text(UPLOAD_LOC), dirs=["files"],
                extra_files={"files/old.txt": b"pre-existing\n"})
    store = srv.root / "files"
    before = dir_names(store)
    data = os.urandom(100000)
    with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
        c.send(rawhttp.build("PUT", "/files/up.bin", [("Content-Length", str(len(data)))]) +
               data[:1000])
        assert wait_for(lambda: open_in(srv, store), 3.0 * SLOW), \
            "no file open in the store during the upload: %r" % server_fds(srv.pid)
        new = dir_names(store) - before
        for n in new:
            assert n.startswith("."), "upload in progress visible as %r" % n
            g = rawhttp.get(srv.port, "/files/" + quote(n))
            assert g.status in (403, 404), ("partial upload served under %r" % n, g)
        g = rawhttp.get(srv.port, "/files/up.bin")
        assert g.status == 404, g
        listing = rawhttp.get(srv.port, "/files/")
        assert listing.status == 200 and b"old.txt" in listing.body, listing
        assert b"up.bin" not in listing.body, listing.body
        for n in new:
            assert quote(n).encode() not in listing.body and n.encode() not in listing.body, n
        c.send(data[1000:])
        r = c.read_final(timeout=5 * SLOW)[1]
    assert r.status == 201, r
    assert (store / "up.bin").read_bytes() == data
    assert wait_for(lambda: dir_names(store) == before | {"up.bin"}, 2.0 * SLOW), \
        dir_names(store) - before

    # generated names of raw POST bodies: a fixed word, then a random part
    # (no time, pid or counter that two consecutive names would share)
    names = []
    for i in range(2):
        r = httpbody.request_with_body(srv.port, "POST", "/files/", b"raw body %d" % i)
        assert r.status == 201, r
        loc = r.headers.get("Location", "")
        assert loc.startswith("/files/"), r
        names.append(loc[len("/files/"):])
    rnd = [re.sub(r"^[A-Za-z]+[-_.]", "", n) for n in names]   # without "upload-"
    for x in rnd:
        assert len(re.sub(r"[^0-9A-Za-z]", "", x)) >= 12, ("random part too short", names)
    assert longest_common_substring(rnd[0], rnd[1]) < 6, ("guessable names", names)
    for rep in {str(srv.pid), "%x" % srv.pid, "%04x" % (srv.pid & 0xffff)}:
        assert not (rep in rnd[0] and rnd[0].find(rep) == rnd[1].find(rep)), \
            ("the pid %d in the names" % srv.pid, names)
    for i, n in enumerate(names):
        assert (store / n).read_bytes() == b"raw body %d" % i


# ---------------------------------------------------------------------------
# 12. SIGTERM during uploads leaves no file behind


def test_d12_sigterm_during_uploads_leaves_nothing(webserv):
    """Four stalled uploads (PUT, raw POST, multipart, chunked PUT), then
    SIGTERM: the server exits 0 and leaves nothing new in the store."""
    srv = start(webserv, basic_conf_text(UPLOAD_LOC), dirs=["files"],
                extra_files={"files/old.txt": b"pre-existing\n"})
    store = srv.root / "files"
    before = dir_names(store)
    boundary = "sec12"
    mp = httpbody.multipart([httpbody.file_part("part.bin", b"m" * 100000)], boundary)
    reqs = [
        rawhttp.build("PUT", "/files/term.bin", [("Content-Length", "100000")]) + b"p" * 1000,
        rawhttp.build("POST", "/files/", [("Content-Length", "100000")]) + b"r" * 1000,
        rawhttp.build("POST", "/files/", [
            ("Content-Type", "multipart/form-data; boundary=" + boundary),
            ("Content-Length", str(len(mp)))]) + mp[:1000],
        rawhttp.build("PUT", "/files/term2.bin", [("Transfer-Encoding", "chunked")]) +
        b"3e8\r\n" + b"c" * 1000 + b"\r\n",
    ]
    conns = []
    try:
        for data in reqs:
            c = rawhttp.Conn(srv.port, timeout=5 * SLOW)
            conns.append(c)
            c.send(data)
        assert wait_for(lambda: len(open_in(srv, store)) == len(reqs), 3.0 * SLOW), \
            "uploads not all in progress: %r" % open_in(srv, store)
        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(10 * SLOW)
        except Exception:
            raise AssertionError("server still running 10 s after SIGTERM")
    finally:
        for c in conns:
            c.close()
    assert rc == 0, rc
    left = dir_names(store) - before
    assert not left, "left in the store after SIGTERM: %r" % sorted(left)


# ---------------------------------------------------------------------------
# 13. long return URL or text


@pytest.mark.parametrize("n", LONG_N)
def test_d13_long_return_url_and_text(shared, n):
    """return 301 with a URL of n bytes and return 200 with a text of n
    bytes: a whole Location line, a Content-Length that matches, and the
    next pipelined request answered."""
    srv = shared
    with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
        c.send(rawhttp.build("GET", "/redir%d" % n) + rawhttp.build("GET", "/text%d" % n) +
               rawhttp.build("GET", "/readme.txt"))
        r = c.read_response()
        assert r.status == 301, r
        assert r.headers.get_all("Location") == [long_url(n)], r.head[:300]
        assert r.headers.get("Content-Length") == str(len(r.body)), r
        r = c.read_response()
        assert r.status == 200 and r.body == long_text(n).encode(), r
        r = c.read_response()
        assert r.status == 200 and r.body == README, r


# ---------------------------------------------------------------------------
# 14. chunk sizes near and above 2^63 with a huge client_max_body_size

HUGE = "9223372036854775799"   # the largest the configuration takes (INT64_MAX - 8)

HUGE_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location /files/ {
        allow_methods GET HEAD POST PUT;
        upload_store @ROOT@/files;
        client_max_body_size %s;
    }
    location /cgi-bin/ {
        allow_methods GET HEAD POST;
        cgi .py /usr/bin/python3;
        client_max_body_size %s;
    }
}
""" % (HUGE, HUGE)

ECHO_PY = r"""#!/usr/bin/python3
import sys
data = sys.stdin.buffer.read()
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(data) + data)
"""


def huge_chunk(srv, target, before_bytes, size_line, allowed):
    with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
        c.send(rawhttp.build("POST" if target.endswith(".py") else "PUT", target,
                             [("Transfer-Encoding", "chunked")]))
        if before_bytes:
            c.send(b"%x\r\n" % before_bytes + b"z" * before_bytes + b"\r\n")
        c.send(size_line + b"\r\n" + b"abc")
        r = c.read_response(timeout=3 * SLOW)
    assert r.status in allowed, (size_line, before_bytes, r)
    assert srv.alive(), "server died"


@pytest.mark.parametrize("where", ["upload", "cgi"])
def test_d14_chunk_size_near_int64_max(webserv, where):
    """client_max_body_size near INT64_MAX, a chunk size that would overflow
    body size + chunk size: 413 (or 400), no crash (no UBSan report)."""
    srv = start(webserv, HUGE_CONF, {"cgi-bin/echo.py": ECHO_PY}, dirs=["files"])
    target = "/files/huge.bin" if where == "upload" else "/cgi-bin/echo.py"
    before = dir_names(srv.root / "files")
    for before_bytes, line in ((100, b"7ffffffffffffff0"), (16, b"7ffffffffffffff8"),
                               (1, b"7fffffffffffffff"), (100000, b"7fffffffffff0000")):
        huge_chunk(srv, target, before_bytes, line, (400, 413))
    # a body that fits is still taken
    r = httpbody.request_with_body(srv.port, "POST" if where == "cgi" else "PUT", target,
                                   b"fits" * 1000, coding="chunked")
    assert r.status in (200, 201, 204), r
    if where == "upload":
        assert (srv.root / "files" / "huge.bin").read_bytes() == b"fits" * 1000
        assert dir_names(srv.root / "files") - before == {"huge.bin"}
    else:
        assert r.body == b"fits" * 1000


@pytest.mark.parametrize("where", ["upload", "cgi"])
def test_d14_chunk_size_of_2_63_or_more_is_400(webserv, where):
    """A chunk size of 2^63 or more is a chunk-size overflow: 400, whatever
    client_max_body_size allows; nothing is left in the store."""
    srv = start(webserv, HUGE_CONF, {"cgi-bin/echo.py": ECHO_PY}, dirs=["files"])
    target = "/files/huge.bin" if where == "upload" else "/cgi-bin/echo.py"
    before = dir_names(srv.root / "files")
    for before_bytes, line in ((0, b"8000000000000000"), (100, b"8000000000000001"),
                               (100, b"ffffffffffffffff"), (0, b"10000000000000000"),
                               (10, b"00008000000000000000")):
        huge_chunk(srv, target, before_bytes, line, (400,))
    assert wait_for(lambda: dir_names(srv.root / "files") == before, 2.0 * SLOW), \
        dir_names(srv.root / "files") - before
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.body == README, r


# ---------------------------------------------------------------------------
# descriptors after a crowd of mixed clients


def test_descriptors_back_to_baseline_after_mixed_clients(webserv):
    """Pipelining clients, clients that send their head byte by byte,
    chunked POSTs to a CGI, local redirects, and clients that leave half-way
    (close or reset) all at once: afterwards the server holds no more
    sockets, pipes or unlinked files than before, and no CLOSE-WAIT."""
    srv = start(webserv, (CGI_CONF % "30s").replace("}\n}", "}\n" + UPLOAD_LOC + "}"),
                dict(REDIR_SCRIPTS, **{"cgi-bin/echo.py": ECHO_PY}), dirs=["files"])
    baseline = io_fds(srv.pid)
    errors = []

    def pipeliner(i):
        with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
            c.send(b"".join(rawhttp.build("GET", t) for t in
                            ["/readme.txt", "/index.html", "/missing%d" % i] * 4))
            rs = c.read_responses(12)
            assert [r.status for r in rs] == [200, 200, 404] * 4, rs

    def byte_by_byte(i):
        with rawhttp.Conn(srv.port, timeout=10 * SLOW) as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for b in rawhttp.build("GET", "/readme.txt", [("X-I", str(i))]):
                c.send(bytes([b]))
            r = c.read_response()
            assert r.status == 200 and r.body == README, r

    def chunked_cgi(i):
        body = os.urandom(20000 + i)
        r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/echo.py", body,
                                       coding="chunked", timeout=10 * SLOW)
        assert r.status == 200 and r.body == body, r

    def redirect(i):
        r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/redir.py", b"a=%d" % i,
                                       coding="chunked" if i % 2 else "length",
                                       timeout=10 * SLOW)
        check_redirected_get(r)

    def leaver(i):
        c = rawhttp.Conn(srv.port, timeout=5 * SLOW)
        kind = i % 4
        if kind == 0:
            c.send(b"GET /readme.txt HTTP/1.1\r\nHost: x\r\n")
        elif kind == 1:
            c.send(rawhttp.build("POST", "/cgi-bin/echo.py", [("Content-Length", "100000")]) +
                   b"e" * 5000)
        elif kind == 2:
            c.send(rawhttp.build("PUT", "/files/leave%d.bin" % i, [("Content-Length", "100000")])
                   + b"u" * 5000)
        else:
            c.send(rawhttp.build("POST", "/cgi-bin/echo.py", [("Transfer-Encoding", "chunked")])
                   + b"10\r\n" + b"x" * 16 + b"\r\n")
        time.sleep(0.05)
        c.abort() if i % 2 else c.close()

    def run(fn, i):
        try:
            fn(i)
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append("%s(%d): %r" % (fn.__name__, i, e))

    threads = [threading.Thread(target=run, args=(fn, i))
               for i in range(6) for fn in (pipeliner, byte_by_byte, chunked_cgi, redirect, leaver)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SLOW)
    assert not [t for t in threads if t.is_alive()], "clients still running"
    settled = wait_settled(srv, baseline, 5.0 * SLOW)
    assert not errors, errors[:5]
    assert settled is True, settled
    assert wait_for(lambda: not children(srv.pid), 2.0 * SLOW), children(srv.pid)


# ---------------------------------------------------------------------------
# Also: what the review found plausible, bounded

SLEEPY_PY = r"""#!/usr/bin/python3
import os, sys, time
name = os.environ.get("QUERY_STRING") or "sleep"
with open(os.path.join(@PIDDIR@, name + ".pid"), "w") as f:
    f.write(str(os.getpid()))
sys.stdin.read()
time.sleep(1)
sys.stdout.write("Content-Type: text/plain\r\n\r\ndone %s\n" % name)
"""


def test_cgi_max_processes_answers_503(webserv):
    """cgi_max_processes 2: a third script while two run is a 503 (its
    error page), and once they are done scripts run again."""
    srv = start(webserv, "cgi_max_processes 2;\n" + CGI_CONF % "30s", {"cgi-bin/sleepy.py": SLEEPY_PY})
    conns = []
    try:
        for name in ("a", "b"):
            c = rawhttp.Conn(srv.port, timeout=10 * SLOW)
            c.send(rawhttp.build("GET", "/cgi-bin/sleepy.py?" + name))
            conns.append(c)
        for name in ("a", "b"):
            read_pid(srv.piddir / (name + ".pid"))
        r = rawhttp.get(srv.port, "/cgi-bin/sleepy.py?c")
        assert r.status == 503, r
        assert not (srv.piddir / "c.pid").exists()
        for c, name in zip(conns, ("a", "b")):
            r = c.read_response()
            assert r.status == 200 and r.body == b"done %s\n" % name.encode(), r
    finally:
        for c in conns:
            c.close()
    r = rawhttp.get(srv.port, "/cgi-bin/sleepy.py?d", timeout=10 * SLOW)
    assert r.status == 200 and r.body == b"done d\n", r
    assert "cgi_max_processes" in srv.error_log_text()


LONG_LOCATION_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Location: /" + "a" * 9000 + "\r\n\r\n")
"""


def test_cgi_local_redirect_too_long_is_502(webserv):
    srv = start(webserv, CGI_CONF % "30s", {"cgi-bin/longloc.py": LONG_LOCATION_PY})
    r = rawhttp.get(srv.port, "/cgi-bin/longloc.py", timeout=10 * SLOW)
    assert r.status == 502, r
    assert "too long" in srv.error_log_text()
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.body == README, r


def test_directory_listing_is_capped(webserv):
    """A folder of 12,000 entries with long names: the listing stops near
    1 MiB with a note instead of growing with the folder."""
    def setup(s):
        big = s.root / "big"
        big.mkdir()
        for i in range(12000):
            (big / ("%05d-%s.txt" % (i, "n" * 90))).write_bytes(b"")
    srv = webserv(basic_conf_text("    location /big/ { autoindex on; }\n"), setup=setup)
    r = rawhttp.get(srv.port, "/big/", timeout=20 * SLOW)
    assert r.status == 200, r
    assert int(r.headers["Content-Length"]) == len(r.body)
    assert len(r.body) <= (1 << 20) + 8192, len(r.body)
    assert b"more entries than are listed" in r.body
    assert r.body.rstrip().endswith(b"</html>")
    assert 1000 < r.body.count(b"<tr>") < 12000


SLOW_READER_PY = r"""#!/usr/bin/python3
import sys, time
time.sleep(3)
n = len(sys.stdin.buffer.read())
sys.stdout.write("Content-Type: text/plain\r\n\r\nread %d\n" % n)
"""


def test_client_not_timed_out_while_the_script_holds_its_body(webserv):
    """Same family as 9 (a timer blaming the wrong party): a client that
    sent its whole body waits for a script that reads stdin late; the body
    timeout (2 s) is not the client's fault while the server's buffers are
    full, so it does not get a 408."""
    conf = CGI_CONF.replace("client_body_timeout 30s;", "client_body_timeout 2s;") % "30s"
    srv = start(webserv, conf, {"cgi-bin/slow_reader.py": SLOW_READER_PY})
    body = os.urandom(1 << 20)
    with rawhttp.Conn(srv.port, timeout=15 * SLOW) as c:
        sender = threading.Thread(target=lambda: c.send(
            rawhttp.build("POST", "/cgi-bin/slow_reader.py", [("Content-Length", str(len(body)))]) + body))
        sender.start()
        r = c.read_response()
        sender.join(15 * SLOW)
    assert r.status == 200 and r.body == b"read %d\n" % len(body), r
