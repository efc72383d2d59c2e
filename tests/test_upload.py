"""Uploads: POST multipart/form-data and raw bodies, PUT, file name
sanitizing, 411/413, cleanup of partial files, 100-continue, temporary
names, and the peak memory of a 1 GiB upload."""

import hashlib
import os
import re
import socket
import time
import uuid
from urllib.parse import quote, unquote

import pytest

import httpbody
import rawhttp
from conftest import dir_names, has_open_file_under, vm_hwm, wait_for
from httpbody import field_part, file_part, multipart

MiB = 1 << 20
HWM_SLACK = 16 * MiB


@pytest.fixture(scope="module")
def srv(module_webserv):
    def setup(s):
        for d in ("files", "lim", "drop", "big", "etc"):
            (s.root / d).mkdir(parents=True, exist_ok=True)
        # where a naive "../../etc/x" from files/ would land
        (s.tmp / "etc").mkdir(exist_ok=True)

    s = module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    root @ROOT@;
    index index.html;
    location /files/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/files;
        client_max_body_size 300m;
    }
    location /lim/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/lim;
        client_max_body_size 1k;
    }
    location /drop/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/drop;
        client_max_body_size 100m;
    }
    location /big/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/big;
        client_max_body_size 0;
    }
    location /static/ {
        allow_methods GET HEAD POST PUT;
    }
}
""", setup=setup)
    s.files_dir = s.root / "files"
    s.lim_dir = s.root / "lim"
    s.drop_dir = s.root / "drop"
    s.big_dir = s.root / "big"
    return s


def tok():
    return uuid.uuid4().hex[:10]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def file_sha(path):
    return sha(path.read_bytes())


def stored_name(r, prefix="/files/"):
    """The stored name that a 201's Location points at."""
    loc = r.headers.get("Location")
    assert loc is not None, r
    assert loc.startswith(prefix), loc
    assert not re.search(r"[\x00-\x20\x7f]", loc), "Location not URL-encoded: %r" % loc
    return unquote(loc[len(prefix):], encoding="latin-1")


def post_multipart(port, target, parts, boundary=None, coding="length", ctype=None, headers=()):
    boundary = boundary or "----webservTestBoundary" + tok()
    body = multipart(parts, boundary)
    ctype = ctype or "multipart/form-data; boundary=" + boundary
    return httpbody.request_with_body(port, "POST", target, body,
                                      [("Content-Type", ctype)] + list(headers), coding=coding)


def assert_links(r, names, prefix="/files/"):
    """The 201 body is HTML with a link to each stored file."""
    body = r.body.decode("utf-8", "replace")
    for n in names:
        assert re.search(r"""href\s*=\s*["']%s["']""" % re.escape(prefix + quote(n)), body), (
            n, body)


def no_temp(path):
    return [n for n in os.listdir(path) if n.startswith(".webserv-")]


def new_entries(path, before):
    return dir_names(path) - before


def assert_nothing_new(path, before, timeout=2.0):
    """Poll up to timeout until no entry (final or temporary) other than
    `before` is in the folder."""
    left = wait_for(lambda: not new_entries(path, before), timeout)
    assert left, "left in %s: %r" % (path, sorted(new_entries(path, before)))


