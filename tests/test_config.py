"""Configuration features: locations, inheritance, return, error_page,
allow_methods, body size, virtual hosts, several listen addresses."""

import re
import threading
import time

import pytest

import rawhttp
from conftest import make_site, write_file


def ctype(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


MIME_CASES = [
    ("a.htm", "text/html"),
    ("A.HTML", "text/html"),
    ("a.json", "application/json"),
    ("a.svg", "image/svg+xml"),
    ("a.jpg", "image/jpeg"),
    ("a.jpeg", "image/jpeg"),
    ("a.gif", "image/gif"),
    ("a.webp", "image/webp"),
    ("a.pdf", "application/pdf"),
    ("a.woff2", "font/woff2"),
    ("a.wasm", "application/wasm"),
    ("a.mp4", "video/mp4"),
    ("a.tar.gz", "application/gzip"),
    ("noext", "application/octet-stream"),
    (".hidden", "application/octet-stream"),
]
MIME_NAMES = [c[0] for c in MIME_CASES]


BIG_413 = (b"<html><body><h1>413 too large</h1>\n" +
           b"".join(b"<p>line %06d of a long error page</p>\n" % i for i in range(8000)) +
           b"</body></html>\n")


@pytest.fixture(scope="module")
def srv(module_webserv):
    s = module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;

    location /p/deep/ { root @TMP@/r3; }
    location /p/ { root @TMP@/r2; }
    location = /p/exact.txt { return 200 "exact"; }
    location /q/ { root @TMP@/r2; }
    location /q/deep/ { root @TMP@/r3; }
    location = /ex { return 200 "exact-match"; }
    location /ex { return 200 "prefix-match"; }
    location = / { return 200 "root-exact"; }

    location /inh/ { autoindex on; }
    location /idx/ { index main.html; }

    location /old/ { return 301 /new/; }
    location /elsewhere/ { return 302 http://example.com/x?y=1; }
    location /forbidden/ { return 403; }
    location = /health { return 200 "ok"; }
    location = /quoted { return 200 'semi; colon # hash { }'; }
    location = /dquoted { return 200 "it's \\"here\\""; }

    location /custom/ { error_page 404 /errors/404.html; }
    location /badep/ { error_page 404 /errors/missing.html; }

    location /ro/ { allow_methods GET; }
    location /rh/ { allow_methods GET HEAD; }
    location /post/ { allow_methods GET POST; }
    location /small/ { client_max_body_size 10; allow_methods GET POST; }
    location /kb/ { client_max_body_size 1k; }
    location /linger/ {
        client_max_body_size 10;
        allow_methods GET POST;
        error_page 413 /errors/big413.html;
    }
}
""", extra_files={
        "errors/big413.html": BIG_413,
        "idx/index.html": b"idx index.html (must not be used)\n",
        "idx/main.html": b"idx main.html\n",
        "inh/one.txt": b"inh one\n",
        "ro/f.txt": b"ro file\n",
        "rh/f.txt": b"rh file\n",
        "post/f.txt": b"post file\n",
        "small/f.txt": b"small file\n",
        "ex": b"file ex\n",
        "exactly": b"file exactly\n",
        **{"m/" + n: b"data" for n in MIME_NAMES},
    }, setup=make_roots)
    return s


def make_roots(s):
    for rel, data in {"p/x.txt": b"r2 p x\n", "p/exact.txt": b"r2 exact file\n",
                      "q/x.txt": b"r2 q x\n", "p/deep/y.txt": b"r2 deep y (wrong)\n"}.items():
        write_file(s.tmp / "r2" / rel, data)
    for rel, data in {"p/deep/y.txt": b"r3 p deep y\n", "q/deep/y.txt": b"r3 q deep y\n"}.items():
        write_file(s.tmp / "r3" / rel, data)


@pytest.mark.parametrize("target,body", [
    ("/p/x.txt", b"r2 p x\n"),
    ("/p/deep/y.txt", b"r3 p deep y\n"),
    ("/q/x.txt", b"r2 q x\n"),
    ("/q/deep/y.txt", b"r3 q deep y\n"),
    ("/p/exact.txt", b"exact"),
    ("/ex", b"exact-match"),
    ("/exactly", b"prefix-match"),
    ("/ex/anything", b"prefix-match"),
    ("/", b"root-exact"),
    ("/readme.txt", b"hello readme\n"),
])
def test_location_choice(srv, target, body):
    r = rawhttp.get(srv.port, target)
    assert r.status == 200, r
    assert r.body == body


def test_exact_match_does_not_match_longer(srv):
    # "= /p/exact.txt" must not catch /p/exact.txtx: that goes to /p/ (r2)
    r = rawhttp.get(srv.port, "/p/exact.txtx")
    assert r.status == 404


def test_location_after_decoding(srv):
    # %70 = 'p': matching happens on the decoded path
    r = rawhttp.get(srv.port, "/%70/deep/y.txt")
    assert r.status == 200
    assert r.body == b"r3 p deep y\n"


def test_location_after_dot_segments(srv):
    r = rawhttp.get(srv.port, "/q/../p/deep/./y.txt")
    assert r.status == 200
    assert r.body == b"r3 p deep y\n"


def test_inherited_root(srv):
    r = rawhttp.get(srv.port, "/inh/one.txt")
    assert r.status == 200
    assert r.body == b"inh one\n"
    r = rawhttp.get(srv.port, "/inh/")
    assert r.status == 200
    assert b"one.txt" in r.body


def test_location_index_overrides(srv):
    r = rawhttp.get(srv.port, "/idx/")
    assert r.status == 200
    assert r.body == b"idx main.html\n"


def test_return_301(srv):
    r = rawhttp.get(srv.port, "/old/page.html")
    assert r.status == 301
    loc = r.headers["Location"]
    assert loc == "/new/" or re.fullmatch(r"http://[^/]+/new/", loc), loc
    assert ctype(r) == "text/html"


def test_return_302_absolute(srv):
    r = rawhttp.get(srv.port, "/elsewhere/a")
    assert r.status == 302
    assert r.headers["Location"] == "http://example.com/x?y=1"


def test_return_code_only(srv):
    r = rawhttp.get(srv.port, "/forbidden/x")
    assert r.status == 403
    assert ctype(r) == "text/html"
    assert b"403" in r.body


def test_return_200_text(srv):
    r = rawhttp.get(srv.port, "/health")
    assert r.status == 200
    assert r.body == b"ok"
    assert r.headers["Content-Length"] == "2"
    assert ctype(r) == "text/plain"


def test_return_head(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("HEAD", "/health") + rawhttp.build("GET", "/health"))
        h = c.read_response(head=True)
        g = c.read_response()
    assert h.status == 200 and h.body == b"" and h.headers["Content-Length"] == "2"
    assert g.body == b"ok"


def test_quoted_arguments(srv):
    assert rawhttp.get(srv.port, "/quoted").body == b"semi; colon # hash { }"


def test_quoted_argument_escape(srv):
    # nginx: a backslash escapes the quote inside a quoted argument
    assert rawhttp.get(srv.port, "/dquoted").body == b"it's \"here\""


def test_error_page_custom(srv):
    r = rawhttp.get(srv.port, "/custom/missing.html")
    assert r.status == 404
    assert r.body == b"<html><body>custom not found page</body></html>\n"
    assert ctype(r) == "text/html"


def test_error_page_builtin(srv):
    r = rawhttp.get(srv.port, "/missing.html")
    assert r.status == 404
    assert ctype(r) == "text/html"
    assert b"404" in r.body
    assert b"custom not found page" not in r.body


def test_error_page_unreadable_falls_back(srv):
    r = rawhttp.get(srv.port, "/badep/missing.html")
    assert r.status == 404
    assert ctype(r) == "text/html"
    assert b"404" in r.body


def allow_set(r):
    return {t.upper() for t in r.header_tokens("Allow")}


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT"])
def test_method_not_allowed(srv, method):
    hdrs = [("Content-Length", "0")] if method in ("POST", "PUT") else None
    r = rawhttp.get(srv.port, "/ro/f.txt", hdrs, method=method)
    assert r.status == 405
    assert allow_set(r) == {"GET"}
    assert ctype(r) == "text/html"


def test_method_not_allowed_lists_head(srv):
    r = rawhttp.get(srv.port, "/rh/f.txt", method="DELETE")
    assert r.status == 405
    assert allow_set(r) == {"GET", "HEAD"}


def test_allowed_get(srv):
    r = rawhttp.get(srv.port, "/ro/f.txt")
    assert r.status == 200 and r.body == b"ro file\n"


@pytest.mark.parametrize("method", ["FOO", "get", "OPTIONS", "PATCH", "CONNECT", "TRACE"])
def test_unknown_method_501(srv, method):
    r = rawhttp.get(srv.port, "/ro/f.txt", method=method)
    assert r.status == 501


def test_unknown_method_501_before_405(srv):
    r = rawhttp.get(srv.port, "/readme.txt", method="FOO")
    assert r.status == 501


def test_post_static_405(srv):
    r = rawhttp.get(srv.port, "/post/f.txt", [("Content-Length", "5")], method="POST",
                    body=b"hello")
    assert r.status == 405
    assert "Allow" in r.headers


def test_post_no_length_411(srv):
    r = rawhttp.get(srv.port, "/post/f.txt", method="POST")
    assert r.status == 411


def test_post_not_allowed_405_before_411(srv):
    r = rawhttp.get(srv.port, "/ro/f.txt", method="POST")
    assert r.status == 405


def test_413_before_405(srv):
    r = rawhttp.get(srv.port, "/small/f.txt", [("Content-Length", "100")], method="POST",
                    body=b"x" * 100)
    assert r.status == 413


def test_413_headers_only(srv):
    """413 as soon as Content-Length is known, without waiting for the body."""
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("POST", "/small/f.txt", [("Content-Length", "100")]))
        r = c.read_response()
        assert r.status == 413
        assert ctype(r) == "text/html"
        assert c.wait_closed(3)


def test_413_get_with_body(srv):
    r = rawhttp.get(srv.port, "/small/f.txt", [("Content-Length", "100")], body=b"y" * 100)
    assert r.status == 413


def test_413_large_body_readable(srv):
    """The client is still sending 4 MB when the server answers 413: it must
    read the response, not a connection reset (lingering close)."""
    size = 4 * 1024 * 1024
    with rawhttp.Conn(srv.port, timeout=10) as c:
        c.send(rawhttp.build("POST", "/small/f.txt", [("Content-Length", str(size))]))

        def pump():
            try:
                c.sock.sendall(b"z" * size)
            except OSError:
                pass
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        r = c.read_response()
        assert r.status == 413
        t.join(10)


def test_413_lingering_close_big_page(srv):
    """A 300 KB error page to a slow reader that is still sending its body:
    closing at once with unread input would reset the connection and drop
    the unsent part of the page; a lingering close delivers it all."""
    size = 4 * 1024 * 1024
    with rawhttp.Conn(srv.port, timeout=10, rcvbuf=8192) as c:
        c.send(rawhttp.build("POST", "/linger/f.txt", [("Content-Length", str(size))]))

        def pump():
            try:
                c.sock.sendall(b"z" * size)
            except OSError:
                pass
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        time.sleep(0.5)
        r = c.read_response()
        assert r.status == 413
        assert r.body == BIG_413
        t.join(10)


def test_413_chunked(srv):
    body = b"14\r\n" + b"c" * 20 + b"\r\n0\r\n\r\n"
    r = rawhttp.get(srv.port, "/small/f.txt", [("Transfer-Encoding", "chunked")], body=body)
    assert r.status == 413


def test_body_size_units(srv):
    r = rawhttp.get(srv.port, "/kb/x", [("Content-Length", "1025")], method="POST")
    assert r.status == 413
    r = rawhttp.get(srv.port, "/kb/x", [("Content-Length", "1024")], method="POST",
                    body=b"k" * 1024)
    assert r.status == 405


def test_default_body_size_1m(srv):
    r = rawhttp.get(srv.port, "/readme.txt", [("Content-Length", str(1024 * 1024 + 1))],
                    method="POST")
    assert r.status == 413


def test_body_within_limit_get(srv):
    r = rawhttp.get(srv.port, "/small/f.txt", [("Content-Length", "10")], body=b"0123456789")
    assert r.status == 200
    assert r.body == b"small file\n"


# ---------------------------------------------------------------- vhosts

VHOSTS = """
server {
    listen 127.0.0.1:@PORT@;
    server_name b.test www.b.test;
    root @TMP@/b;
}
server {
    listen 127.0.0.1:@PORT@;
    server_name a.test;
    root @TMP@/a;
}
server {
    listen 127.0.0.1:@PORT1@;
    server_name a.test;
    root @TMP@/c;
}
"""


@pytest.fixture(scope="module")
def vh(module_webserv):
    def setup(s):
        for n in "abc":
            write_file(s.tmp / n / "index.html", ("site %s\n" % n).encode())
            write_file(s.tmp / n / ("only-%s.txt" % n), ("only %s\n" % n).encode())
    return module_webserv(VHOSTS, nports=2, site=False, setup=setup)


@pytest.mark.parametrize("host,site", [
    ("a.test", b"a"),
    ("b.test", b"b"),
    ("www.b.test", b"b"),
    ("A.TEST", b"a"),
    ("a.test:1234", b"a"),
    ("B.Test:80", b"b"),
    ("unknown.test", b"b"),
    ("127.0.0.1", b"b"),
])
def test_vhost_by_host(vh, host, site):
    r = rawhttp.get(vh.port, "/", host=host)
    assert r.status == 200
    assert r.body == b"site " + site + b"\n"


def test_vhost_other_address_own_default(vh):
    r = rawhttp.get(vh.ports[1], "/", host="b.test")
    assert r.body == b"site c\n"
    r = rawhttp.get(vh.ports[1], "/", host="a.test")
    assert r.body == b"site c\n"


def test_vhost_absolute_form_beats_host(vh):
    r = rawhttp.request(vh.port, b"GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n")
    assert r.status == 200
    assert r.body == b"site a\n"
    r = rawhttp.request(vh.port, b"GET http://b.test/only-b.txt HTTP/1.1\r\nHost: a.test\r\n\r\n")
    assert r.status == 200
    assert r.body == b"only b\n"


def test_vhost_keepalive_switch(vh):
    """Each request on one connection picks its own server."""
    with rawhttp.Conn(vh.port) as c:
        c.send(rawhttp.build("GET", "/", host="a.test") + rawhttp.build("GET", "/", host="b.test")
               + rawhttp.build("GET", "/", host="a.test"))
        rs = c.read_responses(3)
    assert [r.body for r in rs] == [b"site a\n", b"site b\n", b"site a\n"]


def test_vhost_http10_no_host_default(vh):
    r = rawhttp.request(vh.port, b"GET / HTTP/1.0\r\n\r\n")
    assert r.status == 200
    assert r.body == b"site b\n"


def test_two_listen_lines(webserv):
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT0@;
    listen @PORT1@;
    root @ROOT@;
}
""", nports=2)
    for p in srv.ports:
        r = rawhttp.get(p, "/readme.txt")
        assert r.status == 200
        assert r.body == b"hello readme\n"


