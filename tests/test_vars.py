"""Variables (SPEC "Variables"): compiled when the configuration loads,
evaluated per request; used by `return` (URL and text). Also the HTTPS
demo configuration (conf/https.conf) with `make cert`'s certificate."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import rawhttp
from conftest import BIN, REPO, basic_conf
from test_cli import assert_one_error_line, run, write_conf

ALL = ("$scheme|$https|$request_method|$uri|$args|$query_string|$arg_a|$arg_B|$is_args|"
       "$http_x_test|$cookie_sid|$server_name|$server_port|$server_protocol|${remote_addr}|"
       "$content_length|$1|$upstream_addr|$document_root")

VARS_CONF = basic_conf("""
    server_name Example.test;
    location / {
        return 301 https://$host$request_uri;
    }
    location = /v {
        return 200 "%s";
    }
    location = /id {
        return 200 "$request_id";
    }
    location = /tls {
        return 200 "$ssl_protocol|$ssl_client_verify|$https";
    }
""" % ALL)


@pytest.fixture(scope="module")
def srv(module_webserv):
    return module_webserv(VARS_CONF)


def test_redirect_to_https_with_host_and_request_uri(srv):
    r = rawhttp.get(srv.port, "/a%20b/c?x=1&y=2", host="WWW.Example.TEST:8080")
    assert r.status == 301, r
    # $host: lower case, no port; $request_uri: the target as sent
    assert r.headers["Location"] == "https://www.example.test/a%20b/c?x=1&y=2"


def test_redirect_without_host_uses_server_name(srv):
    r = rawhttp.request(srv.port, b"GET /p HTTP/1.0\r\n\r\n")
    assert r.status == 301, r
    assert r.headers["Location"] == "https://example.test/p"


def test_each_variable_in_a_return_text(srv):
    r = rawhttp.get(srv.port, "/v?a=AA&b=2", headers=[("X-Test", "hi there"),
                                                     ("Cookie", "foo=1; sid=S1"),
                                                     ("Content-Length", "0")])
    assert r.status == 200, r
    want = ["http", "", "GET", "/v", "a=AA&b=2", "a=AA&b=2", "AA", "2", "?", "hi there", "S1",
            "example.test", str(srv.port), "HTTP/1.1", "127.0.0.1", "0", "", "", str(srv.root)]
    assert r.body.decode().split("|") == want
    assert int(r.headers["Content-Length"]) == len(r.body)


def test_absent_values_are_empty(srv):
    r = rawhttp.get(srv.port, "/v")
    parts = r.body.decode().split("|")
    assert parts[4] == "" and parts[6] == "" and parts[8] == ""  # $args, $arg_a, $is_args
    assert parts[9] == "" and parts[10] == ""                    # $http_x_test, $cookie_sid


def test_request_id_is_32_hex_and_unique(srv):
    ids = {rawhttp.get(srv.port, "/id").body.decode() for _ in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids


def test_tls_variables_empty_over_plain_http(srv):
    r = rawhttp.get(srv.port, "/tls")
    assert r.body == b"||"


@pytest.mark.parametrize("text, why", [
    ("$nope", 'unknown variable "$nope"'),
    ("a ${host", "invalid variable name"),
    ("cost: $ 5", "invalid variable name"),
])
def test_bad_variables_are_errors_with_their_line(tmp_path, text, why):
    path, _ = write_conf(tmp_path, "server {\n    listen 127.0.0.1:@PORT@;\n    root @ROOT@;\n"
                                   "    return 200 \"%s\";\n}\n" % text)
    r = run(["-t", str(path)])
    assert r.returncode == 1
    assert_one_error_line(r.stderr, path, 4)
    assert why in r.stderr.decode()


def test_https_demo_configuration(tmp_path):
    """conf/https.conf loads once `make cert` made its certificate (here
    into a copy of the tree's layout: conf/, certs/, www/)."""
    (tmp_path / "conf").mkdir()
    shutil.copy(REPO / "conf" / "https.conf", tmp_path / "conf" / "https.conf")
    os.symlink(REPO / "www", tmp_path / "www")
    r = run(["-t", str(tmp_path / "conf" / "https.conf")])
    assert r.returncode == 1 and b"localhost.pem" in r.stderr, r.stderr  # no certificate yet
    mk = subprocess.run([str(REPO / "scripts" / "make-cert.sh"), str(tmp_path / "certs")],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert mk.returncode == 0, mk.stderr
    for name in ("ca.pem", "localhost.pem", "localhost.key"):
        assert (tmp_path / "certs" / name).is_file()
    assert not (tmp_path / "certs" / "ca.srl").exists()
    r = run(["-t", str(tmp_path / "conf" / "https.conf")])
    assert r.returncode == 0, r.stderr
    assert b"configuration ok" in r.stderr
