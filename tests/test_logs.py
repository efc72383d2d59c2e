"""access_log (combined format) and error_log (timestamp and level)."""

import re
import time

import rawhttp

COMBINED = re.compile(
    r'(?P<addr>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" '
    r'"(?P<agent>[^"]*)"')
ERROR_LINE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} "
                        r"\[(debug|info|notice|warn|error|crit)\] ")


def read_lines(path, want, timeout=2.0):
    """Lines of `path` once it has at least `want` of them (polls)."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= want:
            break
        time.sleep(0.05)
    return lines


CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    access_log @TMP@/access.log;
    location /quiet/ {
        access_log off;
    }
}
"""


def test_access_log_combined(webserv):
    srv = webserv(CONF)
    log = srv.tmp / "access.log"
    r = rawhttp.get(srv.port, "/readme.txt?x=1",
                    [("Referer", "http://ref.example/page"), ("User-Agent", "test-agent/1.0")])
    assert r.status == 200
    lines = read_lines(log, 1)
    assert len(lines) == 1, lines
    m = COMBINED.fullmatch(lines[0])
    assert m, lines[0]
    assert m.group("addr") == "127.0.0.1"
    assert m.group("request") == "GET /readme.txt?x=1 HTTP/1.1"
    assert m.group("status") == "200"
    assert m.group("bytes") == str(len(b"hello readme\n"))
    assert m.group("referer") == "http://ref.example/page"
    assert m.group("agent") == "test-agent/1.0"
    t = time.strptime(m.group("time"), "%d/%b/%Y:%H:%M:%S +0000")
    assert abs(time.mktime(t) - time.mktime(time.gmtime())) < 120


def test_access_log_404_and_no_headers(webserv):
    srv = webserv(CONF)
    log = srv.tmp / "access.log"
    r = rawhttp.get(srv.port, "/missing")
    assert r.status == 404
    r = rawhttp.request(srv.port, b"GET /digits.txt HTTP/1.0\r\n\r\n")
    assert r.status == 200
    lines = read_lines(log, 2)
    assert len(lines) == 2, lines
    m = COMBINED.fullmatch(lines[0])
    assert m, lines[0]
    assert m.group("request") == "GET /missing HTTP/1.1"
    assert m.group("status") == "404"
    assert m.group("referer") == "-" and m.group("agent") == "-"
    m = COMBINED.fullmatch(lines[1])
    assert m, lines[1]
    assert m.group("request") == "GET /digits.txt HTTP/1.0"
    assert m.group("status") == "200"
    assert m.group("bytes") == "16"


def test_access_log_404_bytes(webserv):
    srv = webserv(CONF)
    r = rawhttp.get(srv.port, "/missing")
    lines = read_lines(srv.tmp / "access.log", 1)
    m = COMBINED.fullmatch(lines[0])
    assert m, lines
    assert m.group("bytes") == str(len(r.body))


def test_access_log_pipelined_order(webserv):
    srv = webserv(CONF)
    with rawhttp.Conn(srv.port) as c:
        c.send(b"".join(rawhttp.build("GET", "/a/c.txt?n=%d" % i) for i in range(5)))
        c.read_responses(5)
    lines = read_lines(srv.tmp / "access.log", 5)
    reqs = [COMBINED.fullmatch(ln).group("request") for ln in lines]
    assert reqs == ["GET /a/c.txt?n=%d HTTP/1.1" % i for i in range(5)]


def test_access_log_off_in_location(webserv):
    srv = webserv(CONF)
    rawhttp.get(srv.port, "/quiet/x")
    rawhttp.get(srv.port, "/readme.txt")
    lines = read_lines(srv.tmp / "access.log", 1)
    time.sleep(0.2)
    lines = read_lines(srv.tmp / "access.log", 1)
    assert len(lines) == 1, lines
    assert '"GET /readme.txt HTTP/1.1"' in lines[0]


def test_access_log_off_by_default(webserv):
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
""")
    assert rawhttp.get(srv.port, "/readme.txt").status == 200
    time.sleep(0.2)
    assert not any(p.name.startswith("access") for p in srv.tmp.iterdir())


def test_error_log_format(webserv):
    srv = webserv(CONF)
    rawhttp.get(srv.port, "/missing-file-for-error-log")
    with rawhttp.Conn(srv.port) as c:
        c.send(b"BAD REQUEST LINE HERE\r\n\r\n")
        try:
            c.read_response()
        except rawhttp.Closed:
            pass
    time.sleep(0.3)
    assert srv.error_log.exists(), "error_log file not created"
    for line in srv.error_log.read_text(errors="replace").splitlines():
        if line.strip():
            assert ERROR_LINE.match(line), line


def test_error_log_stderr(webserv):
    srv = webserv("""
error_log stderr;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
""")
    rawhttp.get(srv.port, "/missing")
    rawhttp.request(srv.port, b"GET / HTTP/9.9\r\n\r\n")
    time.sleep(0.3)
    for line in srv.stderr().splitlines():
        if line.strip():
            assert ERROR_LINE.match(line), line
