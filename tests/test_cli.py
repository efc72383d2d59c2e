"""Command line: -t, -c, -v, -h, and configuration errors with their line."""

import re
import subprocess
import textwrap
import time

import pytest

import rawhttp
from conftest import BIN, free_ports, make_site, port_accepts


def run(args, timeout=10):
    return subprocess.run([BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)


def write_conf(tmp_path, text, name="test.conf", final_newline=True):
    root = tmp_path / "www"
    make_site(root)
    port = free_ports(1)[0]
    text = (text.replace("@ROOT@", str(root)).replace("@TMP@", str(tmp_path))
                .replace("@PORT@", str(port)))
    if not final_newline:
        text = text.rstrip("\n")
    path = tmp_path / name
    path.write_text(text)
    return path, port


def assert_one_error_line(stderr, path, line):
    text = stderr.decode(errors="replace")
    lines = text.splitlines()
    assert len(lines) == 1, "expected exactly one line on stderr, got %r" % text
    m = re.fullmatch(r"webserv: (.+):(\d+): (\S.*)", lines[0])
    assert m, "stderr line not of the form 'webserv: FILE:LINE: message': %r" % lines[0]
    assert m.group(1) == str(path), "file in message %r, expected %r" % (m.group(1), str(path))
    assert int(m.group(2)) == line, "line %s in %r, expected %d" % (m.group(2), lines[0], line)


GOOD_CONF = """\
# a comment at the top
error_log @TMP@/error.log;   # trailing comment
worker_processes 1;
keepalive_timeout 65s;

server {
    listen 127.0.0.1:@PORT@;
    server_name example.com www.example.com;
    root @ROOT@;
    index index.html index.htm;
    autoindex off;
    client_max_body_size 1m;
    error_page 404 /errors/404.html;
    error_page 500 502 503 504 /errors/50x.html;
    access_log @TMP@/access.log;
    keepalive_timeout 65s;
    client_header_timeout 60s;
    client_body_timeout 60000ms;
    send_timeout 1m;

    location / {
        allow_methods GET HEAD;
    }
    location /old/ {
        return 301 /new/;
    }
    location /files/ {
        allow_methods GET HEAD POST PUT DELETE;
        autoindex on;
        upload_store @ROOT@/dir;
        client_max_body_size 100m;
    }
    location /cgi-bin/ {
        cgi .py  /usr/bin/python3;
        cgi .sh  '/bin/sh';
        cgi_timeout 30s;
    }
    location = /health {
        return 200 "ok";
    }
    location = /quoted {
        return 200 'semi; colon # not a comment { }';
    }
}
"""


def test_t_good_config(tmp_path):
    path, port = write_conf(tmp_path, GOOD_CONF)
    t0 = time.monotonic()
    r = run(["-t", str(path)])
    assert r.returncode == 0, r.stderr
    assert "configuration ok" in (r.stderr + r.stdout).decode()
    assert time.monotonic() - t0 < 5
    # -t serves nothing
    assert not port_accepts(port)


def test_t_with_c_option(tmp_path):
    path, _ = write_conf(tmp_path, GOOD_CONF)
    r = run(["-t", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    assert "configuration ok" in (r.stderr + r.stdout).decode()


def test_t_missing_file(tmp_path):
    r = run(["-t", str(tmp_path / "nope.conf")])
    assert r.returncode == 1
    assert r.stderr.decode().startswith("webserv: ")
    assert "configuration ok" not in (r.stderr + r.stdout).decode()


def test_missing_file_without_t(tmp_path):
    r = run([str(tmp_path / "nope.conf")])
    assert r.returncode == 1
    assert r.stderr.strip()


def test_t_root_folder_missing(tmp_path):
    path, _ = write_conf(tmp_path, textwrap.dedent("""\
        error_log @TMP@/error.log;
        server {
            listen 127.0.0.1:@PORT@;
            root @TMP@/does-not-exist;
        }
        """))
    r = run(["-t", str(path)])
    assert r.returncode == 1
    assert_one_error_line(r.stderr, path, 4)


def test_version():
    r = run(["-v"])
    assert r.returncode == 0
    out = (r.stdout + r.stderr).decode()
    assert "webserv" in out
    assert re.search(r"\d+\.\d+", out), out


def test_help():
    r = run(["-h"])
    assert r.returncode == 0
    out = (r.stdout + r.stderr).decode()
    assert "usage" in out.lower(), out
    assert "-t" in out and "-c" in out


def test_unknown_option():
    r = run(["-Z"])
    assert r.returncode != 0
    assert r.stderr.strip()


def test_c_option_serves(webserv):
    srv = webserv("""
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
""", args=["-c", "@CONF@"])
    r = rawhttp.get(srv.port, "/index.html")
    assert r.status == 200
    assert r.body == srv.files["index.html"]


# (name, config text): the line with the comment "#@" is where the error
# must be reported; without one, the last line (the file has no final newline).
BAD_CONFIGS = [
    ("unknown_directive", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    frobnicate on;  #@
}
"""),
    ("unknown_directive_main", """\
error_log @TMP@/error.log;
frobnicate;  #@
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""),
    ("unknown_directive_location", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location / {
        index index.html;
        bogus_thing 1;  #@
    }
}
"""),
    ("listen_at_main", """\
error_log @TMP@/error.log;
listen 127.0.0.1:@PORT@;  #@
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""),
    ("server_name_at_main", """\
error_log @TMP@/error.log;
server_name foo;  #@
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""),
    ("worker_processes_in_server", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    worker_processes 2;  #@
    root @ROOT@;
}
"""),
    ("listen_in_location", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location / {
        listen 127.0.0.1:@PORT@;  #@
    }
}
"""),
    ("location_at_main", """\
error_log @TMP@/error.log;
location / {  #@
    root @ROOT@;
}
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""),
    ("server_in_server", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    server {  #@
        listen 127.0.0.1:@PORT@;
    }
}
"""),
    ("root_no_args", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root;  #@
}
"""),
    ("autoindex_two_args", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    autoindex on off;  #@
}
"""),
    ("listen_no_args", """\
