"""DELETE: 204 / 404 / 403 / 405, the upload store, and never a file
outside root or the store."""

import os
import uuid

import pytest

import httpbody
import rawhttp
from conftest import write_file


@pytest.fixture(scope="module")
def srv(module_webserv):
    def setup(s):
        (s.root / "files").mkdir(parents=True, exist_ok=True)
        (s.tmp / "store").mkdir(parents=True, exist_ok=True)
        (s.root / "up").mkdir(parents=True, exist_ok=True)

    return module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
    location / {
        allow_methods GET HEAD DELETE;
    }
    location /ro/ {
        allow_methods GET HEAD;
    }
    location /files/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/files;
    }
    location /up/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @TMP@/store;
    }
}
""", setup=setup)


def tok():
    return uuid.uuid4().hex[:10]


def delete(port, target, **kw):
    return rawhttp.get(port, target, method="DELETE", **kw)


def test_delete_existing_file_204(srv):
    t = tok()
    p = write_file(srv.root / ("del-%s.txt" % t), b"bye")
    r = delete(srv.port, "/del-%s.txt" % t)
    assert r.status == 204, r
    assert r.body == b""
    assert not p.exists()
    assert rawhttp.get(srv.port, "/del-%s.txt" % t).status == 404
    assert delete(srv.port, "/del-%s.txt" % t).status == 404


def test_delete_in_subfolder_and_encoded_name(srv):
    t = tok()
    p = write_file(srv.root / "a" / ("sp ace %s.txt" % t), b"x")
    r = delete(srv.port, "/a/sp%%20ace%%20%s.txt" % t)
    assert r.status == 204, r
    assert not p.exists()
    assert (srv.root / "a" / "c.txt").exists()


def test_delete_missing_404(srv):
    r = delete(srv.port, "/no-such-file-%s.txt" % tok())
    assert r.status == 404, r
    r = delete(srv.port, "/no-such-dir-%s/x.txt" % tok())
    assert r.status == 404, r


def test_delete_directory_403(srv):
    r = delete(srv.port, "/a/b/")
    assert r.status == 403, r
    assert (srv.root / "a" / "b" / "d.txt").exists()


def test_delete_directory_without_slash_refused(srv):
    r = delete(srv.port, "/a/b")
    assert r.status in (403, 409), r
    assert (srv.root / "a" / "b" / "d.txt").exists()


def test_delete_root_dir_refused(srv):
    r = delete(srv.port, "/")
    assert r.status == 403, r
    assert (srv.root / "index.html").exists()


def test_delete_not_allowed_405(srv):
    p = write_file(srv.root / "ro" / "keep.txt", b"keep")
    r = delete(srv.port, "/ro/keep.txt")
    assert r.status == 405, r
    assert "delete" not in r.header_tokens("Allow")
    assert "get" in r.header_tokens("Allow")
    assert p.exists()


def test_delete_keepalive_two_in_a_row(srv):
    t = tok()
    a = write_file(srv.root / ("ka1-%s" % t), b"1")
    b = write_file(srv.root / ("ka2-%s" % t), b"2")
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("DELETE", "/ka1-%s" % t) + rawhttp.build("DELETE", "/ka2-%s" % t) +
               rawhttp.build("GET", "/readme.txt"))
        r1, r2, r3 = c.read_responses(3)
    assert (r1.status, r2.status, r3.status) == (204, 204, 200)
    assert not a.exists() and not b.exists()


def test_delete_uploaded_file(srv):
    """PUT into the store, then DELETE of prefix + stored name removes it."""
    t = tok()
    name = "up-%s.bin" % t
    r = httpbody.request_with_body(srv.port, "PUT", "/files/" + name, b"uploaded")
    assert r.status == 201, r
    assert (srv.root / "files" / name).exists()
    r = delete(srv.port, r.headers["Location"])
    assert r.status == 204, r
    assert not (srv.root / "files" / name).exists()
    assert delete(srv.port, "/files/" + name).status == 404


def test_delete_from_store_outside_root(srv):
    """/up/ stores into @TMP@/store: DELETE /up/NAME removes store/NAME."""
    t = tok()
    p = write_file(srv.tmp / "store" / ("s-%s.txt" % t), b"in the store")
    r = delete(srv.port, "/up/s-%s.txt" % t)
    assert r.status == 204, r
    assert not p.exists()
    assert delete(srv.port, "/up/s-%s.txt" % t).status == 404


def test_delete_store_roundtrip_post(srv):
    r = httpbody.request_with_body(srv.port, "POST", "/up/", b"posted")
    assert r.status == 201, r
    loc = r.headers["Location"]
    assert loc.startswith("/up/upload-"), loc
    name = loc[len("/up/"):]
    assert (srv.tmp / "store" / name).read_bytes() == b"posted"
    r = delete(srv.port, loc)
    assert r.status == 204, r
    assert not (srv.tmp / "store" / name).exists()


@pytest.mark.parametrize("target", [
    "/../victim.txt",
    "/files/../../victim.txt",
    "/files/%2e%2e/%2e%2e/victim.txt",
    "/files/..%2f..%2fvictim.txt",
    "/%2e%2e/victim.txt",
    "/up/../../victim.txt",
    "/up/..%2fvictim.txt",
    "/a/../../victim.txt",
    "/victim.txt%00",
])
def test_delete_traversal_400(srv, target):
    victim = write_file(srv.tmp / "victim.txt", b"do not delete")
    r = delete(srv.port, target)
    assert r.status == 400, r
    assert victim.read_bytes() == b"do not delete"


def test_delete_symlink_does_not_touch_target(srv):
    t = tok()
    target = write_file(srv.tmp / ("outside-%s.txt" % t), b"outside")
    link = srv.root / ("link-%s.txt" % t)
    os.symlink(target, link)
    r = delete(srv.port, "/link-%s.txt" % t)
    assert r.status in (204, 403, 404), r
    assert target.read_bytes() == b"outside"


def test_delete_with_body(srv):
    t = tok()
    p = write_file(srv.root / ("body-%s.txt" % t), b"x")
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("DELETE", "/body-%s.txt" % t, [("Content-Length", "5")], b"hello") +
               rawhttp.build("GET", "/readme.txt"))
        r1, r2 = c.read_responses(2)
    assert r1.status == 204, r1
    assert r2.status == 200 and r2.body == b"hello readme\n"
    assert not p.exists()
