#!/usr/bin/python3
"""webserv against nginx (and h2o), side by side, on 127.0.0.1 (issue 4, "Benchmark";
TLS workloads: issue 9).

Run from anywhere: `make bench`, or `/usr/bin/python3 bench/bench.py [options]`.
Python 3 standard library only.  See bench/README.md for what is measured.

For every workload, the servers are run alternately (webserv, nginx[, h2o],
webserv, nginx[, h2o], ...): each run starts a fresh server, warms it up,
samples its workers' CPU time, drives it with wrk, samples again, reads its
workers' memory, and stops it.  The table reports medians over the rounds;
the ratio columns are the medians of the per-round ratios webserv/nginx and
webserv/h2o.  h2o (Debian's 2.2.5) is optional: it takes part in the
workloads marked "h2o" when its binary is there (or can be installed).
The h2* workloads (HTTP/2 over TLS by ALPN, and h2c with prior knowledge) are
driven by h2load (Debian's nghttp2-client) instead of wrk.
"""

import argparse
import datetime
import errno
import json
import os
import random
import re
import resource
import select
import selectors
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT_DIR = os.path.join(HERE, "out")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# nginx's classic default page (nginx <= 1.20), 612 bytes.
SMALL_HTML = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
    body {
        width: 35em;
        margin: 0 auto;
        font-family: Tahoma, Verdana, Arial, sans-serif;
    }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
assert len(SMALL_HTML) == 612, len(SMALL_HTML)
MEDIUM_SIZE = 100 * 1024
LARGE_SIZE = 10 * 1024 * 1024
MIB_SIZE = 1024 * 1024            # 1m.bin: h2-large, and tls-1m (the same file over HTTP/1.1 + TLS)
CHECK_FILES = ("small.html", "medium.bin", "large.bin", "1m.bin")

# name, URI path, wrk connections, wrk threads, extra options:
#   close: wrk sends "Connection: close"; idle: N idle connections held during the load;
#   workers: worker processes (threads for h2o); tls: https:// with the bench's certificate;
#   resume: TLS session cache and tickets on (default) or off; h2o: h2o takes part too;
#   idle_only: no measured wrk load, only the memory of the idle connections, and the same
#   measured again over plain HTTP on a fresh server of the same kind (the TLS share);
#   h2: "h2" (TLS, ALPN h2) or "h2c" (cleartext, prior knowledge): the load is h2load with
#   `streams` concurrent streams per connection (-m), the servers listen with "http2";
#   group: the --only group (default: "tls" when tls, else "plain").
# tls-idle's N: 2,000 full TLS 1.3 handshakes take a few seconds per server on 2 cores.
# tls-1m is HTTP/1.1 over TLS (wrk) of h2-large's file: in the "h2" group, as its baseline.
WORKLOADS = [
    ("small-keepalive", "/small.html", 50, 1, {"h2o": True}),
    ("small-close", "/small.html", 50, 1, {"close": True}),
    ("medium-keepalive", "/medium.bin", 50, 1, {}),
    ("large", "/large.bin", 8, 1, {}),
    ("c1k", "/small.html", 1000, 2, {}),
    ("idle10k", "/small.html", 50, 1, {"idle": 10000}),
    ("workers", "/small.html", 50, 1, {"workers": 2}),
    ("tls-small-keepalive", "/small.html", 50, 1, {"tls": True, "h2o": True}),
    ("tls-handshake", "/small.html", 50, 1, {"tls": True, "close": True, "h2o": True}),
    ("tls-handshake-full", "/small.html", 50, 1, {"tls": True, "close": True, "resume": False, "h2o": True}),
    ("tls-large", "/large.bin", 8, 1, {"tls": True, "h2o": True}),
    ("tls-idle", "/small.html", 50, 1, {"tls": True, "idle": 2000, "idle_only": True, "h2o": True}),
    ("h2-small", "/small.html", 20, 1, {"h2": "h2", "streams": 16, "tls": True, "h2o": True, "group": "h2"}),
    ("h2c-small", "/small.html", 20, 1, {"h2": "h2c", "streams": 16, "h2o": True, "group": "h2"}),
    ("h2-large", "/1m.bin", 8, 1, {"h2": "h2", "streams": 1, "tls": True, "h2o": True, "group": "h2"}),
    ("tls-1m", "/1m.bin", 8, 1, {"tls": True, "h2o": True, "group": "h2"}),
]
WORKLOAD_NAMES = [w[0] for w in WORKLOADS]


def workload_group(opts):
    return opts.get("group") or ("tls" if opts.get("tls") else "plain")


GROUPS = {g: [w[0] for w in WORKLOADS if workload_group(w[4]) == g] for g in ("tls", "plain", "h2")}
# h2load offers OpenSSL's default TLS 1.3 order (its own default puts AES-128 first), so that
# the servers pick what they pick with wrk: TLS_AES_256_GCM_SHA384.
H2LOAD_TLS13_CIPHERS = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

SERVERS = ("webserv", "nginx", "h2o")
OTHERS = ("nginx", "h2o")      # the ratio columns: webserv / each of these
NGINX_RLIMIT_NOFILE = 40000  # lowered to our hard limit in main() when that cannot be exceeded

# metric key -> (label, format, lower is better)
METRICS = {
    "rps": ("requests/s", "{:.0f}", False),
    "mibps": ("MiB/s", "{:.1f}", False),
    "p50": ("p50 latency ms", "{:.3f}", True),
    "p99": ("p99 latency ms", "{:.3f}", True),
    "cpu_us": ("server CPU us/request", "{:.2f}", True),
    "hwm_kib": ("peak RSS KiB (VmHWM)", "{:.0f}", True),
    "rss_kib": ("RSS KiB after run (VmRSS)", "{:.0f}", True),
    "errors": ("wrk errors + non-2xx", "{:.0f}", True),
    "lat_mean": ("mean time for request ms (h2load)", "{:.3f}", True),
    "h2_errors": ("h2load failed (errors + non-2xx)", "{:.0f}", True),
    "idle_open": ("idle connections held", "{:.0f}", False),
    "rss_before_kib": ("RSS KiB before idle conns", "{:.0f}", True),
    "rss_with_kib": ("RSS KiB with idle conns", "{:.0f}", True),
    "idle_bytes": ("bytes per idle connection", "{:.0f}", True),
    "idle_kib": ("KiB per idle TLS connection", "{:.2f}", True),
    "idle_anon_kib": ("  of which private (RssAnon) KiB", "{:.2f}", True),
    "idle_shmem_kib": ("  of which shared (RssShmem) KiB", "{:.2f}", True),
    "plain_idle_kib": ("KiB per idle plain HTTP connection, same N", "{:.2f}", True),
    "tls_kib": ("TLS share: TLS - plain KiB", "{:.2f}", True),
    "open_cpu_us": ("server CPU us per connection opened", "{:.0f}", True),
}
NO_RATIO = {"errors", "h2_errors", "idle_open"}
H2_ROWS = ["rps", "mibps", "lat_mean", "cpu_us", "hwm_kib", "rss_kib", "h2_errors"]
ROWS = {
    "default": ["rps", "mibps", "p50", "p99", "cpu_us", "hwm_kib", "rss_kib", "errors"],
    "idle10k": ["idle_open", "rss_before_kib", "rss_with_kib", "idle_bytes",
                "rps", "p50", "p99", "cpu_us", "hwm_kib", "errors"],
    "tls-idle": ["idle_open", "rss_before_kib", "rss_with_kib", "idle_kib", "idle_anon_kib", "idle_shmem_kib",
                 "plain_idle_kib", "tls_kib", "open_cpu_us"],
    "h2-small": H2_ROWS,
    "h2c-small": H2_ROWS,
    "h2-large": H2_ROWS,
}

children = []          # every subprocess.Popen we started (servers, wrk, h2load, nghttp)
grandchildren = {}     # pid -> comm of server workers we saw (children of a master)


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(comm, ppid, utime+stime ticks, state) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, int(rest[1]), int(rest[11]) + int(rest[12]), rest[0]


def proc_children(pid):
    kids = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    found_file = False
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(x) for x in f.read().split()]
            found_file = True
        except OSError:
            pass
    if not found_file:  # kernel without CONFIG_PROC_CHILDREN: scan /proc
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = proc_stat(int(d))
                if st and st[1] == pid:
                    kids.append(int(d))
    return sorted(set(kids))


