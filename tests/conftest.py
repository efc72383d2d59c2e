"""Fixtures for the webserv integration tests.

A test asks for `webserv` (function scope) or `module_webserv` (module
scope): a factory that writes a configuration into a temporary folder,
starts the binary on free 127.0.0.1 ports and returns a `Server`. On
teardown each server gets SIGTERM (its own PID only), must exit with status
0 within 5 s, and must not have printed any sanitizer report.

Configuration text may use placeholders:
  @PORT@ / @PORT0@, @PORT1@ ...  the free ports picked for this server
  @TMP@                          the server's temporary folder (absolute)
  @ROOT@                         @TMP@/www (make_site() fills it)
If the text has no `error_log` directive, `error_log @TMP@/error.log;` is
put in front of it.

WEBSERV_VALGRIND=1 (`make test-valgrind`) runs every server under valgrind
memcheck (VALGRIND_ARGS; log in @TMP@/valgrind-PID.log): errors or
definitely/indirectly lost blocks in the log of the server process fail the
test at teardown. Time limits that a server under valgrind cannot keep are
multiplied by SLOW (1 normally, 5 under valgrind).
"""

import gc
import os
import re
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = os.path.abspath(os.environ.get("WEBSERV_BIN", str(REPO / "webserv")))
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

# Valgrind mode: the server runs under memcheck, many times slower.
VALGRIND = os.environ.get("WEBSERV_VALGRIND", "") not in ("", "0")
SLOW = 5 if VALGRIND else 1
VALGRIND_ARGS = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                 "--show-leak-kinds=definite,indirect",
                 "--errors-for-leak-kinds=definite,indirect", "--track-fds=no",
                 "--trace-children=no", "--child-silent-after-fork=yes"]
VALGRIND_FAILURE = re.compile(r"ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]")

START_TIMEOUT = 10.0 * (3 if VALGRIND else 1)  # sanitizer builds on a loaded machine start slowly
STOP_TIMEOUT = 5.0 * (3 if VALGRIND else 1)    # valgrind's leak check runs at exit
TEST_TIMEOUT = 60 * SLOW  # per test, when pytest-timeout is installed

# The sanitizer build moves its input buffer at every read (BUF_MOVE_ON_RESERVE,
# src/buf.c) and frees the old block: ASan's default 256 MiB quarantine of
# freed blocks would then count as the server's memory in the tests that
# bound it. A small quarantine still holds the last hundreds of blocks.
os.environ.setdefault("ASAN_OPTIONS", "quarantine_size_mb=4")

# A fixed, known modification time for the files of the test sites:
# 2020-01-02 03:04:05 UTC.
MTIME = 1577934245
MTIME_HTTP = "Thu, 02 Jan 2020 03:04:05 GMT"


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


# The server inherits this limit: 1000 concurrent connections need it.
_raise_nofile()


def pytest_collection_modifyitems(config, items):
    # Bound every test in time when the pytest-timeout plugin is present.
    if not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture(autouse=True)
def no_descriptor_left():
    """After every test, the servers shared by a module hold no connection
    and no pipe of it (a leaked socket or CGI pipe fails the test)."""
    yield
    problems = []
    for f in _module_factories:
        problems += f.descriptor_leaks()
    assert not problems, "\n".join(problems)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def write_file(path, data, mtime=MTIME):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# A PNG signature plus a little data is enough: the type is by extension.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))

SITE = {
    "index.html": b"<html><body>index page</body></html>\n",
    "style.css": b"body { color: black; }\n",
    "img.png": PNG,
    "app.js": b"console.log('hi');\n",
    "readme.txt": b"hello readme\n",
    "digits.txt": b"0123456789abcdef",
    "file.zzunknown": b"\x00\x01\x02unknown type\n",
    "hello world.txt": b"hello with a space\n",
    "a/c.txt": b"this is a/c.txt\n",
    "a/b/d.txt": b"this is a/b/d.txt\n",
    "dir/x.txt": b"x in dir\n",
    "dir/a<b>&.txt": b"funny name\n",
    "dir/caf\u00e9 \"q\".txt": b"utf-8 name\n",
    "dir/sub2/z.txt": b"z\n",
    "sub/index.html": b"<html>sub index</html>\n",
    "sub/other.txt": b"sub other\n",
    "errors/404.html": b"<html><body>custom not found page</body></html>\n",
}


