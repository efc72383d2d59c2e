"""allow / deny (SPEC "Access control and limits"): ADDR, CIDR or `all`, in
order, first match wins, 403 otherwise (with the error page); a level that
has any rule replaces its parent's list; IPv4 and IPv6. Over HTTP/1.1 and
h2c."""

import socket

import pytest

import rawhttp
from h2util import H2Client
from test_cli import assert_one_error_line, run, write_conf


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


IPV6 = have_ipv6_loopback()

CONF = """
server {
    listen 127.0.0.1:@PORT0@;
    listen 127.0.0.1:@PORT1@ http2;
    %s
    root @ROOT@;
    deny 192.0.2.0/24;
    error_page 403 /readme.txt;
    location / { }
    location /dir/ { deny all; }
    location /a/ { allow 127.0.0.1; deny all; }
    location /a/b/ { deny 127.0.0.0/8; allow all; }
    location = /digits.txt { allow 10.0.0.0/8; deny all; }
    location = /style.css { allow 127.0.0.2/31; deny all; }
    location = /app.js { deny all; return 200 "returned"; }
    location = /img.png { allow ::1; deny all; }
    location = /file.zzunknown { deny ::1/128; allow 127.0.0.1/32; }
}
""" % ("listen [::1]:@PORT0@;" if IPV6 else "")


@pytest.fixture(scope="module")
def srv(module_webserv):
    return module_webserv(CONF, nports=2)


def get(srv, path, host="127.0.0.1"):
    """GET over IPv4, or over IPv6 with host "::1" (the same port on [::1])."""
    with rawhttp.Conn(srv.port, host=host) as c:
        c.send(rawhttp.build("GET", path))
        return c.read_final()[1]


@pytest.mark.parametrize("path, status", [
    ("/index.html", 200),            # the server's list: deny 192.0.2.0/24 only
    ("/dir/x.txt", 403),             # deny all
    ("/a/c.txt", 200),               # allow 127.0.0.1 first
    ("/a/b/d.txt", 403),             # the inner location's own list replaces /a/'s
    ("/digits.txt", 403),            # allow 10.0.0.0/8 does not match: deny all
    ("/style.css", 403),             # 127.0.0.2/31 is .2 and .3
    ("/app.js", 200),                # return comes before allow/deny, as in nginx
    ("/img.png", 403),               # an IPv6 rule never matches an IPv4 client
    ("/file.zzunknown", 200),         # nor an IPv6 deny
])
def test_rules_over_ipv4(srv, path, status):
    r = get(srv, path)
    assert r.status == status, r
    if status == 403:  # with the error page
        assert r.body == b"hello readme\n", r


def test_denied_is_logged(srv):
    get(srv, "/dir/x.txt")
    assert "access forbidden by rule" in srv.error_log.read_text()


@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("path, status", [
    ("/img.png", 200),               # allow ::1
    ("/file.zzunknown", 403),         # deny ::1/128
    ("/a/c.txt", 403),               # allow 127.0.0.1 does not match ::1: deny all
    ("/index.html", 200),
])
def test_rules_over_ipv6(srv, path, status):
    r = get(srv, path, "::1")
    assert r.status == status, r


def test_over_h2(srv):
    with H2Client(srv.ports[1]) as c:
        assert c.get("/dir/x.txt").status == 403
        assert c.get("/a/c.txt").status == 200


@pytest.mark.parametrize("line", ["allow 300.1.1.1;", "deny 10.0.0.0/33;", "allow ::1/129;", "deny localhost;",
                                  "allow 10.0.0.0/x;"])
def test_check_errors(tmp_path, line):
    path, _ = write_conf(tmp_path, "server {\n    listen 127.0.0.1:@PORT@;\n    root @ROOT@;\n    %s\n}\n" % line)
    r = run(["-t", str(path)])
    assert r.returncode == 1, r
    assert_one_error_line(r.stderr, path, 4)