def proc_mem_kib(pid):
    """(VmHWM, VmRSS) in KiB."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return hwm, rss


def proc_rss_parts_kib(pid):
    """{"VmRSS", "RssAnon", "RssFile", "RssShmem"} in KiB (VmRSS is the sum of the other three)."""
    parts = dict.fromkeys(("VmRSS", "RssAnon", "RssFile", "RssShmem"), 0)
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k = line.split(":", 1)[0]
                if k in parts:
                    parts[k] = int(line.split()[1])
    except OSError:
        pass
    return parts


# ---------------------------------------------------------------- processes

def start_child(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    children.append(p)
    return p


def kill_pid(pid, expect_comm=None, wait=5.0):
    """SIGTERM, then SIGKILL after `wait` seconds, for a process that is not our child."""
    st = proc_stat(pid)
    if st is None or st[3] == "Z" or (expect_comm and st[0] != expect_comm):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        st = proc_stat(pid)
        if st is None or st[3] == "Z" or (expect_comm and st[0] != expect_comm):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_child(p, wait=5.0):
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                log(f"bench: process {p.pid} does not die")
        except ProcessLookupError:
            pass
    if p in children:
        children.remove(p)


def cleanup_all():
    for p in list(children):
        stop_child(p)
    for pid, comm in list(grandchildren.items()):
        kill_pid(pid, comm, wait=2.0)
        grandchildren.pop(pid, None)


def on_signal(signo, frame):
    raise KeyboardInterrupt(f"signal {signo}")


# ---------------------------------------------------------------- setup

def find_binary(name, extra=()):
    p = shutil.which(name)
    if p:
        return p
    for d in extra:
        c = os.path.join(d, name)
        if os.access(c, os.X_OK):
            return c
    return None


def ensure_tools(args):
    for opt in ("nginx", "wrk"):
        given = getattr(args, opt)
        if given and not os.access(given, os.X_OK):
            log(f"bench: --{opt} {given}: not an executable")
            sys.exit(1)
    nginx = args.nginx or find_binary("nginx", ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"))
    wrk = args.wrk or find_binary("wrk", ("/usr/local/bin",))
    missing = [pkg for pkg, path in (("nginx", nginx), ("wrk", wrk)) if not path]
    if missing:
        if os.geteuid() != 0:
            log(f"bench: missing {' and '.join(missing)}; as root, run: apt-get install -y {' '.join(missing)}\n"
                f"       (or run `make bench` as root, which installs them), or pass --nginx/--wrk PATH")
            sys.exit(1)
        if not shutil.which("apt-get"):
            log(f"bench: missing {' and '.join(missing)} and no apt-get to install them")
            sys.exit(1)
        install(missing)
        nginx = args.nginx or find_binary("nginx", ("/usr/sbin",))
        wrk = args.wrk or find_binary("wrk", ("/usr/local/bin",))
        if not nginx or not wrk:
            log("bench: installation did not provide nginx and wrk")
            sys.exit(1)
    return nginx, wrk


def install(pkgs, optional=False):
    """apt-get install, without letting the package start a system nginx (or h2o) on port 80.

    optional: a failure returns False instead of exiting."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# temporary, from webserv bench/bench.py: no service starts\nexit 101\n")
        os.chmod(policy, 0o755)
        made_policy = True
    try:
        log(f"bench: installing {' '.join(pkgs)} with apt-get")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + pkgs
        if subprocess.run(cmd, env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            if subprocess.run(cmd, env=env).returncode != 0:
                log("bench: apt-get install failed")
                if optional:
                    return False
                sys.exit(1)
    finally:
        if made_policy:
            os.unlink(policy)
    return True


def ensure_h2o(args):
    """(h2o binary or None, why not). h2o is optional: nothing here exits."""
    if args.no_h2o:
        return None, "not run (--no-h2o)"
    if not any(w[4].get("h2o") for w in args.workloads):
        return None, "no selected workload runs h2o"
    if args.h2o:
        if not os.access(args.h2o, os.X_OK):
            return None, f"--h2o {args.h2o}: not an executable"
        return args.h2o, None
    h2o = find_binary("h2o", ("/usr/bin", "/usr/local/bin", "/usr/sbin"))
    if h2o:
        return h2o, None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("bench: h2o not found (optional; as root: apt-get install -y h2o); running without it")
        return None, "not installed (apt-get install -y h2o)"
    if not install(["h2o"], optional=True):
        return None, "not installed (apt-get install h2o failed)"
    h2o = find_binary("h2o", ("/usr/bin", "/usr/local/bin", "/usr/sbin"))
    return (h2o, None) if h2o else (None, "not installed (the package gave no h2o binary)")


def ensure_h2load(args):
    """(h2load, nghttp) for the h2* workloads, from Debian's nghttp2-client (installed as root
    when missing).  Without them: exit 1 when --only named such a workload, else (the default
    run) drop those workloads and say so (the second value of the pair is then the reason)."""
    if not any(w[4].get("h2") for w in args.workloads):
        return None, None
    for opt in ("h2load", "nghttp"):
        given = getattr(args, opt)
        if given and not os.access(given, os.X_OK):
            log(f"bench: --{opt} {given}: not an executable")
            sys.exit(1)
    dirs = ("/usr/bin", "/usr/local/bin")
    find = lambda: (args.h2load or find_binary("h2load", dirs), args.nghttp or find_binary("nghttp", dirs))
    h2load, nghttp = find()
    if (not h2load or not nghttp) and os.geteuid() == 0 and shutil.which("apt-get"):
        if install(["nghttp2-client"], optional=True):
            h2load, nghttp = find()
    if h2load and nghttp:
        return (h2load, nghttp), None
    missing = " and ".join(n for n, b in (("h2load", h2load), ("nghttp", nghttp)) if not b)
    if args.only:
        log(f"bench: missing {missing} for the h2 workloads; as root, run: apt-get install -y nghttp2-client\n"
            f"       (or run `make bench` as root, which installs it), or pass --h2load/--nghttp PATH")
        sys.exit(1)
    why = f"{missing} not found (apt-get install -y nghttp2-client)"
    log(f"bench: {why}; running without the h2 workloads")
    args.workloads = [w for w in args.workloads if not w[4].get("h2")]
    return None, why


def make_cert(tmp):
    """A throw-away self-signed ECDSA P-256 certificate for localhost, used by every server."""
    d = os.path.join(tmp, "tls")
    os.makedirs(d)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    openssl = find_binary("openssl", ("/usr/bin", "/usr/local/bin"))
    if not openssl:
        raise BenchError("openssl (the command) is needed for the TLS workloads: apt-get install -y openssl")
    cmd = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
           "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"cannot make the certificate: {shlex.join(cmd)}\n{p.stderr}")
    os.chmod(key, 0o600)
    return {"cert": cert, "key": key}


def can_raise_nofile(n):
    """Whether a process of ours may set RLIMIT_NOFILE to n (tried in a throw-away child)."""
    pid = os.fork()
    if pid == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            os._exit(0)
        except BaseException:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def make_docroot(tmp):
    root = os.path.join(tmp, "www")
    os.makedirs(root)
    rnd = random.Random(4)  # deterministic content, incompressible
    files = {
        "small.html": SMALL_HTML,
        "index.html": SMALL_HTML,
        "medium.bin": rnd.randbytes(MEDIUM_SIZE),
        "large.bin": rnd.randbytes(LARGE_SIZE),
        "1m.bin": rnd.randbytes(MIB_SIZE),     # last: the other files' bytes stay what they were
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return root, files


_used_ports = set()


def free_port():
    """A port outside the ephemeral range (so that no wrk client socket holds it) that binds now."""
    for _ in range(1000):
        port = random.randrange(20000, 32000)
        if port in _used_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(port)
        return port
    raise BenchError("no free port")


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, kind, binary, tmp, docroot, workers, nginx_reuseport=False, tls=None, http2=False):
        """tls: None for plain HTTP, else {"cert": PEM, "key": PEM, "resume": bool}.
        http2: "listen ... http2" (webserv, nginx): h2 by ALPN over TLS, h2c by prior knowledge
        without; h2o needs nothing (ALPN h2 on its TLS listeners, h2c prior knowledge on plain ones)."""
        self.kind = kind
        self.binary = binary
        self.tmp = tmp
        self.docroot = docroot
        self.nworkers = workers
        self.nginx_reuseport = nginx_reuseport
        self.tls = tls
        self.http2 = http2
        self.proc = None
        self.port = None
        self.workers = []
        self.helpers = {}      # h2o: pid -> comm of its helper processes (crash handler), not measured
        self.dir = os.path.join(tmp, kind)
        os.makedirs(self.dir, exist_ok=True)

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def tls_lines(self, indent):
        """webserv and nginx: the same TLS directives (webserv accepts nginx's session cache syntax)."""
        t = self.tls
        if not t:
            return ""
        on = t.get("resume", True)
        lines = [f"ssl_certificate {t['cert']};",
                 f"ssl_certificate_key {t['key']};",
                 "ssl_protocols TLSv1.2 TLSv1.3;",
                 f"ssl_session_cache {'shared:SSL:10m' if on else 'off'};",
                 f"ssl_session_tickets {'on' if on else 'off'};",
                 "ssl_session_timeout 1h;"]
        return "".join(indent + x + "\n" for x in lines)

    def config(self):
        d = self.dir
        ssl_flag = (" ssl" if self.tls else "") + (" http2" if self.http2 else "")
        if self.kind == "webserv":
            return (f"worker_processes {self.nworkers};\n"
                    f"error_log {d}/error.log;\n"
                    "server {\n"
                    f"    listen 127.0.0.1:{self.port}{ssl_flag};\n"
                    + self.tls_lines("    ") +
                    f"    root {self.docroot};\n"
                    "    index index.html;\n"
                    "    keepalive_timeout 65s;\n"
                    "}\n")
        if self.kind == "h2o":
            return self.h2o_config()
        user = "user root root;\n" if os.geteuid() == 0 else ""
        rp = " reuseport" if self.nginx_reuseport else ""
        return (f"{user}"
                "daemon off;\n"
                "master_process on;\n"
                f"worker_processes {self.nworkers};\n"
                f"worker_rlimit_nofile {NGINX_RLIMIT_NOFILE};\n"
                f"pid {d}/nginx.pid;\n"
                f"error_log {d}/error.log warn;\n"
                "events {\n"
                "    worker_connections 20000;\n"
                "}\n"
                "http {\n"
                "    types {\n"
                "        text/html html;\n"
                "        application/octet-stream bin;\n"
                "    }\n"
                "    default_type application/octet-stream;\n"
                "    access_log off;\n"
                "    sendfile on;\n"
                "    tcp_nopush on;\n"
                "    tcp_nodelay on;\n"
                "    keepalive_requests 100000;\n"
                "    keepalive_timeout 65s;\n"
                f"    client_body_temp_path {d}/client_body;\n"
                f"    proxy_temp_path {d}/proxy;\n"
                f"    fastcgi_temp_path {d}/fastcgi;\n"
                f"    uwsgi_temp_path {d}/uwsgi;\n"
                f"    scgi_temp_path {d}/scgi;\n"
                "    server {\n"
                f"        listen 127.0.0.1:{self.port}{rp}{ssl_flag};\n"
                + self.tls_lines("        ") +
                f"        root {self.docroot};\n"
                "        index index.html;\n"
                "    }\n"
                "}\n")

    def h2o_config(self):
        """h2o 2.2 (YAML). One worker thread per nginx worker process; no access log; the key
        in the serving process (neverbleed off, as in nginx and webserv); no OCSP fetcher."""
        d = self.dir
        lines = []
        if os.geteuid() == 0:
            lines.append("user: root")  # else h2o switches to nobody; nginx and webserv run as root here
        lines += [f"num-threads: {self.nworkers}",
                  "max-connections: 20000",
                  f"error-log: {d}/error.log",
                  "http1-request-timeout: 65",   # idle keep-alive time, as keepalive_timeout 65s
                  "listen:",
                  "  host: 127.0.0.1",
                  f"  port: {self.port}"]
        if self.tls:
            t = self.tls
            lines += ["  ssl:",
                      f"    certificate-file: {t['cert']}",
                      f"    key-file: {t['key']}",
                      "    minimum-version: TLSv1.2",
                      "    ocsp-update-interval: 0",
                      "    neverbleed: OFF",
                      "ssl-session-resumption:"]
            if t.get("resume", True):
                lines += ["  mode: all",          # session cache and tickets
                          "  cache-store: internal",
                          "  ticket-store: internal",
                          "  lifetime: 3600"]
            else:
                lines += ["  mode: off"]
        lines += ["hosts:",
                  "  default:",
                  "    paths:",
                  "      /:",
                  f"        file.dir: {self.docroot}",
                  "        file.index: ['index.html']"]
        return "\n".join(lines) + "\n"

    def start(self):
        self.port = free_port()
        conf = os.path.join(self.dir, f"{self.kind}.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        out = open(os.path.join(self.dir, "stdout-stderr.log"), "ab")
        if self.kind == "webserv":
            cmd = [self.binary, conf]
        elif self.kind == "h2o":
            cmd = [self.binary, "-c", conf]
        else:
            cmd = [self.binary, "-p", self.dir + "/", "-e", os.path.join(self.dir, "error.log"), "-c", conf]
        self.proc = start_child(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=self.dir)
        out.close()
        # Ready: the port accepts, and the workers exist.
        want_children = self.nworkers if (self.kind == "nginx" or (self.kind == "webserv" and self.nworkers > 1)) else 0
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.kind} exited with status {self.proc.returncode} at start; "
                                 f"see {self.dir}/stdout-stderr.log and error.log:\n{self.tail_logs()}")
            kids = proc_children(self.proc.pid) if want_children else []
            if len(kids) >= want_children and self.port_open():
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{self.kind} not ready after 10 s:\n{self.tail_logs()}")
            time.sleep(0.02)
        if want_children:
            self.workers = kids
            for k in kids:
                st = proc_stat(k)
                if st:
                    grandchildren[k] = st[0]
        else:
            self.workers = [self.proc.pid]
        if self.kind == "h2o":  # one process, all threads measured; its crash handler (perl) is not
            self.note_helpers()

    def note_helpers(self):
        for k in proc_children(self.proc.pid):
            st = proc_stat(k)
            if st and k not in self.helpers:
                self.helpers[k] = st[0]
                grandchildren[k] = st[0]

    def tail_logs(self):
        text = ""
        for name in ("stdout-stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += "".join(f.readlines()[-10:])
            except OSError:
                pass
        return text

    def port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.kind} died (status {self.proc.returncode}):\n{self.tail_logs()}")
        for w in self.workers:
            if proc_stat(w) is None:
                raise BenchError(f"{self.kind} worker {w} died:\n{self.tail_logs()}")

    def cpu_ticks(self):
        total = 0
        for w in self.workers:
            st = proc_stat(w)
            if st:
                total += st[2]
        return total

    def mem_kib(self):
        hwm = rss = 0
        for w in self.workers:
            h, r = proc_mem_kib(w)
            hwm += h
            rss += r
        return hwm, rss

    def rss_parts_kib(self):
        total = dict.fromkeys(("VmRSS", "RssAnon", "RssFile", "RssShmem"), 0)
        for w in self.workers:
            for k, v in proc_rss_parts_kib(w).items():
                total[k] += v
        return total

    def stop(self):
        if self.proc is None:
            return
        if self.kind == "h2o" and self.proc.poll() is None:
            self.note_helpers()
        workers = [w for w in self.workers if w != self.proc.pid] + list(self.helpers)
        stop_child(self.proc)
        for w in workers:  # a master that was SIGKILLed leaves its workers behind
            kill_pid(w, grandchildren.get(w), wait=2.0)
            grandchildren.pop(w, None)
        self.proc = None
        self.workers = []
        self.helpers = {}