def tricky_binary(boundary, size=200000, seed=b"x"):
    """Binary content with CRLFs, '--', boundary-like bytes (never the
    delimiter itself), and a CRLF at the very end."""
    bnd = boundary.encode()
    almost = bnd[:-1] + bytes([bnd[-1] ^ 1])
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed + b"%d" % i).digest() * 7
        out += b"\r\n--" + almost + b"\r\n"
        out += b"X--" + bnd + b"--"           # boundary without the leading CRLF
        out += b"\r\n--" + bnd[: len(bnd) // 2]  # a delimiter prefix
        out += b"\r\r\n\n-\r\n-"
        i += 1
    return bytes(out) + b"\r\n--\r\n"


# ---------------------------------------------------------------------------
# multipart/form-data


@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_multipart_one_file(srv, coding):
    t = tok()
    boundary = "XyZ" + t
    data = tricky_binary(boundary)
    name = "one-%s.bin" % t
    before = dir_names(srv.files_dir)
    r = post_multipart(srv.port, "/files/", [field_part("comment", "a plain field"),
                                             file_part(name, data)], boundary, coding)
    assert r.status == 201, r
    assert r.headers.get("Location") == "/files/" + name
    assert new_entries(srv.files_dir, before) == {name}
    assert file_sha(srv.files_dir / name) == sha(data)
    assert_links(r, [name])
    g = rawhttp.get(srv.port, "/files/" + name)
    assert g.status == 200 and sha(g.body) == sha(data)


@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_multipart_three_files(srv, coding):
    t = tok()
    boundary = "----WebKitFormBoundary" + t
    datas = [tricky_binary(boundary, 150000, b"a"), os.urandom(300000) + b"\r\n",
             b"small\r\n--" + boundary.encode()[:-2] + b"\r\n"]
    names = ["f1-%s.bin" % t, "f2-%s.dat" % t, "f3-%s.txt" % t]
    parts = [field_part("title", "hello"),
             file_part(names[0], datas[0]),
             field_part("middle", "x\r\ny"),
             file_part(names[1], datas[1], name="second", ctype="image/png"),
             file_part(names[2], datas[2], name="third", ctype="text/plain"),
             field_part("last", "")]
    before = dir_names(srv.files_dir)
    r = post_multipart(srv.port, "/files/", parts, boundary, coding)
    assert r.status == 201, r
    assert r.headers.get("Location") == "/files/" + names[0]
    assert new_entries(srv.files_dir, before) == set(names)
    for n, d in zip(names, datas):
        assert file_sha(srv.files_dir / n) == sha(d), n
    assert_links(r, names)
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == "text/html", r.headers


def test_multipart_split_across_reads(srv):
    """The body arrives in tiny TCP segments, so delimiters are split at
    every possible offset."""
    t = tok()
    boundary = "b" + t
    datas = [tricky_binary(boundary, 6000, b"s1"), tricky_binary(boundary, 3000, b"s2")]
    names = ["split1-%s.bin" % t, "split2-%s.bin" % t]
    body = multipart([file_part(names[0], datas[0]), field_part("f", "v"),
                      file_part(names[1], datas[1])], boundary)
    before = dir_names(srv.files_dir)
    with rawhttp.Conn(srv.port, timeout=10) as c:
        c.send(rawhttp.build("POST", "/files/", [
            ("Content-Type", "multipart/form-data; boundary=" + boundary),
            ("Content-Length", str(len(body)))]))
        httpbody.send_in_pieces(c, body)
        r = c.read_final()[1]
    assert r.status == 201, r
    assert new_entries(srv.files_dir, before) == set(names)
    for n, d in zip(names, datas):
        assert file_sha(srv.files_dir / n) == sha(d), n


def test_multipart_chunked_tiny_chunks(srv):
    t = tok()
    boundary = "tiny" + t
    data = tricky_binary(boundary, 4000, b"tc")
    name = "tiny-%s.bin" % t
    body = multipart([file_part(name, data)], boundary)
    payload = httpbody.chunked(body, sizes=[1, 3, 7, 2, 50, 11], ext=True)
    with rawhttp.Conn(srv.port, timeout=10) as c:
        c.send(rawhttp.build("POST", "/files/", [
            ("Content-Type", "multipart/form-data; boundary=" + boundary),
            ("Transfer-Encoding", "chunked")]))
        httpbody.send_in_pieces(c, payload, sizes=(5, 1, 64, 17, 1000), pause_every=16)
        r = c.read_final()[1]
    assert r.status == 201, r
    assert file_sha(srv.files_dir / name) == sha(data)


def test_multipart_quoted_boundary_and_case(srv):
    t = tok()
    boundary = "quoted boundary " + t
    name = "q-%s.txt" % t
    data = b"quoted boundary content\r\n"
    r = post_multipart(srv.port, "/files/", [file_part(name, data)], boundary,
                       ctype='Multipart/Form-Data; charset=utf-8; boundary="%s"' % boundary)
    assert r.status == 201, r
    assert (srv.files_dir / name).read_bytes() == data


def test_multipart_empty_file(srv):
    t = tok()
    name = "empty-%s.txt" % t
    r = post_multipart(srv.port, "/files/", [file_part(name, b"")])
    assert r.status == 201, r
    assert (srv.files_dir / name).read_bytes() == b""


def test_multipart_without_file_part_400(srv):
    before = dir_names(srv.files_dir)
    r = post_multipart(srv.port, "/files/", [field_part("a", "1"), field_part("b", "2")])
    assert r.status == 400, r
    assert_nothing_new(srv.files_dir, before, 0.5)


def test_multipart_truncated_400_no_file(srv):
    """No closing delimiter: 400, and neither the half part nor a temporary
    file remains."""
    t = tok()
    boundary = "trunc" + t
    name = "trunc-%s.bin" % t
    body = multipart([file_part(name, b"x" * 5000)], boundary)
    body = body[:body.index(b"x" * 5000) + 3000]
    before = dir_names(srv.files_dir)
    r = httpbody.request_with_body(srv.port, "POST", "/files/", body, [
        ("Content-Type", "multipart/form-data; boundary=" + boundary)])
    assert r.status == 400, r
    assert_nothing_new(srv.files_dir, before)


def test_multipart_file_readable_on_keepalive(srv):
    """After a 201 the same connection serves the next request."""
    t = tok()
    boundary = "ka" + t
    name = "ka-%s.txt" % t
    body = multipart([file_part(name, b"keep alive\n")], boundary)
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("POST", "/files/", [
            ("Content-Type", "multipart/form-data; boundary=" + boundary),
            ("Content-Length", str(len(body)))], body) + rawhttp.build("GET", "/files/" + name))
        a, b = c.read_responses(2)
    assert a.status == 201, a
    assert b.status == 200 and b.body == b"keep alive\n", b


