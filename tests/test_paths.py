"""URI decoding and normalisation; nothing outside root can be read."""

import pytest

import rawhttp
from conftest import write_file

SECRET = b"TOPSECRET-do-not-serve\n"


@pytest.fixture(scope="module")
def srv(module_webserv):
    s = module_webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
    autoindex on;
}
""")
    # a secret right next to the root, and one two levels up
    write_file(s.tmp / "secret.txt", SECRET)
    write_file(s.tmp / "www-secret" / "secret.txt", SECRET)
    return s


def test_percent_decoding(srv):
    r = rawhttp.get(srv.port, "/hello%20world.txt")
    assert r.status == 200
    assert r.body == b"hello with a space\n"


def test_percent_decoding_letters(srv):
    r = rawhttp.get(srv.port, "/%61/%63.txt")
    assert r.status == 200
    assert r.body == b"this is a/c.txt\n"


def test_dot_segments(srv):
    r = rawhttp.get(srv.port, "/a/./b/../c.txt")
    assert r.status == 200
    assert r.body == b"this is a/c.txt\n"


def test_encoded_dot_segments_inside_root(srv):
    r = rawhttp.get(srv.port, "/a/%2e%2e/readme.txt")
    assert r.status == 200
    assert r.body == b"hello readme\n"


def test_double_slash(srv):
    r = rawhttp.get(srv.port, "//a//c.txt")
    assert r.status == 200
    assert r.body == b"this is a/c.txt\n"


def test_query_not_decoded_as_path(srv):
    r = rawhttp.get(srv.port, "/readme.txt?q=%zz&n=%00&s=%2f")
    assert r.status == 200
    assert r.body == b"hello readme\n"


def test_file_with_trailing_slash_404(srv):
    r = rawhttp.get(srv.port, "/a/c.txt/")
    assert r.status == 404


BAD = [
    "/%zz",
    "/%4",
    "/a%0",
    "/a%00b",
    "/a%2fb",
    "/a%2Fb",
    "/../etc/passwd",
    "/a/../../x",
    "/..",
    "/%2e%2e/readme.txt",
    "/a/%2E%2E/%2e%2e/x",
]


@pytest.mark.parametrize("target", BAD)
def test_bad_path_400(srv, target):
    with rawhttp.Conn(srv.port) as c:
        c.send(rawhttp.build("GET", target))
        r = c.read_response()
        assert r.status == 400, (target, r)
        assert c.wait_closed(2), "connection not closed after 400"


TRAVERSALS = [
    "/../secret.txt",
    "/../../secret.txt",
    "/a/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/a/%2e%2e/%2e%2e/secret.txt",
    "//../secret.txt",
    "/..\\secret.txt",
    "/a/..\\..\\secret.txt",
    "/%2e%2e%5csecret.txt",
    "/...../secret.txt",
    "/./../secret.txt",
    "/a/b/../../../secret.txt",
    "/../www-secret/secret.txt",
    "/%252e%252e/secret.txt",
    "/..%00/secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/..;/secret.txt",
    "/../www/../secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_traversal(srv, target):
    try:
        r = rawhttp.get(srv.port, target)
    except rawhttp.Closed:
        return  # closing without an answer reveals nothing either
    assert r.status != 200 or SECRET not in r.body, (target, r)
    assert SECRET not in r.body
    assert r.status in (400, 403, 404), (target, r)


def test_no_traversal_absolute_form(srv):
    r = rawhttp.request(srv.port, b"GET http://localhost/../secret.txt HTTP/1.1\r\n"
                                  b"Host: localhost\r\n\r\n")
    assert SECRET not in r.body
    assert r.status == 400


def test_no_traversal_host_header(srv):
    """The Host header is not a path."""
    r = rawhttp.get(srv.port, "/secret.txt", host="..")
    assert SECRET not in r.body
    r = rawhttp.get(srv.port, "/secret.txt", host="../..")
    assert SECRET not in r.body