# ---------------------------------------------------------------- HTTP checks

def tls_client_context(cert):
    """Python's client, trusting only the bench's certificate (so each server must present it)."""
    ctx = ssl.create_default_context(cafile=cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def http_get(port, path, tls_ctx=None, session=None, info=None):
    """One keep-alive HTTP/1.1 GET, read to its Content-Length: (status, head text, body bytes).

    Over TLS (tls_ctx), offers `session` for resumption; `info` (a dict) gets the negotiated
    version, cipher, whether the session was reused, and the session to resume next time."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        s = tls_ctx.wrap_socket(raw, server_hostname="localhost", session=session) if tls_ctx else raw
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while not IdleConnections._complete(data):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        if tls_ctx and info is not None:
            info.update(version=s.version(), cipher=s.cipher()[0], reused=s.session_reused, session=s.session)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, head.decode("latin-1"), body


def check_server(server, files, tls_ctx=None):
    """Every file byte for byte (over TLS when the server speaks it); the response head of
    /small.html; over TLS also the negotiated parameters and whether a session resumes."""
    for name in CHECK_FILES:
        status, head, body = http_get(server.port, "/" + name, tls_ctx)
        if status != 200 or body != files[name]:
            raise BenchError(f"{server.kind}: GET {server.url}/{name} -> {status}, {len(body)} bytes "
                             f"(want 200, {len(files[name])} bytes)")
    if not tls_ctx:
        return http_get(server.port, "/small.html")[1], None
    first, second = {}, {}
    head = http_get(server.port, "/small.html", tls_ctx, info=first)[1]
    http_get(server.port, "/small.html", tls_ctx, session=first["session"], info=second)
    want = server.tls.get("resume", True)
    if second["reused"] != want:
        log(f"  {server.kind}: a TLS session offered again was {'' if second['reused'] else 'not '}resumed "
            f"(sessions configured {'on' if want else 'off'})")
    # A client's session id is the hash of its ticket (OpenSSL): a new id after a resumption
    # means the server sent a new ticket.  Clients that use a TLS 1.3 ticket only once (wrk, as
    # any OpenSSL client with a client session cache; browsers) need that to resume again.
    renewed = bool(second["reused"] and second["session"] is not None
                   and second["session"].id != first["session"].id)
    return head, {"version": first["version"], "cipher": first["cipher"], "resumed": second["reused"],
                  "renewed": renewed}


def run_tool(cmd, timeout, what):
    """Run one of our clients to completion: (returncode, stdout bytes, stderr text)."""
    p = start_child(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_child(p)
        raise BenchError(f"{what} did not finish in {timeout} s: {shlex.join(cmd)}")
    children.remove(p)
    return p.returncode, out, err.decode("utf-8", "replace")


def check_h2(server, files, nghttp):
    """Over HTTP/2 (h2 by ALPN on TLS, h2c by prior knowledge without, as h2load connects):
    every file byte for byte with nghttp (which speaks nothing but HTTP/2, so a server that
    does not negotiate it fails here), and the response head of /small.html."""
    for name in CHECK_FILES:
        cmd = [nghttp, server.url + "/" + name]
        rc, body, err = run_tool(cmd, 60, "nghttp")
        if rc != 0 or body != files[name]:
            raise BenchError(f"{server.kind}: HTTP/2 GET {server.url}/{name} (nghttp) -> exit {rc}, "
                             f"{len(body)} bytes (want {len(files[name])} bytes, the file){': ' + err.strip() if err.strip() else ''}")
    cmd = [nghttp, "-v", "-n", server.url + "/small.html"]
    rc, out, err = run_tool(cmd, 30, "nghttp")
    head = [m.group(1) for m in re.finditer(r"recv \(stream_id=\d+\) (.*)", out.decode("latin-1"))]
    if rc != 0 or ":status: 200" not in head:
        raise BenchError(f"{server.kind}: HTTP/2 GET {server.url}/small.html (nghttp -v) -> exit {rc}, "
                         f"head {head}: {err.strip()}")
    return "\n".join(head)


# ---------------------------------------------------------------- h2load

def parse_h2load(out):
    """h2load's summary: rps (its req/s), requests done, seconds (the main duration), bytes
    (traffic total: what it received after TLS, HTTP/2 framing and heads included, as wrk's
    "read"), mibps, errors (its "failed": non-2xx/3xx statuses, reset or errored streams,
    timeouts), the status classes, the "time for request" statistics in ms, the protocol."""
    r = {}
    m = re.search(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", out, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
    traffic = re.search(r"^traffic: \S+ \((\d+)\) total", out, re.M)
    if not (m and req and traffic):
        raise BenchError("cannot parse h2load output:\n" + out[-3000:])
    r["seconds"] = parse_ms(m.group(1) + m.group(2)) / 1e3
    r["rps"] = float(m.group(3))
    total, started, done, ok, failed, errored, timeout = (int(x) for x in req.groups())
    r.update(requests=done, succeeded=ok, failed=failed, errored=errored, timeout=timeout)
    r["requests_line"] = req.group(0)
    r["bytes"] = int(traffic.group(1))
    r["mibps"] = r["bytes"] / r["seconds"] / 1024 ** 2 if r["seconds"] else 0.0
    # "failed" counts errored and timed-out streams too (h2load: process_abandoned_streams)
    r["errors"] = failed
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    if m:
        r["status"] = dict(zip(("2xx", "3xx", "4xx", "5xx"), (int(x) for x in m.groups())))
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        for k, v in zip(("lat_min", "lat_max", "lat_mean", "lat_sd"), m.groups()):
            try:
                r[k] = parse_ms(v)
            except ValueError:
                pass
    for key, pat in (("protocol", r"^Application protocol: (\S+)"), ("tls_version", r"^TLS Protocol: (\S+)"),
                     ("cipher", r"^Cipher: (\S+)"), ("temp_key", r"^Server Temp Key: (.+)$")):
        m = re.search(pat, out, re.M)
        if m:
            r[key] = m.group(1).strip()
    return r


def run_h2load(h2load, url, conns, streams, threads, duration, proto):
    """h2load -D duration (timing-based): `conns` connections of `streams` concurrent streams.
    proto: "h2" (https:// URL, ALPN h2) or "h2c" (http:// URL, prior knowledge, h2load's default)."""
    cmd = [h2load, "-t", str(threads), "-c", str(conns), "-m", str(streams), "-D", str(duration)]
    if url.startswith("https:"):
        cmd.append("--tls13-ciphers=" + H2LOAD_TLS13_CIPHERS)
    cmd.append(url)
    rc, out, err = run_tool(cmd, duration + 30, "h2load")
    out = out.decode("utf-8", "replace")
    if rc != 0:
        raise BenchError(f"h2load failed ({rc}): {shlex.join(cmd)}\n{out[-2000:]}{err[-1000:]}")
    r = parse_h2load(out)
    if r.get("protocol") != proto:
        raise BenchError(f"h2load negotiated {r.get('protocol')!r}, not {proto}: {shlex.join(cmd)}\n"
                         f"{out[-2000:]}{err[-1000:]}")
    if not r["requests"]:
        raise BenchError(f"h2load completed no request: {shlex.join(cmd)}\n{out[-2000:]}{err[-1000:]}")
    r["cmd"] = shlex.join(cmd)
    return r


# ---------------------------------------------------------------- wrk

TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
BIN_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4, "P": 1024 ** 5}


def parse_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * TIME_UNITS[m.group(2)]


def parse_wrk(out):
    r = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGTP]?)B read", out, re.M)
    if not m:
        raise BenchError("cannot parse wrk output:\n" + out)
    r["requests"] = int(m.group(1))
    r["seconds"] = parse_ms(m.group(2) + m.group(3)) / 1e3
    r["bytes"] = float(m.group(4)) * BIN_UNITS[m.group(5)]
    m = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    r["rps"] = float(m.group(1)) if m else r["requests"] / r["seconds"]
    m = re.search(r"^Transfer/sec:\s*([\d.]+)([KMGTP]?)B", out, re.M)
    r["mibps"] = (float(m.group(1)) * BIN_UNITS[m.group(2)] if m else r["bytes"] / r["seconds"]) / 1024 ** 2
    dist = re.search(r"Latency Distribution\s*\n((?:\s*\d+%\s+\S+\s*\n)+)", out)
    if dist:
        for pct, val in re.findall(r"(\d+)%\s+(\S+)", dist.group(1)):
            r[f"p{pct}"] = parse_ms(val)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
        r["socket_errors"] = m.group(0)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    r["errors"] = errors
    return r