# ---------------------------------------------------------------------------
# file name sanitizing

SANITIZE = [
    # (filename as sent in the part header (quoted-string content), expected stored name)
    ("plain-{t}.txt", "plain-{t}.txt"),
    ("../../etc/x{t}", "x{t}"),
    ("/etc/passwd{t}", "passwd{t}"),
    ("dir/sub/in-dir{t}.txt", "in-dir{t}.txt"),
    ("..\\\\..\\\\y{t}", "y{t}"),                  # escaped backslashes: ..\..\y
    ("C:\\\\Users\\\\me\\\\doc{t}.txt", "doc{t}.txt"),
    ("a b(1)+,@{t}.txt", "a b(1)+,@{t}.txt"),
    ("a<b>c|d*e?f:g;h#i&j=k{t}", "a_b_c_d_e_f_g_h_i_j_k{t}"),
    ("caf\u00e9-\u65e5\u672c{t}.txt", "caf\u00e9-\u65e5\u672c{t}.txt"),   # bytes >= 0x80 kept
    (".hidden{t}", "_hidden{t}"),
    ("../.hidden2{t}", "_hidden2{t}"),
    ("tab\there{t}", "tab_here{t}"),
    ("~user{t}", "_user{t}"),
    ("$dollar[x]{t}", "_dollar_x_{t}"),
]


@pytest.mark.parametrize("sent,expected", SANITIZE)
def test_sanitize_multipart_filename(srv, sent, expected):
    t = tok()
    sent = sent.format(t=t)
    expected = expected.format(t=t).encode("utf-8").decode("latin-1")
    data = ("content for %s" % t).encode()
    before = dir_names(srv.files_dir)
    r = post_multipart(srv.port, "/files/", [file_part(sent, data)])
    assert r.status == 201, r
    new = _new_raw(srv.files_dir, before)
    assert new == {expected}, new
    assert stored_name(r) == expected
    assert (srv.files_dir / os.fsdecode(expected.encode("latin-1"))).read_bytes() == data
    g = rawhttp.get(srv.port, r.headers["Location"])
    assert g.status == 200 and g.body == data, g
    assert_token_only_in(srv, t, srv.files_dir)


def _new_raw(path, before):
    """New entries as latin-1 strings of their raw bytes."""
    b_before = {os.fsencode(n) for n in before}
    return {n.decode("latin-1") for n in os.listdir(os.fsencode(path)) if n not in b_before}


def assert_token_only_in(srv, t, folder):
    """Every path under the server's temporary folder whose name holds the
    token must be directly inside `folder`."""
    folder = os.path.realpath(folder)
    bad = []
    for dirpath, dirnames, filenames in os.walk(srv.tmp):
        for n in dirnames + filenames:
            if t in n and os.path.realpath(dirpath) != folder:
                bad.append(os.path.join(dirpath, n))
            if t in n and n in dirnames:
                bad.append(os.path.join(dirpath, n) + " (a folder)")
    assert not bad, "written outside the store: %r" % bad
    assert not [n for n in os.listdir("/etc") if t in n]


@pytest.mark.parametrize("sent", [".", "..", "/", "x/", "../", "..\\\\", "\\\\"])
def test_sanitize_empty_name_generated(srv, sent):
    """A name that ends up empty (or . / ..) gets a generated upload- name."""
    data = ("generated %s" % tok()).encode()
    before = dir_names(srv.files_dir)
    r = post_multipart(srv.port, "/files/", [file_part(sent, data)])
    assert r.status == 201, r
    new = new_entries(srv.files_dir, before)
    assert len(new) == 1, new
    name = new.pop()
    # "." and ".." may also end up as "_" / "_." by the leading-dot rule
    assert name.startswith("upload-") or (sent in (".", "..") and name in ("_", "_.")), name
    assert stored_name(r) == name
    assert (srv.files_dir / name).read_bytes() == data
    assert not (srv.root / "etc" / name).exists()


