"""The open-file cache never serves stale content: every change to a served
file (rewrite, rename over it, delete, new file) shows in the very next
request, for small files (held in memory) and large ones (descriptor)."""
import os
import pytest
import rawhttp


@pytest.fixture(scope="module")
def srv(module_webserv):
    return module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location /d/ { autoindex on; }
    location /up/ {
        allow_methods GET HEAD PUT DELETE;
        upload_store @ROOT@/up;
    }
}
""", setup=lambda s: (s.root / "up").mkdir())


@pytest.mark.parametrize("size", [10, 200 * 1024])
def test_rewrite_in_place(srv, size):
    p = srv.root / ("inplace-%d.bin" % size)
    for i in range(5):
        data = bytes([65 + i]) * size
        with open(p, "r+b" if p.exists() else "wb") as f:  # same inode, same size: only the bytes change
            f.write(data)
        r = rawhttp.get(srv.port, "/" + p.name)
        assert r.status == 200 and r.body == data, i


@pytest.mark.parametrize("size", [10, 200 * 1024])
def test_rename_over(srv, size):
    p = srv.root / ("renamed-%d.bin" % size)
    for i in range(5):
        data = os.urandom(size + i)
        tmp = srv.root / (".tmp-%d" % i)
        tmp.write_bytes(data)
        os.replace(tmp, p)
        r = rawhttp.get(srv.port, "/" + p.name)
        assert r.status == 200 and r.body == data, i


def test_delete_and_recreate(srv):
    p = srv.root / "comes-and-goes.txt"
    for i in range(3):
        p.write_bytes(b"here %d" % i)
        assert rawhttp.get(srv.port, "/comes-and-goes.txt").body == b"here %d" % i
        p.unlink()
        assert rawhttp.get(srv.port, "/comes-and-goes.txt").status == 404


def test_index_appears(srv):
    d = srv.root / "d" / "sub"
    d.mkdir(parents=True, exist_ok=True)
    r = rawhttp.get(srv.port, "/d/sub/")
    assert r.status == 200 and b"Index of /d/sub/" in r.body
    (d / "index.html").write_bytes(b"now an index")
    assert rawhttp.get(srv.port, "/d/sub/").body == b"now an index"
    (d / "index.html").unlink()
    assert b"Index of /d/sub/" in rawhttp.get(srv.port, "/d/sub/").body


def test_folder_replaced_by_file(srv):
    d = srv.root / "shape"
    d.mkdir(exist_ok=True)
    (d / "x.txt").write_bytes(b"in a folder")
    assert rawhttp.get(srv.port, "/shape/x.txt").body == b"in a folder"
    (d / "x.txt").unlink()
    d.rmdir()
    d.write_bytes(b"a file now")
    assert rawhttp.get(srv.port, "/shape").body == b"a file now"
    assert rawhttp.get(srv.port, "/shape/x.txt").status == 404


@pytest.mark.parametrize("size", [10, 200 * 1024])
def test_own_changes_seen_by_a_pipelined_request(srv, size):
    """The server's own PUT and DELETE, each with a GET pipelined behind it
    in the same packet: the GET sees the change (the cache must not wait
    for inotify's event in the next loop round)."""
    old, new = os.urandom(size), os.urandom(size)
    name = "/up/pipelined-%d.bin" % size
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("PUT", name, [("Content-Length", str(size))], old))
        assert c.read_response().status == 201
        c.send(rawhttp.build("GET", name))
        assert c.read_response().body == old  # now in the cache
        c.send(rawhttp.build("PUT", name, [("Content-Length", str(size))], new) + rawhttp.build("GET", name))
        put, get = c.read_responses(2)
        assert put.status == 204 and get.status == 200
        assert get.body == new
        c.send(rawhttp.build("DELETE", name) + rawhttp.build("GET", name))
        delete, get = c.read_responses(2)
        assert delete.status == 204 and get.status == 404, (delete, get)