def run_wrk(wrk, url, conns, threads, duration, close=False):
    cmd = [wrk, f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    p = start_child(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        stop_child(p)
        raise BenchError(f"wrk did not finish: {shlex.join(cmd)}")
    children.remove(p)
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}): {shlex.join(cmd)}\n{out}")
    return parse_wrk(out)


# ---------------------------------------------------------------- idle connections

class IdleConnections:
    """n keep-alive connections, each having sent one GET and read its answer, then idle."""

    def __init__(self, port, path, n, batch=1000, timeout=60.0):
        self.port, self.path, self.n, self.batch, self.timeout = port, path, n, batch, timeout
        self.open = []
        self.failed = 0
        self.first_error = None

    def _fail(self, sel, s, why):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        self.failed += 1
        if self.first_error is None:
            self.first_error = why

    def establish(self):
        req = f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        sel = selectors.DefaultSelector()
        deadline = time.monotonic() + self.timeout
        started = 0
        inflight = 0
        try:
            while (started < self.n or inflight) and time.monotonic() < deadline:
                while started < self.n and inflight < self.batch:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    started += 1
                    rc = s.connect_ex(("127.0.0.1", self.port))
                    if rc not in (0, errno.EINPROGRESS):
                        self._fail(sel, s, f"connect: {os.strerror(rc)}")
                        continue
                    sel.register(s, selectors.EVENT_WRITE, {"state": "connect", "buf": b""})
                    inflight += 1
                for key, ev in sel.select(timeout=0.5):
                    s, st = key.fileobj, key.data
                    if st["state"] == "connect":
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            self._fail(sel, s, f"connect: {os.strerror(err)}")
                            inflight -= 1
                            continue
                        try:
                            s.send(req)  # tiny: one segment
                        except OSError as e:
                            self._fail(sel, s, f"send: {e}")
                            inflight -= 1
                            continue
                        st["state"] = "read"
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    try:
                        chunk = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        self._fail(sel, s, f"recv: {e}")
                        inflight -= 1
                        continue
                    if not chunk:
                        self._fail(sel, s, "closed by server before the answer")
                        inflight -= 1
                        continue
                    st["buf"] += chunk
                    if self._complete(st["buf"]):
                        inflight -= 1
                        self._answered(sel, s, st["buf"])
            # whatever is still pending at the deadline has failed
            for key in list(sel.get_map().values()):
                self._fail(sel, key.fileobj, "timeout")
        finally:
            sel.close()
        return len(self.open)

    def _answered(self, sel, s, buf):
        """The whole answer is in: hold the connection if it is a 200."""
        sel.unregister(s)
        if buf.startswith(b"HTTP/1.1 200"):
            self.open.append(s)
            return
        s.close()
        self.failed += 1
        self.first_error = self.first_error or buf[:40].decode("latin-1")

    @staticmethod
    def _complete(buf):
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:end], re.I)
        return m is not None and len(buf) - end - 4 >= int(m.group(1))

    def still_open(self):
        """How many of the held connections the server has not closed (non-blocking peek)."""
        alive = 0
        for s in self.open:
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    continue
                alive += 1  # unexpected data: still open
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def close(self):
        for s in self.open:  # SO_LINGER 0: RST, no TIME_WAIT eating local ports
            s.close()
        self.open = []