def test_multipart_empty_filename_is_no_file(srv):
    """filename="" is what a browser sends for a file input left empty: no
    file; with another file part only that one is stored."""
    t = tok()
    before = dir_names(srv.files_dir)
    r = post_multipart(srv.port, "/files/", [file_part("", b"")])
    assert r.status == 400, r
    name = "after-empty-%s.txt" % t
    r = post_multipart(srv.port, "/files/", [file_part("", b"", name="a"),
                                             file_part(name, b"real", name="b")])
    assert r.status == 201, r
    assert r.headers.get("Location") == "/files/" + name
    assert new_entries(srv.files_dir, before) == {name}


def test_sanitize_unescaped_backslashes_stay_inside(srv):
    t = tok()
    raw = b'form-data; name="file"; filename="..\\..\\z' + t.encode() + b'"'
    body = multipart([{"name": "file", "raw_disposition": raw, "data": b"zz"}], "bb" + t)
    before = dir_names(srv.files_dir)
    r = httpbody.request_with_body(srv.port, "POST", "/files/", body, [
        ("Content-Type", "multipart/form-data; boundary=bb" + t)])
    assert r.status == 201, r
    new = new_entries(srv.files_dir, before)
    assert len(new) == 1 and not new.pop().startswith("."), new
    assert_token_only_in(srv, t, srv.files_dir)


def test_multipart_files_same_field_name(srv):
    """Three files and the names all differ: each stored once, Location of
    the first even when a plain field comes first."""
    t = tok()
    names = ["dup1-%s" % t, "dup2-%s" % t, "dup3-%s" % t]
    parts = [field_part("x", "1")] + [file_part(n, n.encode() * 3, name="files[]") for n in names]
    r = post_multipart(srv.port, "/files/", parts)
    assert r.status == 201, r
    assert r.headers.get("Location") == "/files/" + names[0]
    for n in names:
        assert (srv.files_dir / n).read_bytes() == n.encode() * 3


# ---------------------------------------------------------------------------
# raw POST bodies


@pytest.mark.parametrize("coding", ["length", "chunked"])
@pytest.mark.parametrize("ctype", [None, "application/octet-stream", "text/plain"])
def test_post_raw_body_generated_name(srv, coding, ctype):
    data = os.urandom(100000) + b"\r\n--boundary--\r\n"
    before = dir_names(srv.files_dir)
    headers = [("Content-Type", ctype)] if ctype else []
    r = httpbody.request_with_body(srv.port, "POST", "/files/", data, headers, coding=coding)
    assert r.status == 201, r
    name = stored_name(r)
    assert name.startswith("upload-"), name
    assert new_entries(srv.files_dir, before) == {name}
    assert file_sha(srv.files_dir / name) == sha(data)
    g = rawhttp.get(srv.port, r.headers["Location"])
    assert g.status == 200 and g.body == data


def test_post_raw_to_a_file_uri_generated_name(srv):
    """POST ignores the URI's last segment: the name is always generated."""
    t = tok()
    r = httpbody.request_with_body(srv.port, "POST", "/files/wanted-%s.txt" % t, b"raw")
    assert r.status == 201, r
    name = stored_name(r)
    assert name.startswith("upload-"), name
    assert (srv.files_dir / name).read_bytes() == b"raw"
    assert not (srv.files_dir / ("wanted-%s.txt" % t)).exists()


def test_post_raw_unique_names(srv):
    names = set()
    for i in range(5):
        r = httpbody.request_with_body(srv.port, "POST", "/files/", b"same body")
        assert r.status == 201, r
        names.add(stored_name(r))
    assert len(names) == 5, names
    for n in names:
        assert (srv.files_dir / n).read_bytes() == b"same body"


def test_post_raw_empty_body(srv):
    r = httpbody.request_with_body(srv.port, "POST", "/files/", b"")
    assert r.status == 201, r
    name = stored_name(r)
    assert name.startswith("upload-")
    assert (srv.files_dir / name).read_bytes() == b""


def test_post_without_store_or_cgi_405(srv):
    for target in ("/static/x.txt", "/readme.txt", "/static/"):
        r = httpbody.request_with_body(srv.port, "POST", target, b"hello")
        assert r.status == 405, (target, r)
        assert "Allow" in r.headers
    assert not (srv.root / "static").exists() or not os.listdir(srv.root / "static")