def make_site(root, extra=None):
    """Fill `root` with the standard test site (SITE) plus `extra`
    ({relative path: bytes}); every file gets MTIME. Returns the dict."""
    root = Path(root)
    files = dict(SITE)
    if extra:
        files.update(extra)
    for rel, data in files.items():
        write_file(root / rel, data)
    return files


def big_file(path, size=10 * 1024 * 1024):
    """A file of `size` pseudo-random bytes; returns its bytes."""
    data = os.urandom(size)
    write_file(path, data)
    return data


class Server:
    _counter = 0

    def __init__(self, tmp, conf, nports=1, args=None, name=None, nofile=None, preexec=None):
        Server._counter += 1
        self.name = name or "ws%d" % Server._counter
        self.tmp = Path(tmp).resolve()
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.root = self.tmp / "www"
        self.ports = free_ports(nports)
        self.port = self.ports[0]
        self.conf_path = self.tmp / (self.name + ".conf")
        self.error_log = self.tmp / (self.name + "-error.log")
        if "error_log" not in conf:
            conf = "error_log %s;\n" % self.error_log + conf
        self.conf_text = self.substitute(conf)
        self.conf_path.write_text(self.conf_text)
        self.stdout_path = self.tmp / (self.name + ".stdout")
        self.stderr_path = self.tmp / (self.name + ".stderr")
        self.args = [str(self.conf_path)] if args is None else [
            str(self.conf_path) if a == "@CONF@" else a for a in args]
        self.proc = None
        self.returncode = None
        self.killed = False
        self.nofile = nofile     # RLIMIT_NOFILE soft limit for the server
        self.preexec = preexec   # called in the child before exec (rlimits, setuid ...)

    def substitute(self, text):
        for i in reversed(range(len(self.ports))):
            text = text.replace("@PORT%d@" % i, str(self.ports[i]))
        return (text.replace("@PORT@", str(self.port))
                    .replace("@ROOT@", str(self.root))
                    .replace("@TMP@", str(self.tmp)))

    @property
    def pid(self):
        return self.proc.pid

    def valgrind_log(self):
        """Path of valgrind's log of the server process (valgrind mode)."""
        return self.tmp / ("valgrind-%d.log" % self.proc.pid)

    def start(self, wait=True):
        limit = self.nofile
        extra = self.preexec

        def preexec():
            if limit is not None:  # soft and hard: the server raises its soft limit to the hard one
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            if extra is not None:
                extra()
        cmd = [BIN] + self.args
        if VALGRIND:
            cmd = VALGRIND_ARGS + ["--log-file=%s/valgrind-%%p.log" % self.tmp] + cmd
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, cwd=str(self.tmp),
                                         start_new_session=True,
                                         preexec_fn=preexec if limit is not None or extra else None)
        if wait:
            self.wait_ready()
            self.settle_workers()
        return self

    def expected_workers(self):
        """The worker processes the configuration asks for (a single
        process serves when it asks for one)."""
        m = re.search(r"^\s*worker_processes\s+(\w+)\s*;", self.conf_text, re.M)
        if not m:
            return 1
        return os.cpu_count() if m.group(1) == "auto" else int(m.group(1))

    def settle_workers(self):
        """Take the pipe baseline once the master has forked its workers and
        their descriptors hold still: the master listens before it forks,
        and under valgrind every process has a pipe of its own (valgrind's
        scheduler lock), made as it forks."""
        n = self.expected_workers()
        if n > 1:
            wait_for(lambda: len(children(self.pid)) >= n, 5 * SLOW)
        seen = [len(self.held_descriptors()[1])]
        if n > 1:
            def stable():
                seen.append(len(self.held_descriptors()[1]))
                return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]
            wait_for(stable, 3 * SLOW, interval=0.1)
        self.baseline_pipes = seen[-1]

    def held_descriptors(self):
        """(TCP connections, pipes) the server's processes hold open: a
        connection is any TCP socket not in LISTEN state."""
        targets = open_paths(self.proc.pid)
        pipes = [t for t in targets if t.startswith("pipe:")]
        socks = {t[8:-1] for t in targets if t.startswith("socket:[")}
        conns = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        if fields[9] in socks and fields[3] != "0A":  # 0A: LISTEN
                            conns.append("%s state %s" % (fields[1], fields[3]))
            except OSError:
                pass
        return conns, pipes

    def descriptor_leak(self, timeout=5.0):
        """None once the server holds no client connection and no more pipes
        than when it started (within `timeout`), else what it still holds."""
        if self.proc is None or not self.alive() or getattr(self, "baseline_pipes", None) is None:
            return None
        state = {}

        def clean():
            conns, pipes = self.held_descriptors()
            state["held"] = (conns, pipes)
            return not conns and len(pipes) <= self.baseline_pipes
        if wait_for(clean, timeout * SLOW):
            return None
        conns, pipes = state["held"]
        return "%s holds %d connection(s) %s and %d pipe(s) (%d at start)" % (
            self.name, len(conns), conns[:5], len(pipes), self.baseline_pipes)

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        for port in self.ports:
            while not port_accepts(port):
                if self.proc.poll() is not None:
                    self.returncode = self.proc.returncode
                    raise AssertionError("webserv exited with %s before listening on %d\n"
                                         "stderr: %s\nconfig:\n%s" % (
                                             self.proc.returncode, port, self.stderr(),
                                             self.conf_text))
                if time.monotonic() > deadline:
                    raise AssertionError("webserv not listening on %d after %.0f s\nstderr: %s"
                                         % (port, START_TIMEOUT, self.stderr()))
                time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send `sig`, wait up to `timeout` s (then SIGKILL). Returns the exit
        status (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        return self.returncode

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stdout(self):
        try:
            return self.stdout_path.read_text(errors="replace")
        except OSError:
            return ""

    def error_log_text(self):
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        for text in (self.stderr(), self.stdout(), self.error_log_text()):
            for m in SANITIZER_MARKERS:
                if m in text:
                    return text
        return self.valgrind_report()

    def valgrind_report(self):
        """The valgrind log of the server process when it shows errors or
        lost memory (valgrind mode, after the server exited), else None."""
        if not VALGRIND or self.proc is None or self.proc.poll() is None:
            return None
        try:
            text = self.valgrind_log().read_text(errors="replace")
        except OSError:
            return None
        return text if VALGRIND_FAILURE.search(text) else None

    def finish(self):
        """Stop (if running) and list what went wrong."""
        problems = []
        if self.proc is None:
            return problems
        was_running = self.proc.poll() is None
        rc = self.stop()
        if self.killed:
            problems.append("%s: did not exit within %.0f s of SIGTERM (killed)"
                            % (self.name, STOP_TIMEOUT))
        elif was_running and rc != 0:
            problems.append("%s: exit status %s after SIGTERM; stderr:\n%s"
                            % (self.name, rc, self.stderr()[-3000:]))
        elif not was_running and rc not in (0, None) and not getattr(self, "expected_exit", False):
            problems.append("%s: exited by itself with status %s; stderr:\n%s"
                            % (self.name, rc, self.stderr()[-3000:]))
        rep = self.sanitizer_report()
        if rep is not None:
            problems.append("%s: sanitizer report:\n%s" % (self.name, rep[-6000:]))
        return problems


class _Factory:
    def __init__(self, tmp_dir_fn):
        self._tmp_dir_fn = tmp_dir_fn
        self.servers = []

    def __call__(self, conf, nports=1, args=None, site=True, extra_files=None, wait=True,
                 tmp=None, setup=None, nofile=None, preexec=None):
        """Start a server. site: fill @ROOT@ with the standard site (plus
        extra_files); setup(server): called before the start, to make more
        files (the server checks the folders its configuration names);
        nofile: RLIMIT_NOFILE soft limit (the server may raise it to the hard
        one); preexec(): called in the child before exec (rlimits, setuid)."""
        tmp = Path(tmp) if tmp is not None else self._tmp_dir_fn()
        srv = Server(tmp, conf, nports=nports, args=args, nofile=nofile, preexec=preexec)
        srv.files = make_site(srv.root, extra_files) if site else {}
        if setup is not None:
            setup(srv)
        self.servers.append(srv)
        srv.start(wait=wait)
        return srv

    def descriptor_leaks(self):
        """What the running servers still hold once their clients are gone."""
        gc.collect()  # a test's forgotten socket object closes here
        return [p for p in (s.descriptor_leak() for s in self.servers) if p]

    def finish(self):
        problems = self.descriptor_leaks()
        for s in self.servers:
            problems += s.finish()
        return problems


@pytest.fixture
def webserv(tmp_path):
    f = _Factory(lambda: tmp_path)
    yield f
    problems = f.finish()
    assert not problems, "\n".join(problems)


_module_factories = []


@pytest.fixture(scope="module")
def module_webserv(tmp_path_factory, request):
    name = request.module.__name__.split(".")[-1][:20]
    f = _Factory(lambda: tmp_path_factory.mktemp(name))
    _module_factories.append(f)
    yield f
    _module_factories.remove(f)
    problems = f.finish()
    assert not problems, "\n".join(problems)


BASIC_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
%s
}
"""


def basic_conf(server_extra="", main_extra=""):
    """A one-server configuration on @PORT@ with the site root."""
    return main_extra + BASIC_CONF % server_extra


# ---------------------------------------------------------------------------
# Process inspection and polling (uploads, DELETE, CGI tests)

def proc_status_kib(pid, field):
    """A `kB` field of /proc/PID/status (VmHWM, VmRSS ...) in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def vm_hwm(pid):
    """Peak resident set size of PID in bytes."""
    return proc_status_kib(pid, "VmHWM") * 1024