class TlsIdleConnections(IdleConnections):
    """The same over TLS: n connections, each through a full handshake (no session offered)
    and one keep-alive GET whose answer is read whole, then idle.  One thread, non-blocking
    sockets and `selectors`: SSLSocket.do_handshake/send/recv on a non-blocking socket raise
    SSLWantRead/WriteError, and the socket waits in the selector for what OpenSSL wants.
    At most `batch` connections are in progress at once (below the servers' accept backlog);
    all of it is bounded by `timeout`."""

    def __init__(self, port, path, n, ctx, batch=200, timeout=60.0):
        super().__init__(port, path, n, batch, timeout)
        self.ctx = ctx
        self.versions = set()

    def _want(self, sel, s, st, e):
        ev = selectors.EVENT_WRITE if isinstance(e, ssl.SSLWantWriteError) else selectors.EVENT_READ
        if st.get("ev") != ev:
            sel.modify(s, ev, st)
            st["ev"] = ev

    def establish(self):
        req = f"GET {self.path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
        sel = selectors.DefaultSelector()
        deadline = time.monotonic() + self.timeout
        started = inflight = 0
        want = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
        try:
            while (started < self.n or inflight) and time.monotonic() < deadline:
                while started < self.n and inflight < self.batch:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    started += 1
                    rc = s.connect_ex(("127.0.0.1", self.port))
                    if rc not in (0, errno.EINPROGRESS):
                        self._fail(sel, s, f"connect: {os.strerror(rc)}")
                        continue
                    sel.register(s, selectors.EVENT_WRITE, {"state": "connect", "ev": selectors.EVENT_WRITE})
                    inflight += 1
                for key, _ in sel.select(timeout=0.5):
                    s, st = key.fileobj, key.data
                    try:
                        if st["state"] == "connect":
                            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                            if err:
                                raise OSError(err, f"connect: {os.strerror(err)}")
                            sel.unregister(s)  # the SSLSocket takes over the descriptor
                            s = self.ctx.wrap_socket(s, server_hostname="localhost",
                                                     do_handshake_on_connect=False)
                            st = {"state": "handshake", "ev": selectors.EVENT_WRITE, "buf": b""}
                            sel.register(s, selectors.EVENT_WRITE, st)
                        if st["state"] == "handshake":
                            s.do_handshake()
                            self.versions.add(s.version())
                            st["state"] = "send"
                        if st["state"] == "send":
                            s.send(req)  # tiny: one record, taken whole or not at all
                            st["state"] = "read"
                        # read until OpenSSL wants more from the socket: records it has already
                        # taken in (tickets, the answer) do not make the socket readable again
                        while True:
                            chunk = s.recv(65536)
                            if not chunk:
                                raise OSError("closed by server before the answer")
                            st["buf"] += chunk
                            if self._complete(st["buf"]):
                                break
                    except want as e:
                        self._want(sel, s, st, e)
                        continue
                    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
                        self._fail(sel, s, f"{st['state']}: {e}")
                        inflight -= 1
                        continue
                    inflight -= 1
                    self._answered(sel, s, st["buf"])
            for key in list(sel.get_map().values()):
                self._fail(sel, key.fileobj, "timeout")
        finally:
            sel.close()
        return len(self.open)

    def still_open(self):
        """How many of the held connections the server has not closed or reset: poll() with
        POLLRDHUP (a close_notify alert ahead of the FIN would make a peek see data)."""
        p = select.poll()
        for s in self.open:
            p.register(s.fileno(), select.POLLRDHUP)
        gone = sum(1 for _, ev in p.poll(0) if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR))
        return len(self.open) - gone


# ---------------------------------------------------------------- runs

