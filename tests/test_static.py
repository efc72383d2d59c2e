"""Static files: GET/HEAD, types, validators, index, autoindex, 301,
conditional and range requests, a 10 MiB download."""

import email.utils
import hashlib
import re
import time
from urllib.parse import urlsplit

import pytest

import rawhttp
from conftest import MTIME_HTTP, big_file

BIG = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def srv(module_webserv):
    s = module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
    location /dir/ {
        autoindex on;
    }
}
""")
    s.big = big_file(s.root / "big.bin", BIG)
    return s


def ctype(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


TYPES = [
    ("/index.html", "text/html"),
    ("/style.css", "text/css"),
    ("/img.png", "image/png"),
    ("/app.js", ("application/javascript", "text/javascript")),
    ("/readme.txt", "text/plain"),
    ("/file.zzunknown", "application/octet-stream"),
]


@pytest.mark.parametrize("path,expected", TYPES)
def test_get_content_type(srv, path, expected):
    r = rawhttp.get(srv.port, path)
    assert r.status == 200
    assert r.status_line.startswith("HTTP/1.1 200 ")
    if isinstance(expected, tuple):
        assert ctype(r) in expected, r.headers
    else:
        assert ctype(r) == expected, r.headers
    assert r.body == srv.files[path[1:]]
    assert r.headers.count("Content-Type") == 1


def test_unknown_type_exact(srv):
    r = rawhttp.get(srv.port, "/file.zzunknown")
    assert r.headers["Content-Type"] == "application/octet-stream"


def test_get_headers(srv):
    r = rawhttp.get(srv.port, "/readme.txt")
    body = srv.files["readme.txt"]
    assert r.status == 200
    assert r.headers.get_all("Content-Length") == [str(len(body))]
    assert r.headers["Last-Modified"] == MTIME_HTTP
    assert re.fullmatch(r'(W/)?"[\x21\x23-\x7e]+"', r.headers["ETag"]), r.headers["ETag"]
    date = r.headers["Date"]
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                        r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                        r"\d\d:\d\d:\d\d GMT", date), date
    when = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(when - time.time()) < 60
    assert r.headers["Server"].startswith("webserv")
    assert "Transfer-Encoding" not in r.headers


def test_etag_changes_with_file(srv):
    import os
    p = srv.root / "changing.txt"
    p.write_bytes(b"one")
    os.utime(p, (1600000000, 1600000000))
    e1 = rawhttp.get(srv.port, "/changing.txt").headers["ETag"]
    p.write_bytes(b"two and more")
    os.utime(p, (1600000100, 1600000100))
    r = rawhttp.get(srv.port, "/changing.txt")
    assert r.body == b"two and more"
    assert r.headers["ETag"] != e1


def test_head_same_headers_no_body(srv):
    get = rawhttp.get(srv.port, "/style.css")
    with rawhttp.Conn(srv.port) as c:
        # HEAD then GET on one connection: a body after HEAD would break the
        # second response.
        c.send(rawhttp.build("HEAD", "/style.css") + rawhttp.build("GET", "/readme.txt"))
        head = c.read_response(head=True)
        nxt = c.read_response()
    assert head.status == 200
    assert head.body == b""
    for h in ("Content-Type", "Content-Length", "Last-Modified", "ETag", "Server"):
        assert head.headers.get(h) == get.headers.get(h), h
    assert "Date" in head.headers
    assert nxt.status == 200 and nxt.body == srv.files["readme.txt"]


def test_head_big_file(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("HEAD", "/big.bin") + rawhttp.build("GET", "/digits.txt"))
        head = c.read_response(head=True)
        nxt = c.read_response()
    assert head.status == 200
    assert head.headers["Content-Length"] == str(BIG)
    assert nxt.body == b"0123456789abcdef"


def test_404(srv):
    r = rawhttp.get(srv.port, "/no-such-file.html")
    assert r.status == 404
    assert r.status_line.startswith("HTTP/1.1 404 ")
    assert ctype(r) == "text/html"
    assert b"404" in r.body
    assert r.headers["Content-Length"] == str(len(r.body))
    assert r.headers["Server"].startswith("webserv")


def test_head_404_no_body(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("HEAD", "/nope") + rawhttp.build("GET", "/digits.txt"))
        head = c.read_response(head=True)
        nxt = c.read_response()
    assert head.status == 404
    assert nxt.status == 200 and nxt.body == b"0123456789abcdef"


def test_index_file(srv):
    r = rawhttp.get(srv.port, "/")
    assert r.status == 200
    assert r.body == srv.files["index.html"]
    assert ctype(r) == "text/html"
    r = rawhttp.get(srv.port, "/sub/")
    assert r.status == 200
    assert r.body == srv.files["sub/index.html"]


def test_directory_without_slash_redirects(srv):
    r = rawhttp.get(srv.port, "/sub")
    assert r.status == 301
    loc = urlsplit(r.headers["Location"])
    assert loc.path == "/sub/"
    assert loc.query == ""


def test_directory_without_slash_keeps_query(srv):
    r = rawhttp.get(srv.port, "/sub?x=1&y=2")
    assert r.status == 301
    loc = r.headers["Location"]
    assert urlsplit(loc).path == "/sub/"
    assert urlsplit(loc).query == "x=1&y=2", loc


def test_autoindex_listing(srv):
    r = rawhttp.get(srv.port, "/dir/")
    assert r.status == 200
    assert ctype(r) == "text/html"
    body = r.body.decode("utf-8", "replace")
    assert "a&lt;b&gt;&amp;.txt" in body
    assert "a<b>&.txt" not in body
    assert re.search(r'href="(/dir/)?a%3Cb%3E%26\.txt"', body, re.I), body
    assert re.search(r'href="(/dir/)?x\.txt"', body), body
    assert re.search(r'href="(/dir/)?caf%C3%A9%20%22q%22\.txt"', body, re.I), body
    assert "caf\u00e9 &quot;q&quot;.txt" in body or "caf\u00e9 &#34;q&#34;.txt" in body, body
    assert re.search(r'href="(/dir/)?sub2/"', body), body


def test_autoindex_link_works(srv):
    r = rawhttp.get(srv.port, "/dir/a%3Cb%3E%26.txt")
    assert r.status == 200
    assert r.body == b"funny name\n"


def test_autoindex_empty_folder(srv):
    """An empty listing (no visible entry) is a page too, not a crash."""
    (srv.root / "dir" / "empty").mkdir(exist_ok=True)
    (srv.root / "dir" / "empty" / ".hidden").write_text("x")
    r = rawhttp.get(srv.port, "/dir/empty/")
    assert r.status == 200
    assert b"Index of /dir/empty/" in r.body
    assert b".hidden" not in r.body
    assert rawhttp.get(srv.port, "/dir/").status == 200  # the server is still up


def test_autoindex_off_no_index_403(srv):
    r = rawhttp.get(srv.port, "/a/")
    assert r.status == 403
    assert ctype(r) == "text/html"
    assert b"403" in r.body


def test_if_none_match_304(srv):
    etag = rawhttp.get(srv.port, "/readme.txt").headers["ETag"]
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/readme.txt", [("If-None-Match", etag)]) +
               rawhttp.build("GET", "/digits.txt"))
        r = c.read_response()
        nxt = c.read_response()
    assert r.status == 304
    assert r.body == b""
    assert r.headers.get("ETag") == etag
    assert r.headers.get("Last-Modified")  # the validators, and nothing of the body
    assert "Content-Length" not in r.headers and "Content-Type" not in r.headers
    assert nxt.status == 200 and nxt.body == b"0123456789abcdef"


def test_if_none_match_list_304(srv):
    etag = rawhttp.get(srv.port, "/readme.txt").headers["ETag"]
    r = rawhttp.get(srv.port, "/readme.txt", [("If-None-Match", '"nope", %s' % etag)])
    assert r.status == 304


def test_if_none_match_other_200(srv):
    r = rawhttp.get(srv.port, "/readme.txt", [("If-None-Match", '"not-the-etag"')])
    assert r.status == 200
    assert r.body == srv.files["readme.txt"]


def test_if_modified_since_equal_304(srv):
    r = rawhttp.get(srv.port, "/readme.txt", [("If-Modified-Since", MTIME_HTTP)])
    assert r.status == 304
    assert r.body == b""


def test_if_modified_since_later_304(srv):
    r = rawhttp.get(srv.port, "/readme.txt",
                    [("If-Modified-Since", "Fri, 01 Jan 2021 00:00:00 GMT")])
    assert r.status == 304


def test_if_modified_since_older_200(srv):
    r = rawhttp.get(srv.port, "/readme.txt",
                    [("If-Modified-Since", "Wed, 01 Jan 2020 00:00:00 GMT")])
    assert r.status == 200
    assert r.body == srv.files["readme.txt"]


def test_if_none_match_wins_over_if_modified_since(srv):
    r = rawhttp.get(srv.port, "/readme.txt", [("If-None-Match", '"other"'),
                                              ("If-Modified-Since", MTIME_HTTP)])
    assert r.status == 200


RANGES = [
    ("bytes=0-4", "bytes 0-4/16", b"01234"),
    ("bytes=-3", "bytes 13-15/16", b"def"),
    ("bytes=5-", "bytes 5-15/16", b"56789abcdef"),
    ("bytes=10-100", "bytes 10-15/16", b"abcdef"),
    ("bytes=15-15", "bytes 15-15/16", b"f"),
    ("bytes=-100", "bytes 0-15/16", b"0123456789abcdef"),
]


@pytest.mark.parametrize("rng,crange,body", RANGES)
def test_range(srv, rng, crange, body):
    r = rawhttp.get(srv.port, "/digits.txt", [("Range", rng)])
    assert r.status == 206
    assert r.headers["Content-Range"] == crange
    assert r.headers["Content-Length"] == str(len(body))
    assert r.body == body
    assert ctype(r) == "text/plain"


def test_range_unsatisfiable(srv):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", "/digits.txt", [("Range", "bytes=9999-")]))
        r = c.read_response()
    assert r.status == 416
    assert r.headers["Content-Range"] == "bytes */16"


def test_range_other_unit_ignored(srv):
    r = rawhttp.get(srv.port, "/digits.txt", [("Range", "items=0-1")])
    assert r.status == 200
    assert r.body == b"0123456789abcdef"
    assert "Content-Range" not in r.headers


def test_multiple_ranges_full_body(srv):
    r = rawhttp.get(srv.port, "/digits.txt", [("Range", "bytes=0-1,3-4")])
    assert r.status == 200
    assert r.body == b"0123456789abcdef"


def test_range_big_file_middle(srv):
    r = rawhttp.get(srv.port, "/big.bin", [("Range", "bytes=5000000-5000099")])
    assert r.status == 206
    assert r.headers["Content-Range"] == "bytes 5000000-5000099/%d" % BIG
    assert r.body == srv.big[5000000:5000100]


def test_big_file_download(srv):
    with rawhttp.Conn(srv.port, timeout=30) as c:
        c.send(rawhttp.build("GET", "/big.bin"))
        r = c.read_response()
    assert r.status == 200
    assert r.headers["Content-Length"] == str(BIG)
    assert ctype(r) == "application/octet-stream"
    assert len(r.body) == BIG
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(srv.big).hexdigest()


def test_big_file_twice_keepalive(srv):
    """Two 10 MiB responses pipelined on one connection, then a small one."""
    with rawhttp.Conn(srv.port, timeout=30) as c:
        c.send(rawhttp.build("GET", "/big.bin") + rawhttp.build("GET", "/big.bin") +
               rawhttp.build("GET", "/digits.txt"))
        a, b, d = c.read_responses(3)
    h = hashlib.sha256(srv.big).hexdigest()
    assert hashlib.sha256(a.body).hexdigest() == h
    assert hashlib.sha256(b.body).hexdigest() == h
    assert d.body == b"0123456789abcdef"
