"""auth_basic (SPEC "Access control and limits"): htpasswd files made by
Apache's htpasswd (bcrypt, apr1, {SHA}, SHA-256/512 crypt) and Python's
crypt, plus {PLAIN}; a missing or wrong password is 401 with
WWW-Authenticate; nginx's inheritance and `off`; deny comes first (403);
REMOTE_USER / AUTH_TYPE for CGI and $remote_user; the file is read again
when it changes; -t errors. Over HTTP/1.1 and h2c."""

import base64
import subprocess
import time
import warnings

import pytest

import rawhttp
from h2util import H2Client
from test_cli import assert_one_error_line, run, write_conf

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # Python 3.11's, for the SHA-crypt entries htpasswd cannot make

ENV_CGI = b"""import os
print("Content-Type: text/plain")
print()
print("user=%s type=%s" % (os.environ.get("REMOTE_USER", "-"), os.environ.get("AUTH_TYPE", "-")))
"""

CONF = """
server {
    listen 127.0.0.1:@PORT0@;
    listen 127.0.0.1:@PORT1@ http2;
    root @ROOT@;
    auth_basic "Staff \\"only\\"";
    auth_basic_user_file @TMP@/htpasswd;
    add_header X-User "$remote_user" always;
    location / { }
    location /public/ { auth_basic off; }
    location /team/ { auth_basic "Team"; auth_basic_user_file @TMP@/team; }
    location /denied/ { deny all; }
    location /cgi/ { cgi .py /usr/bin/python3; }
    location = /plain401 { return 200 "never without a password"; }
}
"""

USERS = {  # name: (htpasswd flag or None, password)
    "bcrypt": ("-B", "b-secret"),
    "apr1": ("-m", "a-secret"),
    "sha1": ("-s", "s-secret"),
    "sha256": ("-2", "two-secret"),
    "sha512": ("-5", "five-secret"),
}


def htpasswd(path, user, flag, password, create=False):
    args = ["htpasswd", "-b"] + (["-c"] if create else []) + [flag, str(path), user, password]
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def make_files(srv):
    path = srv.tmp / "htpasswd"
    first = True
    for user, (flag, pw) in USERS.items():
        htpasswd(path, user, flag, pw, create=first)
        first = False
    with open(path, "a") as f:
        f.write("# a comment line\n\n")
        f.write("crypt6:%s\n" % crypt.crypt("six-secret", crypt.mksalt(crypt.METHOD_SHA512)))
        f.write("plain:{PLAIN}p-secret:a comment after the hash\n")
    htpasswd(srv.tmp / "team", "teammate", "-B", "t-secret", create=True)


@pytest.fixture(scope="module")
def srv(module_webserv):
    return module_webserv(CONF, nports=2, setup=make_files, extra_files={
        "public/open.txt": b"open\n", "team/t.txt": b"team\n", "denied/d.txt": b"d\n", "cgi/env.py": ENV_CGI})


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def get(srv, path, auth=None, extra=None):
    headers = dict(extra or {})
    if auth is not None:
        headers["Authorization"] = auth
    return rawhttp.get(srv.port, path, headers=headers)


ALL = dict({u: pw for u, (_, pw) in USERS.items()}, crypt6="six-secret", plain="p-secret")


@pytest.mark.parametrize("user", sorted(ALL))
def test_each_hash_kind_accepts_its_password(srv, user):
    r = get(srv, "/index.html", basic(user, ALL[user]))
    assert r.status == 200, r
    assert r.headers.get("X-User") == user


@pytest.mark.parametrize("user", sorted(ALL))
def test_each_hash_kind_refuses_a_wrong_password(srv, user):
    r = get(srv, "/index.html", basic(user, ALL[user] + "x"))
    assert r.status == 401, r
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Staff \\"only\\""', r


