"""Response headers (SPEC "Response headers and compression"): `add_header
NAME VALUE [always]` on 2xx/3xx responses (every status with `always`),
inherited as nginx does (a level that sets any replaces its parent's list),
values with variables; `expires TIME | epoch | max | off` with nginx's
Expires and Cache-Control. Over HTTP/1.1, and a subset over h2c."""

import email.utils
import time

import pytest

import rawhttp
from h2util import H2Client
from test_cli import assert_one_error_line, run, write_conf

CONF = """
server {
    listen 127.0.0.1:@PORT0@;
    listen 127.0.0.1:@PORT1@ http2;
    root @ROOT@;
    add_header X-Server-Level "server";
    add_header X-Always-Server "yes" always;
    location / { }
    location /dir/ {
        add_header X-Loc "dir $uri";
        add_header X-Frame-Options DENY always;
        add_header X-Empty "$http_x_nothing";
    }
    location = /moved { return 301 /dir/; }
    location = /teapot { return 418 "short and stout"; }
    location /a/ { expires 1h; }
    location /a/b/ { expires epoch; }
    location = /digits.txt { expires max; add_header Cache-Tag digits; }
    location = /style.css { expires -10m; }
    location = /readme.txt { expires off; }
}
"""


@pytest.fixture(scope="module")
def srv(module_webserv):
    return module_webserv(CONF, nports=2)


def all_values(r, name):
    return list(r.headers.get_all(name))


def test_server_list_on_200(srv):
    r = rawhttp.get(srv.port, "/index.html")
    assert r.status == 200, r
    assert all_values(r, "X-Server-Level") == ["server"]
    assert all_values(r, "X-Always-Server") == ["yes"]


def test_not_on_errors_unless_always(srv):
    r = rawhttp.get(srv.port, "/nothing-here")
    assert r.status == 404, r
    assert all_values(r, "X-Server-Level") == []
    assert all_values(r, "X-Always-Server") == ["yes"]


def test_location_list_replaces_the_servers(srv):
    r = rawhttp.get(srv.port, "/dir/x.txt")
    assert r.status == 200, r
    assert all_values(r, "X-Loc") == ["dir /dir/x.txt"]   # a variable in the value
    assert all_values(r, "X-Frame-Options") == ["DENY"]
    assert all_values(r, "X-Server-Level") == [] and all_values(r, "X-Always-Server") == []
    assert all_values(r, "X-Empty") == []                 # an empty value adds nothing


def test_always_on_an_error_of_that_location(srv):
    r = rawhttp.get(srv.port, "/dir/none.txt")
    assert r.status == 404, r
    assert all_values(r, "X-Frame-Options") == ["DENY"]
    assert all_values(r, "X-Loc") == []


def test_on_redirects_and_not_on_418(srv):
    r = rawhttp.get(srv.port, "/moved")
    assert r.status == 301, r
    assert all_values(r, "X-Server-Level") == ["server"]
    r = rawhttp.get(srv.port, "/teapot")
    assert r.status == 418, r
    assert all_values(r, "X-Server-Level") == [] and all_values(r, "X-Always-Server") == ["yes"]


def test_on_304(srv):
    r = rawhttp.get(srv.port, "/index.html")
    etag = r.headers["ETag"]
    r = rawhttp.get(srv.port, "/index.html", headers=[("If-None-Match", etag)])
    assert r.status == 304, r
    assert all_values(r, "X-Server-Level") == ["server"]


def http_time(value):
    return email.utils.parsedate_to_datetime(value).timestamp()


def test_expires_time(srv):
    before = time.time()
    r = rawhttp.get(srv.port, "/a/c.txt")
    assert r.status == 200, r
    assert all_values(r, "Cache-Control") == ["max-age=3600"]
    expires = http_time(r.headers["Expires"])
    assert before + 3600 - 2 <= expires <= time.time() + 3600 + 1, r.headers["Expires"]


def test_expires_epoch_inner_location(srv):
    r = rawhttp.get(srv.port, "/a/b/d.txt")
    assert r.status == 200, r
    assert r.headers["Expires"] == "Thu, 01 Jan 1970 00:00:01 GMT"
    assert all_values(r, "Cache-Control") == ["no-cache"]


def test_expires_max_with_the_locations_add_header(srv):
    r = rawhttp.get(srv.port, "/digits.txt")
    assert r.status == 200, r
    assert r.headers["Expires"] == "Thu, 31 Dec 2037 23:55:55 GMT"
    assert all_values(r, "Cache-Control") == ["max-age=315360000"]
    assert all_values(r, "Cache-Tag") == ["digits"]
    assert all_values(r, "X-Server-Level") == []


def test_expires_negative_and_off(srv):
    r = rawhttp.get(srv.port, "/style.css")
    assert all_values(r, "Cache-Control") == ["no-cache"]
    assert http_time(r.headers["Expires"]) < time.time() - 500
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.headers.get("Expires") is None and r.headers.get("Cache-Control") is None, r


def test_not_on_error_responses(srv):
    r = rawhttp.get(srv.port, "/a/none.txt")
    assert r.status == 404, r
    assert r.headers.get("Expires") is None and r.headers.get("Cache-Control") is None, r


def test_over_h2(srv):
    with H2Client(srv.ports[1]) as c:
        st = c.get("/dir/x.txt")
        assert st.status == 200, st
        assert list(st.headers.get_all("x-loc")) == ["dir /dir/x.txt"]
        st = c.get("/digits.txt")
        assert st.headers["cache-control"] == "max-age=315360000"
        assert st.headers["expires"] == "Thu, 31 Dec 2037 23:55:55 GMT"
        st = c.get("/nothing-here")
        assert st.status == 404 and list(st.headers.get_all("x-always-server")) == ["yes"], st


@pytest.mark.parametrize("line, text", [
    ('add_header "Bad Name" v;', "invalid header name"),
    ("add_header X v sometimes;", "invalid parameter"),
    ("add_header X;", "invalid number of arguments"),
    ("expires soon;", "invalid value"),
    ("expires 1h; expires 2h;", "duplicate"),
    ("add_header X $nosuchvariable;", "nosuchvariable"),
])
def test_check_errors(tmp_path, line, text):
    path, _ = write_conf(tmp_path, "server {\n    listen 127.0.0.1:@PORT@;\n    root @ROOT@;\n    %s\n}\n" % line)
    r = run(["-t", str(path)])
    assert r.returncode == 1, r
    assert_one_error_line(r.stderr, path, 4)
    assert text in r.stderr.decode(), r.stderr