# ---------------------------------------------------------------------------
# PUT


@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_put_new_then_replace(srv, coding):
    t = tok()
    name = "put-%s.bin" % t
    data1 = os.urandom(70000)
    r = httpbody.request_with_body(srv.port, "PUT", "/files/" + name, data1, coding=coding)
    assert r.status == 201, r
    assert r.headers.get("Location") == "/files/" + name
    assert (srv.files_dir / name).read_bytes() == data1
    data2 = b"replacement\r\n" * 10
    r = httpbody.request_with_body(srv.port, "PUT", "/files/" + name, data2, coding=coding)
    assert r.status == 204, r
    assert r.body == b""
    assert "Transfer-Encoding" not in r.headers
    assert (srv.files_dir / name).read_bytes() == data2
    assert wait_for(lambda: not no_temp(srv.files_dir), 1.0), no_temp(srv.files_dir)
    g = rawhttp.get(srv.port, "/files/" + name)
    assert g.status == 200 and g.body == data2


def test_put_empty_body(srv):
    name = "empty-put-%s" % tok()
    r = httpbody.request_with_body(srv.port, "PUT", "/files/" + name, b"")
    assert r.status == 201, r
    assert (srv.files_dir / name).read_bytes() == b""


def test_put_replace_keeps_connection(srv):
    name = "ka-put-%s" % tok()
    req = lambda body: rawhttp.build("PUT", "/files/" + name,
                                     [("Content-Length", str(len(body)))], body)
    with rawhttp.Conn(srv.port) as c:
        c.send(req(b"one") + req(b"two") + rawhttp.build("GET", "/files/" + name))
        a, b, g = c.read_responses(3)
    assert (a.status, b.status, g.status) == (201, 204, 200), (a, b, g)
    assert g.body == b"two"


@pytest.mark.parametrize("target", ["/files/", "/files/sub/", "/files/x/"])
def test_put_trailing_slash_409(srv, target):
    before = dir_names(srv.files_dir)
    r = httpbody.request_with_body(srv.port, "PUT", target, b"data")
    assert r.status == 409, r
    assert_nothing_new(srv.files_dir, before, 0.3)


@pytest.mark.parametrize("target,expected", [
    ("/files/a%20b{t}.txt", "a b{t}.txt"),
    ("/files/we%3Bird*{t}", "we_ird_{t}"),
    ("/files/.hid{t}", "_hid{t}"),
    ("/files/a%5Cb{t}", "b{t}"),
    ("/files/caf%C3%A9{t}", "caf\u00e9{t}"),
    ("/files/nested/deeper/n{t}.txt", "n{t}.txt"),
])
def test_put_name_decoded_and_sanitized(srv, target, expected):
    t = tok()
    target = target.format(t=t)
    expected = expected.format(t=t)
    data = b"put " + t.encode()
    before = dir_names(srv.files_dir)
    r = httpbody.request_with_body(srv.port, "PUT", target, data)
    assert r.status == 201, r
    assert new_entries(srv.files_dir, before) == {expected}
    assert (srv.files_dir / expected).read_bytes() == data
    assert stored_name(r) == expected.encode("utf-8").decode("latin-1") or \
        unquote(r.headers["Location"][len("/files/"):]) == expected
    assert_token_only_in(srv, t, srv.files_dir)


@pytest.mark.parametrize("target,status", [
    ("/files/../../x{t}", 400),
    ("/files/%2e%2e/%2e%2e/x{t}", 400),
    ("/files/..%2fx{t}", 400),
    ("/files/%2fx{t}", 400),
    ("/files/x{t}%00.txt", 400),
    ("/files/%zz{t}", 400),
    ("/../files/x{t}", 400),
])
def test_put_traversal_400(srv, target, status):
    t = tok()
    before = dir_names(srv.files_dir)
    r = httpbody.request_with_body(srv.port, "PUT", target.format(t=t), b"evil")
    assert r.status == status, r
    assert_nothing_new(srv.files_dir, before, 0.2)
    assert_token_only_in(srv, t, srv.files_dir)


def test_put_dotdot_inside_root_not_in_store(srv):
    """/files/../x.txt is /x.txt: location / where PUT is not allowed."""
    t = tok()
    r = httpbody.request_with_body(srv.port, "PUT", "/files/../x%s.txt" % t, b"evil")
    assert r.status == 405, r
    assert_token_only_in(srv, t, srv.files_dir)