def test_main_level_inheritance(webserv):
    srv = webserv("""
autoindex on;
index nothing-here.html;
keepalive_timeout 30s;
server {
    listen 127.0.0.1:@PORT0@;
    root @ROOT@;
}
server {
    listen 127.0.0.1:@PORT1@;
    root @ROOT@;
    autoindex off;
}
""", nports=2)
    r = rawhttp.get(srv.ports[0], "/sub/")   # sub/ has index.html, but index is overridden
    assert r.status == 200
    assert b"other.txt" in r.body and b"index.html" in r.body
    r = rawhttp.get(srv.ports[1], "/sub/")
    assert r.status == 403


def test_server_level_error_page_and_location_override(webserv):
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    error_page 404 /errors/404.html;
    error_page 403 /errors/403.html;
    location /plain/ {
        error_page 404 /errors/other.html;
    }
}
""", extra_files={"errors/403.html": b"custom forbidden\n",
                  "errors/other.html": b"other not found\n"})
    r = rawhttp.get(srv.port, "/nope")
    assert r.status == 404
    assert r.body == b"<html><body>custom not found page</body></html>\n"
    r = rawhttp.get(srv.port, "/a/")
    assert r.status == 403
    assert r.body == b"custom forbidden\n"
    r = rawhttp.get(srv.port, "/plain/nope")
    assert r.status == 404
    assert r.body == b"other not found\n"


def test_error_page_with_head(webserv):
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    error_page 404 /errors/404.html;
}
""")
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("HEAD", "/nope") + rawhttp.build("GET", "/readme.txt"))
        h = c.read_response(head=True)
        g = c.read_response()
    assert h.status == 404 and h.body == b""
    assert g.status == 200 and g.body == b"hello readme\n"


def test_root_with_spaces_quoted(webserv, tmp_path):
    make_site(tmp_path / "my docs")
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root "@TMP@/my docs";
}
""", site=False)
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.body == b"hello readme\n"


def test_index_first_existing(webserv):
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index missing.html index.htm index.html;
    location /zero/ {
        client_max_body_size 0;
    }
}
""", extra_files={"sub/index.htm": b"the htm index\n"})
    r = rawhttp.get(srv.port, "/sub/")
    assert r.status == 200
    assert r.body == b"the htm index\n"
    # client_max_body_size 0: no limit, so a 3 GiB POST is not refused for
    # its size: 100 Continue (or a 405 for the lack of an upload_store)
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("POST", "/zero/x", [("Content-Length", str(3 * 1024 ** 3)),
                                                 ("Expect", "100-continue")]))
        r = c.read_response()
        assert r.status in (100, 405), r


@pytest.mark.parametrize("name,expected", MIME_CASES)
def test_more_mime_types(srv, name, expected):
    r = rawhttp.get(srv.port, "/m/" + name)
    assert r.status == 200
    assert ctype(r) == expected