@pytest.mark.parametrize("auth", [
    None,                                  # no credentials
    basic("nobody", "b-secret"),           # an unknown user
    basic("bcrypt", ""),                   # an empty password
    "Bearer abc",                          # another scheme
    "Basic !!!notbase64",                  # not base64
    "Basic " + base64.b64encode(b"no-colon").decode(),
    basic("bcrypt", "b-secret")[:-2],      # cut
    basic("plain", "p-secret\x00"),        # a NUL after a right password
])
def test_refused(srv, auth):
    r = get(srv, "/index.html", auth)
    assert r.status == 401, r
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Staff \\"only\\""'
    assert b"401" in r.body


def test_password_with_colon_and_scheme_case(srv):
    r = get(srv, "/index.html", "basic " + base64.b64encode(b"plain:p-secret").decode())
    assert r.status == 200, r
    r = get(srv, "/index.html", basic("plain", "p:secret"))
    assert r.status == 401, r


def test_off_in_a_location(srv):
    r = get(srv, "/public/open.txt")
    assert r.status == 200 and r.body == b"open\n", r


def test_location_realm_and_file_replace_the_servers(srv):
    r = get(srv, "/team/t.txt", basic("bcrypt", "b-secret"))
    assert r.status == 401 and r.headers.get("WWW-Authenticate") == 'Basic realm="Team"', r
    r = get(srv, "/team/t.txt", basic("teammate", "t-secret"))
    assert r.status == 200 and r.body == b"team\n", r


def test_deny_answers_before_asking_for_a_password(srv):
    r = get(srv, "/denied/d.txt")
    assert r.status == 403, r
    assert r.headers.get("WWW-Authenticate") is None


def test_return_comes_before_auth_as_in_nginx(srv):
    r = get(srv, "/plain401")
    assert r.status == 200 and r.body == b"never without a password", r


def test_cgi_gets_remote_user_and_auth_type(srv):
    r = get(srv, "/cgi/env.py", basic("apr1", "a-secret"))
    assert r.status == 200, r
    assert r.body.strip() == b"user=apr1 type=Basic", r


def test_failures_are_logged_with_the_user(srv):
    get(srv, "/index.html", basic("sha1", "nope"))
    get(srv, "/index.html", basic("ghost", "nope"))
    log = srv.error_log.read_text()
    assert 'user "sha1": password mismatch' in log
    assert 'user "ghost": was not found' in log


def test_file_changes_apply_without_reload(srv):
    htpasswd(srv.tmp / "team", "newcomer", "-B", "n-secret")
    deadline = time.monotonic() + 10
    while True:  # the open-file cache sees the change by inotify (at most its revalidation time)
        r = get(srv, "/team/t.txt", basic("newcomer", "n-secret"))
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status == 200, r


def test_over_h2(srv):
    with H2Client(srv.ports[1]) as c:
        st = c.get("/index.html")
        assert st.status == 401, st
        assert st.headers["www-authenticate"] == 'Basic realm="Staff \\"only\\""'
        st = c.get("/index.html", headers=[("authorization", basic("sha512", "five-secret"))])
        assert st.status == 200, st
        assert st.headers["x-user"] == "sha512"


@pytest.mark.parametrize("lines, line, text", [
    ('auth_basic "x";', 3, "without \"auth_basic_user_file\""),
    ("auth_basic x; auth_basic_user_file @TMP@/missing;", 3, "auth_basic_user_file"),
    ("auth_basic x y;", 3, "invalid number of arguments"),
    ("auth_basic $nosuchvar; auth_basic_user_file @TMP@/test.conf;", 3, "nosuchvar"),
])
def test_check_errors(tmp_path, lines, line, text):
    path, _ = write_conf(tmp_path, "server {\n    listen 127.0.0.1:@PORT@;\n    %s\n    root @ROOT@;\n}\n" % lines)
    r = run(["-t", "-c", str(path)])
    assert r.returncode != 0
    assert_one_error_line(r.stderr, path, line)
    assert text in r.stderr.decode()