# ---------------------------------------------------------------------------
# 411, 413, 100-continue


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_no_length_411(srv, method):
    r = rawhttp.get(srv.port, "/files/nolen-%s" % tok(), method=method)
    assert r.status == 411, r


@pytest.mark.parametrize("method,target", [("POST", "/lim/"), ("PUT", "/lim/big.bin")])
def test_413_content_length_before_body(srv, method, target):
    before = dir_names(srv.lim_dir)
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build(method, target, [("Content-Length", "5000"),
                                              ("Content-Type", "application/octet-stream")]))
        r = c.read_response(timeout=2)
    assert r.status == 413, r
    assert_nothing_new(srv.lim_dir, before)


@pytest.mark.parametrize("kind", ["raw", "put", "multipart", "multipart-second"])
def test_413_chunked_as_soon_as_exceeded(srv, kind):
    before = dir_names(srv.lim_dir)
    boundary = "lim" + tok()
    if kind.startswith("multipart"):
        target = "/lim/"
        headers = [("Content-Type", "multipart/form-data; boundary=" + boundary)]
        if kind == "multipart":
            body = multipart([file_part("limited.bin", b"L" * 5000)], boundary)
        else:   # a first, complete file; the limit is hit in the second
            body = multipart([file_part("first.bin", b"F" * 300),
                              file_part("limited.bin", b"L" * 5000)], boundary)
    else:
        target = "/lim/" if kind == "raw" else "/lim/limited-put.bin"
        headers = []
        body = b"L" * 5000
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("PUT" if kind == "put" else "POST", target,
                             headers + [("Transfer-Encoding", "chunked")]))
        # 1.5 KiB in three chunks, over the 1 KiB limit; the body goes on
        # (the last chunk is never sent)
        c.send(httpbody.chunked(body[:1536], sizes=[512])[:-5])
        r = c.read_response(timeout=2)
    assert r.status == 413, r
    assert_nothing_new(srv.lim_dir, before)


def test_413_with_expect_no_100(srv):
    with rawhttp.Conn(srv.port, timeout=3) as c:
        c.send(rawhttp.build("PUT", "/lim/e.bin", [("Content-Length", "5000"),
                                                   ("Expect", "100-continue")]))
        r = c.read_response(timeout=2)
    assert r.status == 413, r


def test_within_limit_ok(srv):
    data = os.urandom(1024)
    r = httpbody.request_with_body(srv.port, "PUT", "/lim/fits-%s.bin" % tok(), data)
    assert r.status == 201, r
    name = stored_name(r, "/lim/")
    assert (srv.lim_dir / name).read_bytes() == data
    os.unlink(srv.lim_dir / name)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_expect_100_continue(srv, method):
    t = tok()
    data = os.urandom(50000)
    target = "/files/" if method == "POST" else "/files/expect-%s.bin" % t
    with rawhttp.Conn(srv.port, timeout=5) as c:
        c.send(rawhttp.build(method, target, [("Content-Length", str(len(data))),
                                              ("Expect", "100-continue")]))
        cont = c.read_response(timeout=2)
        assert cont.status == 100, cont
        c.send(data)
        interim, r = c.read_final()
    assert r.status == 201, r
    name = stored_name(r)
    assert (srv.files_dir / name).read_bytes() == data


def test_expect_100_continue_multipart(srv):
    t = tok()
    name = "exp-mp-%s.bin" % t
    boundary = "e" + t
    body = multipart([file_part(name, b"expect me\r\n")], boundary)
    with rawhttp.Conn(srv.port, timeout=5) as c:
        c.send(rawhttp.build("POST", "/files/", [
            ("Content-Type", "multipart/form-data; boundary=" + boundary),
            ("Content-Length", str(len(body))), ("Expect", "100-continue")]))
        cont = c.read_response(timeout=2)
        assert cont.status == 100, cont
        c.send(body)
        r = c.read_final()[1]
    assert r.status == 201, r
    assert (srv.files_dir / name).read_bytes() == b"expect me\r\n"


# ---------------------------------------------------------------------------
# partial files: temporary names, disconnects