def one_run(args, wl, kind, binaries, tmp, docroot, files, info, cert=None):
    name, path, conns, threads, opts = wl
    tls = None
    if opts.get("tls"):
        tls = dict(cert, resume=opts.get("resume", True))
    srv = Server(kind, binaries[kind], tmp, docroot, opts.get("workers", 1), args.nginx_reuseport, tls,
                 http2=bool(opts.get("h2")))
    idle = None
    try:
        srv.start()
        if opts.get("h2"):
            return h2_run(args, wl, kind, binaries, files, info, cert, srv)
        head, tls_seen = check_server(srv, files, tls_client_context(cert["cert"]) if tls else None)
        info.setdefault("headers", {})[kind] = head
        if tls_seen:
            info.setdefault("tls", {}).setdefault(name, {})[kind] = tls_seen
        url = srv.url + path
        if args.warmup > 0:  # TLS handshake loads warm up as they run (session caches filled)
            run_wrk(binaries["wrk"], url, min(conns, 50), 1, args.warmup, close=bool(tls and opts.get("close")))
        res = {}
        if opts.get("idle_only"):
            return idle_only_run(args, wl, kind, binaries, tmp, docroot, files, info, cert, srv)
        if opts.get("idle"):
            time.sleep(0.3)
            res["rss_before_kib"] = srv.mem_kib()[1]
            idle = IdleConnections(srv.port, path, opts["idle"], timeout=args.idle_timeout)
            t0 = time.monotonic()
            res["idle_open"] = idle.establish()
            res["idle_seconds"] = time.monotonic() - t0
            if idle.failed:
                log(f"  {kind}: {idle.failed} idle connections failed (first: {idle.first_error})")
            time.sleep(0.5)
            srv.check_alive()
            res["rss_with_kib"] = srv.mem_kib()[1]
            if res["idle_open"]:
                res["idle_bytes"] = (res["rss_with_kib"] - res["rss_before_kib"]) * 1024 / res["idle_open"]
        cpu0 = srv.cpu_ticks()
        w = run_wrk(binaries["wrk"], url, conns, threads, args.duration, close=opts.get("close", False))
        time.sleep(0.3)  # let the server finish closing what wrk left
        srv.check_alive()
        cpu1 = srv.cpu_ticks()
        if idle is not None:
            held = idle.still_open()
            res["idle_still_open"] = held
            if held < res["idle_open"]:
                log(f"  {kind}: only {held} of {res['idle_open']} idle connections still open after the load")
        hwm, rss = srv.mem_kib()
        res.update({k: w[k] for k in ("rps", "mibps", "requests", "errors") if k in w})
        for p in ("p50", "p99"):
            if p in w:
                res[p] = w[p]
        if w["requests"]:
            res["cpu_us"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / w["requests"]
        res["cpu_s"] = (cpu1 - cpu0) / CLK_TCK
        res["hwm_kib"], res["rss_kib"] = hwm, rss
        if "socket_errors" in w and w["errors"]:
            res["wrk_errors_line"] = w["socket_errors"]
        return res
    finally:
        if idle is not None:
            idle.close()
        srv.stop()


def h2_run(args, wl, kind, binaries, files, info, cert, srv):
    """h2-small, h2c-small, h2-large: check (over HTTP/1.1 + TLS where the port has TLS, and over
    HTTP/2 with nghttp), warm up with h2load, then the measured h2load run between two samples of
    the workers' CPU time.  Called by one_run, which stops `srv`."""
    name, path, conns, threads, opts = wl
    proto, streams = opts["h2"], opts["streams"]
    if srv.tls:  # the check client offers ALPN http/1.1 only; nginx 1.22's h2c ports speak only HTTP/2
        head, tls_seen = check_server(srv, files, tls_client_context(cert["cert"]))
        info.setdefault("headers", {})[kind] = head
        info.setdefault("tls", {}).setdefault(name, {})[kind] = tls_seen
    info.setdefault("h2_headers", {})[kind] = check_h2(srv, files, binaries["nghttp"])
    url = srv.url + path
    if args.warmup > 0:
        run_h2load(binaries["h2load"], url, conns, streams, threads, args.warmup, proto)
    cpu0 = srv.cpu_ticks()
    w = run_h2load(binaries["h2load"], url, conns, streams, threads, args.duration, proto)
    time.sleep(0.3)  # let the server finish closing what h2load left
    srv.check_alive()
    cpu1 = srv.cpu_ticks()
    hwm, rss = srv.mem_kib()
    res = {k: w[k] for k in ("rps", "mibps", "requests", "succeeded", "failed", "errored", "timeout",
                             "errors", "bytes", "seconds", "lat_min", "lat_max", "lat_mean", "lat_sd",
                             "status", "cmd") if k in w}
    res["h2_errors"] = w["errors"]
    if w["errors"]:
        res["wrk_errors_line"] = w["requests_line"] + (f"; status codes {w['status']}" if "status" in w else "")
    if w["requests"]:
        res["cpu_us"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / w["requests"]
    res["cpu_s"] = (cpu1 - cpu0) / CLK_TCK
    res["hwm_kib"], res["rss_kib"] = hwm, rss
    info.setdefault("h2", {}).setdefault(name, {})[kind] = {
        k: w[k] for k in ("protocol", "tls_version", "cipher", "temp_key") if k in w}
    return res


def idle_only_run(args, wl, kind, binaries, tmp, docroot, files, info, cert, srv):
    """tls-idle: the server (started, checked, warmed up) gets opts["idle"] idle TLS connections
    and its workers' memory is read before and with them; then the same on a fresh plain HTTP
    server of the same kind (started, checked and warmed up the same way), so that the
    difference per connection is what TLS costs.  Called by one_run, which stops `srv`."""
    name, path, conns, threads, opts = wl
    n = opts["idle"]
    res = {}
    time.sleep(0.3)  # the warm-up's connections closed
    before = srv.rss_parts_kib()
    cpu0 = srv.cpu_ticks()
    ctx = tls_client_context(cert["cert"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    idle = TlsIdleConnections(srv.port, path, n, ctx, timeout=args.idle_timeout)
    try:
        t0 = time.monotonic()
        res["idle_open"] = idle.establish()
        res["idle_seconds"] = time.monotonic() - t0
        if idle.failed:
            log(f"  {kind}: {idle.failed} idle TLS connections failed (first: {idle.first_error})")
        res["tls_versions"] = sorted(idle.versions)
        time.sleep(0.5)
        srv.check_alive()
        cpu1 = srv.cpu_ticks()
        with_ = srv.rss_parts_kib()
        held = idle.still_open()
        res["idle_still_open"] = held
        if held < res["idle_open"]:
            log(f"  {kind}: only {held} of {res['idle_open']} idle TLS connections still open")
    finally:
        idle.close()
    res["rss_before_kib"], res["rss_with_kib"] = before["VmRSS"], with_["VmRSS"]
    res["rss_parts_before_kib"], res["rss_parts_with_kib"] = before, with_
    if res["idle_open"]:
        k = res["idle_open"]
        res["idle_kib"] = (with_["VmRSS"] - before["VmRSS"]) / k
        res["idle_anon_kib"] = (with_["RssAnon"] - before["RssAnon"]) / k
        res["idle_shmem_kib"] = (with_["RssShmem"] - before["RssShmem"]) / k
        res["open_cpu_us"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / k
    res["hwm_kib"] = srv.mem_kib()[0]
    srv.stop()

    # The plain HTTP baseline: same server kind, same N, same warm-up, idle10k's client.
    plain = Server(kind, binaries[kind], tmp, docroot, opts.get("workers", 1), args.nginx_reuseport, None)
    idle = None
    try:
        plain.start()
        check_server(plain, files)
        if args.warmup > 0:
            run_wrk(binaries["wrk"], plain.url + path, min(conns, 50), 1, args.warmup)
        time.sleep(0.3)
        before = plain.rss_parts_kib()
        idle = IdleConnections(plain.port, path, n, timeout=args.idle_timeout)
        k = idle.establish()
        if idle.failed:
            log(f"  {kind}: {idle.failed} idle plain connections failed (first: {idle.first_error})")
        time.sleep(0.5)
        plain.check_alive()
        with_ = plain.rss_parts_kib()
        res["plain_idle_open"] = k
        res["plain_rss_before_kib"], res["plain_rss_with_kib"] = before["VmRSS"], with_["VmRSS"]
        if k:
            res["plain_idle_kib"] = (with_["VmRSS"] - before["VmRSS"]) / k
            if "idle_kib" in res:
                res["tls_kib"] = res["idle_kib"] - res["plain_idle_kib"]
    finally:
        if idle is not None:
            idle.close()
        plain.stop()
    return res


def h2_notes(results, args):
    """What the h2 rows are, and h2-large against tls-1m (the same 1 MiB file over HTTP/1.1 + TLS),
    per server: the comparison the HTTP/2 issue's target is about."""
    notes = []
    ran = [w for w in args.workloads if w[4].get("h2") and results.get(w[0])]
    if ran:
        loads = "; ".join(f"{w[0]}: h2load -t{w[3]} -c{w[2]} -m{w[4]['streams']} -D {args.duration} "
                          f"{'https' if w[4].get('tls') else 'http'}://127.0.0.1:PORT{w[1]} ({w[4]['h2']})"
                          for w in ran)
        notes.append(f"h2 rows ({loads}): latency is h2load's mean \"time for request\" (it gives no "
                     f"percentiles; p50/p99 are not reported); MiB/s = h2load's \"traffic: total\" bytes "
                     f"(received after TLS: HTTP/2 frames, heads, bodies) / its main duration; failed = "
                     f"h2load's \"failed\" (non-2xx/3xx, reset or errored streams, timeouts); over TLS "
                     f"h2load offers {H2LOAD_TLS13_CIPHERS.split(':')[0]} first, as wrk (OpenSSL's default)")
    h2r, h1r = results.get("h2-large"), results.get("tls-1m")
    if h2r and h1r:
        parts = []
        for kind in SERVERS:
            a = median([r.get("mibps") for r in h2r.get(kind, [])])
            b = median([r.get("mibps") for r in h1r.get(kind, [])])
            if a and b:
                parts.append(f"{kind} {a:.1f} over h2 vs {b:.1f} over HTTP/1.1 = {a / b:.2f}")
        if parts:
            notes.append("h2-large against tls-1m (the same 1 MiB file, 8 connections, HTTP/2 by h2load vs "
                         "HTTP/1.1 by wrk, both over TLS), MiB/s medians, each server against itself: "
                         + "; ".join(parts))
    return notes


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(results, workloads):
    """rows of (workload, metric key, {server: median}, {other server: median of per-round
    ratios webserv/other}).  A server that did not run has no median; a workload where h2o was
    meant to run but did not gets "n/a" in the h2o columns (the notes say why)."""
    rows = []
    for wl in workloads:
        name = wl[0]
        r = results.get(name)
        if not r:
            continue
        for key in ROWS.get(name, ROWS["default"]):
            vals = {kind: [run.get(key) for run in runs] for kind, runs in r.items()}
            meds = {kind: median(v) for kind, v in vals.items()}
            if all(m is None for m in meds.values()):
                continue
            ratios = {}
            for other in OTHERS:
                if other in vals and key not in NO_RATIO:
                    ratios[other] = median([x / y for x, y in zip(vals["webserv"], vals[other])
                                            if x is not None and y])
            if wl[4].get("h2o") and not r.get("h2o"):
                meds["h2o"] = ratios["h2o"] = "n/a"
            rows.append((name, key, meds, ratios))
    return rows


def fmt(key, v):
    if isinstance(v, str):
        return v
    return "-" if v is None else METRICS[key][1].format(v)


def fmt_ratio(v):
    if isinstance(v, str):
        return v
    return "-" if v is None else f"{v:.2f}"


def table_lines(rows, markdown):
    with_h2o = any("h2o" in meds for _, _, meds, _ in rows)
    head = ["workload", "metric", "webserv", "nginx", "ratio"] + (["h2o", "ratio w/h2o"] if with_h2o else [])
    body = []
    for name, key, meds, ratios in rows:
        label, _, lower = METRICS[key]
        if key not in NO_RATIO:
            label += " (lower=better)" if lower else ""
        row = [name, label, fmt(key, meds.get("webserv")), fmt(key, meds.get("nginx")),
               fmt_ratio(ratios.get("nginx"))]
        if with_h2o:
            row += [fmt(key, meds.get("h2o")), fmt_ratio(ratios.get("h2o"))]
        body.append(row)
    ncol = len(head)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (ncol - 2)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return lines
    widths = [max(len(r[i]) for r in [head] + body) for i in range(ncol)]
    align = ["<", "<"] + [">"] * (ncol - 2)
    line = lambda r: "  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths))
    out = [line(head), "  ".join("-" * w for w in widths)]
    prev = None
    for r in body:
        if prev is not None and r[0] != prev:
            out.append("")
        prev = r[0]
        out.append(line(r))
    return out


def machine_info(binaries):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    def first_line(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    commit = first_line(["git", "-C", REPO, "describe", "--always", "--dirty", "--abbrev=12"])
    if os.path.realpath(binaries["webserv"]) != os.path.realpath(os.path.join(REPO, "webserv")):
        commit = f"{binaries['webserv']} (not this tree's ./webserv; the tree is {commit})"
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) // 1024} MiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "nproc_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory": mem,
        "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
        "kernel": f"{os.uname().sysname} {os.uname().release} {os.uname().machine}",
        "nginx": first_line([binaries["nginx"], "-v"]),
        "wrk": first_line([binaries["wrk"], "-v"]).split(" Copyright")[0],
        "webserv": f"{binaries['webserv']} at {commit}",
        "webserv_version": first_line([binaries["webserv"], "-v"]),
        "h2o": first_line([binaries["h2o"], "--version"]) if binaries.get("h2o") else None,
        "h2load": first_line([binaries["h2load"], "--version"]) if binaries.get("h2load") else None,
        "openssl": ssl.OPENSSL_VERSION + " (Python's ssl, the check client)",
    }


def write_markdown(path, info, args, rows, results, notes, elapsed):
    m = info["machine"]
    h2o_ran = any(r.get("h2o") for r in results.values())
    h2o_meant = any(w[4].get("h2o") for w in args.workloads)
    lines = [
        f"### webserv vs nginx{' and h2o' if h2o_ran else ''} — {m['date']}",
        "",
        f"- machine: {m['nproc']} CPUs ({m['nproc_usable']} usable), {m['cpu']}, {m['memory']} RAM, {m['kernel']}, load average at start {m['loadavg']}",
        f"- {m['nginx']}; {m['h2o'] or 'h2o: ' + str(info.get('h2o_status'))}; {m['wrk']}; "
        + (f"{m['h2load']}; " if m.get("h2load") else "") +
        f"webserv {m['webserv'].split(' at ')[-1]} ({m.get('webserv_version', '?')})",
        f"- {args.rounds} round(s) of {args.duration} s per server and workload, alternated "
        f"webserv/nginx{'/h2o where h2o takes part' if h2o_meant else ''}, warm-up {args.warmup} s; medians; "
        f"ratio = median of per-round webserv/nginx{', ratio w/h2o = webserv/h2o' if h2o_meant else ''}; "
        f"run took {elapsed:.0f} s",
        "",
    ]
    lines += table_lines(rows, markdown=True)
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    tls = info.get("tls", {})
    if tls:
        lines += ["", "TLS as negotiated with the check client (Python ssl, OpenSSL defaults, as wrk's); "
                  "\"resumed\": a session offered again on a new connection was resumed; \"new ticket\": "
                  "the resumed connection brought a new ticket (without one, a client that uses a TLS 1.3 "
                  "ticket once, as wrk does, makes full handshakes, see bench/README.md):", ""]
        for name, per in tls.items():
            lines.append(f"- {name}: " + "; ".join(
                f"{kind} {t['version']} {t['cipher']}, resumed {'yes' if t['resumed'] else 'no'}"
                + (f", new ticket {'yes' if t.get('renewed') else 'no'}" if t['resumed'] else "")
                for kind, t in per.items()))
    h2 = info.get("h2", {})
    if h2:
        lines += ["", "HTTP/2 as h2load negotiated it (\"Application protocol\", and over TLS its "
                  "\"TLS Protocol\", \"Cipher\", \"Server Temp Key\" lines):", ""]
        for name, per in h2.items():
            lines.append(f"- {name}: " + "; ".join(
                f"{kind} " + ", ".join(t[k] for k in ("protocol", "tls_version", "cipher", "temp_key") if k in t)
                for kind, t in per.items()))
    heads = info.get("headers", {})
    if heads:
        lines += ["", "Response head for GET /small.html (each server):", ""]
        for kind in SERVERS:
            if kind in heads:
                lines += [f"{kind}:", "```", heads[kind].replace("\r\n", "\n").strip(), "```"]
    heads = info.get("h2_headers", {})
    if heads:
        lines += ["", "HTTP/2 response head for GET /small.html (nghttp -v, each server):", ""]
        for kind in SERVERS:
            if kind in heads:
                lines += [f"{kind}:", "```", heads[kind].strip(), "```"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description="Benchmark webserv against nginx and h2o (see bench/README.md).")
    ap.add_argument("--rounds", type=int, default=3, help="alternations per workload (default 3)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk warm-up per run, 0 for none (default 1)")
    ap.add_argument("--quick", action="store_true", help="rounds=1, duration=3")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="workload(s) to run, comma-separated or repeated: " + ", ".join(WORKLOAD_NAMES)
                    + "; groups: tls (the tls-* ones of issue 9), plain (HTTP/1.1 without TLS), "
                    "h2 (h2-small, h2c-small, h2-large, and tls-1m: h2-large's file over HTTP/1.1 + TLS)")
    ap.add_argument("--webserv", default=os.path.join(REPO, "webserv"), help="webserv binary (default ./webserv)")
    ap.add_argument("--nginx", help="nginx binary (default: from PATH or /usr/sbin)")
    ap.add_argument("--wrk", help="wrk binary (default: from PATH)")
    ap.add_argument("--h2o", help="h2o binary (default: from PATH; optional, see --no-h2o)")
    ap.add_argument("--no-h2o", action="store_true", help="do not run h2o (nor install it)")
    ap.add_argument("--h2load", help="h2load binary for the h2 workloads (default: from PATH; nghttp2-client)")
    ap.add_argument("--nghttp", help="nghttp binary, the HTTP/2 check client (default: from PATH; nghttp2-client)")
    ap.add_argument("--idle-timeout", type=float, default=60.0,
                    help="seconds allowed to open the idle connections (default 60)")
    ap.add_argument("--nginx-reuseport", action="store_true", help="give nginx's listen the reuseport flag")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs, docroot)")
    ap.add_argument("--out", default=os.path.join(OUT_DIR, "latest.md"), help="Markdown output (default bench/out/latest.md)")
    if not argv and os.environ.get("BENCH_ARGS"):
        argv = shlex.split(os.environ["BENCH_ARGS"])
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0:
        ap.error("rounds and duration must be >= 1, warmup >= 0")
    names = []
    for item in args.only or []:
        for n in (n.strip() for n in item.split(",")):
            if n in GROUPS:
                names += GROUPS[n]
            elif n:
                names.append(n)
    bad = [n for n in names if n not in WORKLOAD_NAMES]
    if bad:
        ap.error(f"unknown workload {', '.join(bad)}; choose from {', '.join(WORKLOAD_NAMES)} "
                 f"(or the groups {', '.join(GROUPS)})")
    args.workloads = [w for w in WORKLOADS if not names or w[0] in names]
    return args


def main(argv):
    args = parse_args(argv)
    if not os.access(args.webserv, os.X_OK):
        log(f"bench: {args.webserv} not found; build it first (`make`)")
        return 1
    nginx, wrk = ensure_tools(args)
    h2tools, h2_missing = ensure_h2load(args)
    h2load, nghttp = h2tools or (None, None)
    h2o, h2o_status = ensure_h2o(args)
    binaries = {"webserv": os.path.abspath(args.webserv), "nginx": nginx, "wrk": wrk, "h2o": h2o,
                "h2load": h2load, "nghttp": nghttp}
    soft, hard = raise_nofile()
    global NGINX_RLIMIT_NOFILE
    if not can_raise_nofile(NGINX_RLIMIT_NOFILE):
        NGINX_RLIMIT_NOFILE = min(NGINX_RLIMIT_NOFILE, hard)
    need = max(opts.get("idle", 0) for *_, opts in args.workloads) + 1100
    if soft < need:
        log(f"bench: RLIMIT_NOFILE is {soft} (hard {hard}); {need} descriptors are needed "
            f"for the idle connections; some workloads may fail")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    tmp = tempfile.mkdtemp(prefix="webserv-bench-")
    os.chmod(tmp, 0o755)
    info = {"machine": machine_info(binaries), "h2o_status": h2o_status}
    results = {}
    notes = []
    if h2o_status and any(w[4].get("h2o") for w in args.workloads):
        notes.append(f"h2o {h2o_status}: its columns say n/a")
    if h2_missing:
        notes.append(f"the h2 workloads were not run: {h2_missing}")
    t_start = time.monotonic()
    nruns = sum(3 if (h2o and w[4].get("h2o")) else 2 for w in args.workloads)
    # a run: warm-up + measured wrk + start/check/stop; an idle_only run: two servers (TLS, then
    # plain), each warmed up and given its idle connections, no measured wrk
    est = sum((3 if (h2o and w[4].get("h2o")) else 2) * args.rounds
              * (2 * (args.warmup + 5) if w[4].get("idle_only") else args.duration + args.warmup + 1.5)
              for w in args.workloads)
    log(f"bench: {len(args.workloads)} workload(s), {nruns} server runs per round x {args.rounds} round(s) x "
        f"{args.duration} s (about {est / 60:.1f} min); temp {tmp}")
    status = 0
    try:
        docroot, files = make_docroot(tmp)
        cert = make_cert(tmp) if any(w[4].get("tls") for w in args.workloads) else None
        for wl in args.workloads:
            name = wl[0]
            kinds = ["webserv", "nginx"] + (["h2o"] if wl[4].get("h2o") else [])
            results[name] = {k: [] for k in kinds}
            for rnd in range(args.rounds):
                for kind in kinds:
                    if kind == "h2o" and not binaries["h2o"]:
                        continue
                    t0 = time.monotonic()
                    try:
                        res = one_run(args, wl, kind, binaries, tmp, docroot, files, info, cert)
                    except BenchError as e:
                        if kind != "h2o":
                            raise
                        # h2o is optional: say why, drop it from the rest of the run, go on
                        first = str(e).splitlines()[0]
                        log(f"  {name:<17} round {rnd + 1}/{args.rounds} h2o failed: {e}")
                        notes.append(f"h2o failed in {name} round {rnd + 1} and was not run again: {first}")
                        binaries["h2o"] = None
                        info["h2o_status"] = f"failed ({first})"
                        continue
                    results[name][kind].append(res)
                    extra = ""
                    if "idle_bytes" in res:
                        extra = f", {res['idle_open']} idle: {res['idle_bytes']:.0f} B/conn"
                    if wl[4].get("idle_only"):
                        log(f"  {name:<19} round {rnd + 1}/{args.rounds} {kind:<8} "
                            f"{res.get('idle_open', 0)} idle TLS in {res.get('idle_seconds', 0):.1f} s: "
                            f"{res.get('idle_kib', 0):.2f} KiB/conn (anon {res.get('idle_anon_kib', 0):.2f}, "
                            f"shmem {res.get('idle_shmem_kib', 0):.2f}); plain "
                            f"{res.get('plain_idle_kib', 0):.2f} KiB/conn; TLS share {res.get('tls_kib', 0):.2f}"
                            f"  ({time.monotonic() - t0:.1f} s)")
                    else:
                        lat = (f"mean {res.get('lat_mean', 0):7.3f} ms" if wl[4].get("h2")
                               else f"p99 {res.get('p99', 0):7.3f} ms")
                        log(f"  {name:<19} round {rnd + 1}/{args.rounds} {kind:<8} "
                            f"{res.get('rps', 0):9.0f} req/s {res.get('mibps', 0):8.1f} MiB/s "
                            f"{lat}  cpu {res.get('cpu_us', 0):6.2f} us/req{extra}"
                            f"  ({time.monotonic() - t0:.1f} s)")
                    if res.get("errors"):
                        client = "h2load failed requests" if wl[4].get("h2") else "wrk errors/non-2xx"
                        note = (f"{name} round {rnd + 1} {kind}: {res['errors']} {client}"
                                + (f" ({res['wrk_errors_line']})" if res.get("wrk_errors_line") else ""))
                        notes.append(note)
                        log("  " + note)
                    if wl[4].get("idle") and res.get("idle_open", 0) < wl[4]["idle"]:
                        notes.append(f"{name} round {rnd + 1} {kind}: only {res.get('idle_open', 0)} of "
                                     f"{wl[4]['idle']} idle connections opened")
                    if wl[4].get("idle_only") and res.get("plain_idle_open", 0) < wl[4]["idle"]:
                        notes.append(f"{name} round {rnd + 1} {kind}: only {res.get('plain_idle_open', 0)} of "
                                     f"{wl[4]['idle']} idle plain HTTP connections opened (the baseline)")
                    if wl[4].get("idle_only") and res.get("idle_still_open", 0) < res.get("idle_open", 0):
                        notes.append(f"{name} round {rnd + 1} {kind}: the server closed "
                                     f"{res['idle_open'] - res['idle_still_open']} of the idle TLS connections")
    except KeyboardInterrupt as e:
        log(f"bench: interrupted ({e}); partial results follow")
        notes.append("interrupted: partial results")
        status = 130
    except BenchError as e:
        log(f"bench: error: {e}")
        notes.append(f"error: {str(e).splitlines()[0]}")
        status = 1
    finally:
        cleanup_all()
        if args.keep:
            log(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - t_start
    notes += h2_notes(results, args)
    rows = summarize(results, args.workloads)
    if rows:
        m = info["machine"]
        print()
        print(f"webserv vs nginx (and h2o) — {m['date']} — {m['nproc']} CPUs, {m['cpu']}, {m['kernel']}")
        print(f"{args.rounds} round(s) x {args.duration} s, medians; ratio = webserv/nginx, "
              f"ratio w/h2o = webserv/h2o (medians of per-round ratios)")
        print()
        print("\n".join(table_lines(rows, markdown=False)))
        for n in notes:
            print("note: " + n)
        out = args.out
        if status:  # keep the last complete table; an interrupted run goes beside it
            out = os.path.join(os.path.dirname(out), "partial.md")
        write_markdown(out, info, args, rows, results, notes, elapsed)
        with open(os.path.splitext(out)[0] + ".json", "w") as f:
            json.dump({"machine": info["machine"], "args": {k: v for k, v in vars(args).items() if k != "workloads"},
                       "h2o_status": info.get("h2o_status"), "tls": info.get("tls", {}),
                       "h2": info.get("h2", {}),
                       "results": results}, f, indent=1, default=str)
        shown = os.path.relpath(out)
        print(f"\nwritten: {out if shown.startswith('..') else shown} (and .json); took {elapsed:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