error_log @TMP@/error.log;
server {
    root @ROOT@;
    listen;  #@
}
"""),
    ("error_page_one_arg", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    error_page 404;  #@
}
"""),
    ("keepalive_two_args", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    keepalive_timeout 5s 10s;  #@
}
"""),
    ("worker_processes_not_number", """\
error_log @TMP@/error.log;
worker_processes abc;  #@
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
"""),
    ("body_size_bad_suffix", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    client_max_body_size 10x;  #@
}
"""),
    ("body_size_negative", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    client_max_body_size -5;  #@
}
"""),
    ("time_bad_suffix", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    keepalive_timeout 5y;  #@
}
"""),
    ("time_not_number", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location / {
        client_body_timeout soon;  #@
    }
}
"""),
    ("listen_port_too_big", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:99999;  #@
    root @ROOT@;
}
"""),
    ("listen_port_not_number", """\
error_log @TMP@/error.log;
server {
    root @ROOT@;
    listen 127.0.0.1:http;  #@
}
"""),
    ("autoindex_bad_value", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    autoindex maybe;  #@
}
"""),
    ("error_page_bad_code", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    error_page abc /errors/404.html;  #@
}
"""),
    ("return_bad_code", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location /x/ {
        return abc "text";  #@
    }
}
"""),
    ("unknown_method", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location / {
        allow_methods GET FOO;  #@
    }
}
"""),
    ("missing_semicolon_before_directive", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    autoindex on
    root @ROOT@;  #@
}
"""),
    ("missing_semicolon_before_brace", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location / {
        autoindex on
    }  #@
}
"""),
    ("extra_closing_brace", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
}
}  #@
"""),
    ("unclosed_server", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;"""),
    ("unclosed_location", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location / {
        index index.html;
    }
    location /x/ {
        autoindex on;
}"""),
    ("unterminated_quote", """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    location = /q {
        return 200 "never closed;
    }
}"""),
]


def _expected_line(text):
    for i, line in enumerate(text.split("\n")):
        if "#@" in line:
            return i + 1
    return text.count("\n") + 1


@pytest.mark.parametrize("name,text", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_t_bad_config(tmp_path, name, text):
    path, port = write_conf(tmp_path, text, final_newline="#@" in text)
    line = _expected_line(path.read_text())
    r = run(["-t", str(path)])
    assert r.returncode == 1, "exit %d, stderr %r" % (r.returncode, r.stderr)
    assert_one_error_line(r.stderr, path, line)


@pytest.mark.parametrize("name", ["unknown_directive", "missing_semicolon_before_directive",
                                  "unclosed_server", "unknown_method"])
def test_bad_config_does_not_start(tmp_path, name):
    _, text = [c for c in BAD_CONFIGS if c[0] == name][0]
    path, port = write_conf(tmp_path, text, final_newline="#@" in text)
    line = _expected_line(path.read_text())
    r = run([str(path)])
    assert r.returncode == 1
    assert_one_error_line(r.stderr, path, line)
    assert not port_accepts(port)


def test_listen_address_in_use(tmp_path):
    """Cannot bind one of two listen addresses: no half-working server."""
    import socket
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        bport = busy.getsockname()[1]
        path, port = write_conf(tmp_path, """\
error_log @TMP@/error.log;
server {
    listen 127.0.0.1:@PORT@;
    listen 127.0.0.1:%d;
    root @ROOT@;
}
""" % bport)
        proc = subprocess.Popen([BIN, str(path)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)
            pytest.fail("webserv kept running although it could not bind 127.0.0.1:%d" % bport)
        assert proc.returncode == 1, err
        assert err.strip()
    finally:
        busy.close()


def test_relative_paths_against_config_folder(webserv, tmp_path):
    """root and access_log relative to the configuration file's folder,
    whatever the working directory."""
    confdir = tmp_path / "etc"
    confdir.mkdir()
    make_site(tmp_path / "site")
    (confdir / "logs").mkdir()
    srv = webserv("""
error_log logs/error.log;
server {
    listen 127.0.0.1:@PORT@;
    root ../site;
    access_log logs/access.log;
}
""", tmp=confdir, site=False)
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200
    assert r.body == b"hello readme\n"
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not (confdir / "logs" / "access.log").exists():
        time.sleep(0.05)
    assert (confdir / "logs" / "access.log").exists()


def test_empty_config_file(tmp_path):
    """An empty file (an empty read buffer: once undefined behaviour) is a
    clear error, on the sanitizer build too."""
    path = tmp_path / "empty.conf"
    path.write_bytes(b"")
    r = run(["-t", str(path)])
    assert r.returncode == 1
    assert r.stderr.decode() == 'webserv: %s:1: no "server" block\n' % path