def test_no_name_until_complete(srv):
    """A file being uploaded has no name in the store (O_TMPFILE): nobody
    can list or read it until the whole body is there."""
    t = tok()
    name = "visible-%s.bin" % t
    data = os.urandom(400000)
    before = dir_names(srv.drop_dir)
    with rawhttp.Conn(srv.port, timeout=5) as c:
        c.send(rawhttp.build("PUT", "/drop/" + name, [("Content-Length", str(len(data)))]))
        c.send(data[:200000])
        assert wait_for(lambda: has_open_file_under(srv.pid, srv.drop_dir), 2.0), \
            "the server has no upload file open while the body streams"
        assert new_entries(srv.drop_dir, before) == set(), "an upload in progress has a name"
        assert rawhttp.get(srv.port, "/drop/" + name).status == 404
        c.send(data[200000:])
        r = c.read_final()[1]
    assert r.status == 201, r
    assert (srv.drop_dir / name).read_bytes() == data
    assert new_entries(srv.drop_dir, before) == {name}
    assert not no_temp(srv.drop_dir)
    os.unlink(srv.drop_dir / name)


def _disconnect(srv, method, target, headers, first, abort):
    before = dir_names(srv.drop_dir)
    c = rawhttp.Conn(srv.port, timeout=5)
    try:
        c.send(rawhttp.build(method, target, headers))
        c.send(first)
        # give the server time to open its file
        wait_for(lambda: has_open_file_under(srv.pid, srv.drop_dir), 1.0)
    finally:
        c.abort() if abort else c.close()
    assert_nothing_new(srv.drop_dir, before, 2.0)
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200


@pytest.mark.parametrize("abort", [False, True], ids=["close", "reset"])
@pytest.mark.parametrize("kind", ["put", "post-raw", "multipart", "put-chunked",
                                  "multipart-chunked"])
def test_disconnect_mid_upload_leaves_nothing(srv, kind, abort):
    t = tok()
    boundary = "d" + t
    data = os.urandom(300000)
    if kind.startswith("multipart"):
        body = multipart([file_part("gone-%s.bin" % t, data)], boundary)
        headers = [("Content-Type", "multipart/form-data; boundary=" + boundary)]
        method, target = "POST", "/drop/"
    else:
        body = data
        headers = []
        method, target = ("POST", "/drop/") if kind == "post-raw" else ("PUT", "/drop/gone-%s" % t)
    if kind.endswith("chunked"):
        headers.append(("Transfer-Encoding", "chunked"))
        first = httpbody.chunked(body, sizes=[65536])[:150000]
    else:
        headers.append(("Content-Length", str(len(body))))
        first = body[:150000]
    _disconnect(srv, method, target, headers, first, abort)


@pytest.mark.parametrize("abort", [False, True], ids=["close", "reset"])
def test_disconnect_after_first_of_two_files(srv, abort):
    """The first file part is complete, the second is not: neither stays."""
    t = tok()
    boundary = "two" + t
    first_data = os.urandom(100000)
    body = multipart([file_part("first-%s.bin" % t, first_data),
                      file_part("second-%s.bin" % t, os.urandom(200000))], boundary)
    cut = body.index(b"second-") + 50000
    _disconnect(srv, "POST", "/drop/", [
        ("Content-Type", "multipart/form-data; boundary=" + boundary),
        ("Content-Length", str(len(body)))], body[:cut], abort)


def test_replace_interrupted_keeps_old_file(srv):
    """A PUT that replaces a file and is cut off leaves the old content."""
    t = tok()
    name = "keep-%s.txt" % t
    r = httpbody.request_with_body(srv.port, "PUT", "/drop/" + name, b"old content")
    assert r.status == 201, r
    before = dir_names(srv.drop_dir)
    c = rawhttp.Conn(srv.port)
    c.send(rawhttp.build("PUT", "/drop/" + name, [("Content-Length", "100000")]) + b"n" * 50000)
    time.sleep(0.2)
    c.abort()
    assert_nothing_new(srv.drop_dir, before)
    assert (srv.drop_dir / name).read_bytes() == b"old content"
    os.unlink(srv.drop_dir / name)


# ---------------------------------------------------------------------------
# memory


def test_multipart_128mib_chunked_memory(srv):
    t = tok()
    name = "mp-big-%s.bin" % t
    boundary = "----big" + t
    size = 128 * MiB
    block = os.urandom(MiB)
    head = (b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"f\"; "
            b"filename=\"" + name.encode() + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--" + boundary.encode() + b"--\r\n"
    hasher = hashlib.sha256()

    def blocks():
        yield head
        for b in httpbody.counted_blocks(size, block):
            hasher.update(b)
            yield b
        yield tail

    before = vm_hwm(srv.pid)
    try:
        with rawhttp.Conn(srv.port, timeout=30) as c:
            c.send(rawhttp.build("POST", "/files/", [
                ("Content-Type", "multipart/form-data; boundary=" + boundary),
                ("Transfer-Encoding", "chunked")]))
            httpbody.send_stream(c, blocks(), chunked_coding=True)
            r = c.read_final(timeout=30)[1]
        after = vm_hwm(srv.pid)
        assert r.status == 201, r
        path = srv.files_dir / name
        assert path.stat().st_size == size
        h2 = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(4 * MiB), b""):
                h2.update(b)
        assert h2.hexdigest() == hasher.hexdigest()
        assert after - before <= HWM_SLACK, "VmHWM grew by %.1f MiB" % ((after - before) / MiB)
    finally:
        try:
            os.unlink(srv.files_dir / name)
        except OSError:
            pass