def proc_stat(pid):
    """(state, ppid) of PID from /proc/PID/stat, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def children(pid):
    """[(child pid, state)] of the processes whose parent is PID."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[1] == pid:
            out.append((int(name), st[0]))
    return out


def zombie_children(pid):
    return [c for c, state in children(pid) if state == "Z"]


def pid_running(pid):
    """True while PID exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def wait_for(pred, timeout=2.0, interval=0.02):
    """Poll pred() until it returns a true value or timeout passes; returns
    the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def dir_names(path):
    """Set of the entry names in a folder (hidden ones included)."""
    return set(os.listdir(path))


def open_paths(pid):
    """What the descriptors of PID and of its children point to (readlink
    of /proc/PID/fd/*), e.g. "/x/file", "socket:[123]", "pipe:[45]"."""
    out = []
    for p in [pid] + [c for c, _ in children(pid)]:
        try:
            names = os.listdir("/proc/%d/fd" % p)
        except OSError:
            continue
        for n in names:
            try:
                out.append(os.readlink("/proc/%d/fd/%s" % (p, n)))
            except OSError:
                pass
    return out


def has_open_file_under(pid, folder):
    """True when PID or a child has a file in `folder` open (an upload in
    progress has no name there: it is an O_TMPFILE)."""
    prefix = str(folder) + "/"
    return any(t.startswith(prefix) for t in open_paths(pid))