def test_upload_1gib_peak_memory(webserv):
    """On a server of its own, so nothing earlier has raised its peak."""
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location /big/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/big;
        client_max_body_size 0;
    }
}
""", setup=lambda s: (s.root / "big").mkdir(parents=True, exist_ok=True))
    size = 1 << 30
    name = "huge-%s.bin" % tok()
    block = os.urandom(MiB)
    path = srv.root / "big" / name
    # a small upload first, so buffers the server keeps for good exist
    r = httpbody.request_with_body(srv.port, "PUT", "/big/warm.bin", os.urandom(300000))
    assert r.status in (201, 204), r
    before = vm_hwm(srv.pid)
    t0 = time.monotonic()
    try:
        with rawhttp.Conn(srv.port, timeout=40) as c:
            c.send(rawhttp.build("PUT", "/big/" + name, [("Content-Length", str(size))]))
            try:
                total, crc = httpbody.send_stream(c, httpbody.counted_blocks(size, block))
            except OSError as e:
                try:
                    early = c.read_response(timeout=1)
                except AssertionError as e2:
                    early = e2
                raise AssertionError("send failed (%s); response: %r" % (e, early))
            r = c.read_final(timeout=40)[1]
        after = vm_hwm(srv.pid)
        elapsed = time.monotonic() - t0
        assert r.status == 201, r
        assert total == size
        assert path.stat().st_size == size
        assert httpbody.file_crc(path) == (size, crc)
        assert after - before <= HWM_SLACK, "VmHWM grew by %.1f MiB (%.1f s)" % (
            (after - before) / MiB, elapsed)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def _odd_multipart_bodies():
    b = "odd"
    long_name = "n" * 3000 + ".txt"
    yield "long-filename", b, multipart([file_part(long_name, b"x")], b)
    yield "name-250", b, multipart([file_part("m" * 250 + ".txt", b"x")], b)
    yield "huge-part-head", b, (b"--odd\r\nContent-Disposition: form-data; name=\"f\"; filename=\"h\"\r\n"
                                + b"X-Pad: " + b"p" * 20000 + b"\r\n\r\ndata\r\n--odd--\r\n")
    yield "no-disposition", b, b"--odd\r\nContent-Type: text/plain\r\n\r\ndata\r\n--odd--\r\n"
    yield "garbage", b, b"this is not multipart at all\r\n"
    yield "only-close", b, b"--odd--\r\n"
    yield "empty", b, b""
    yield "preamble-epilogue", b, (b"preamble\r\n" + multipart([file_part("pe.txt", b"pe")], b) +
                                   b"epilogue")
    yield "unterminated-quote", b, (b"--odd\r\nContent-Disposition: form-data; name=\"f\"; "
                                    b"filename=\"abc\r\n\r\ndata\r\n--odd--\r\n")
    yield "100-files", b, multipart([file_part("many%d.txt" % i, b"m") for i in range(100)], b)
    yield "long-boundary", "L" * 71, multipart([file_part("lb.txt", b"x")], "L" * 71)


@pytest.mark.parametrize("case", [c[0] for c in _odd_multipart_bodies()])
def test_odd_multipart_no_crash(srv, case):
    """Odd multipart input: a clear status (201 or 4xx/5xx, never a hang or
    a crash), nothing half-written left behind, the server still serves."""
    _, boundary, body = [c for c in _odd_multipart_bodies() if c[0] == case][0]
    before = dir_names(srv.drop_dir)
    r = httpbody.request_with_body(srv.port, "POST", "/drop/", body, [
        ("Content-Type", "multipart/form-data; boundary=" + boundary)])
    assert r.status == 201 or 400 <= r.status < 600, r
    assert wait_for(lambda: not no_temp(srv.drop_dir), 2.0), no_temp(srv.drop_dir)
    if r.status != 201:
        assert_nothing_new(srv.drop_dir, before)
    for n in new_entries(srv.drop_dir, before):
        os.unlink(srv.drop_dir / n)
    assert rawhttp.get(srv.port, "/readme.txt").status == 200
