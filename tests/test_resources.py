"""Exhausted resources: out of descriptors (RLIMIT_NOFILE 256 with 1000
clients), a full disk during an upload (RLIMIT_FSIZE, and ENOSPC on a
small tmpfs when one can be mounted), fork failure for a CGI (RLIMIT_NPROC
as an unprivileged user), and clients that reset while a CGI streams a
large output (SIGPIPE).

Every limit is set for the server's process alone, soft and hard alike (the
server raises its soft RLIMIT_NOFILE to the hard one at start), in a
preexec function of the fixture.
"""

import errno
import os
import pwd
import resource
import select
import selectors
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path

import pytest

import httpbody
import rawhttp
from conftest import SLOW, children, dir_names, wait_for, write_file, zombie_children

KiB = 1 << 10
MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def limits(*pairs):
    """A preexec function that sets each (RLIMIT_x, value) as soft and hard
    limit: the server cannot raise it."""
    def preexec():
        for res, value in pairs:
            resource.setrlimit(res, (value, value))
    return preexec


def cpu_seconds(pid):
    """utime + stime of PID (its own, not its children's) in seconds."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read().decode("latin-1")
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_limit(pid, name):
    """(soft, hard) of a line of /proc/PID/limits, e.g. 'Max open files'."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith(name):
                parts = line[len(name):].split()
                return parts[0], parts[1]
    raise KeyError(name)


def stamped(i, size):
    """size bytes that differ for each i (the client checks every byte)."""
    block = (b"file %06d " % i) * (size // 12 + 1)
    return block[:size]


# ---------------------------------------------------------------------------
# out of descriptors

NOFILE = 256
NCLIENTS = 1000
NFILES = 300
FILE_SIZE = 128 * KiB   # over the open-file cache's in-memory size: served from a descriptor

NOFILE_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    keepalive_timeout 120s;
    client_header_timeout 120s;
    location = /ok { return 200 "ok"; }
}
"""


class Client:
    """One non-blocking client of the crowd."""

    def __init__(self, i, port):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # a small window: the server holds the file open while it sends
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.setblocking(False)
        err = self.sock.connect_ex(("127.0.0.1", port))
        assert err in (0, errno.EINPROGRESS), os.strerror(err)
        self.buf = bytearray()
        self.responses = []
        self.target = "/f/%d.bin" % (i % NFILES)
        self.sent = False
        self.closed = False     # by the server
        self.gone = False       # by us

    def close(self, reset=False):
        if self.gone:
            return
        self.gone = True
        if reset:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.sock.close()


class Crowd:
    """Drives many clients with one selector: each connects, sends one GET,
    reads the response and keeps the connection (or closes it)."""

    def __init__(self, port, n):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.clients = [Client(i, port) for i in range(n)]
        for c in self.clients:
            self.sel.register(c.sock, selectors.EVENT_WRITE, c)
        self.close_after_response = False

    def request(self, c, target):
        c.target = target
        c.sock.send(rawhttp.build("GET", target))  # small: fits the send buffer
        c.sent = True
        if c.sock in self.sel.get_map():
            self.sel.modify(c.sock, selectors.EVENT_READ, c)
        else:
            self.sel.register(c.sock, selectors.EVENT_READ, c)

    def drop(self, c, reset=False):
        """The client leaves (with a TCP reset when asked)."""
        if c.sock in self.sel.get_map():
            self.sel.unregister(c.sock)
        c.close(reset)

    def step(self, timeout):
        for key, ev in self.sel.select(timeout):
            c = key.data
            if ev & selectors.EVENT_WRITE and not c.sent:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert err == 0, "client %d: connect: %s" % (c.i, os.strerror(err))
                self.request(c, c.target)
                continue
            try:
                data = c.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.sel.unregister(c.sock)
                c.closed = True
                continue
            c.buf += data
            r = rawhttp.try_parse(c.buf)
            if r is not None:
                resp, n = r
                del c.buf[:n]
                c.responses.append((c.target, resp))
                self.sel.unregister(c.sock)
                if self.close_after_response:
                    c.close()

    def run(self, until, timeout, quiet=None):
        """Step until until() is true, timeout passes, or (quiet) nothing new
        happened for `quiet` seconds. Returns until()."""
        deadline = time.monotonic() + timeout
        last, last_t = self.progress(), time.monotonic()
        while not until() and time.monotonic() < deadline:
            self.step(0.1)
            p = self.progress()
            if p != last:
                last, last_t = p, time.monotonic()
            elif quiet is not None and time.monotonic() - last_t > quiet:
                break
        return until()

    def progress(self):
        return sum(len(c.responses) for c in self.clients), sum(len(c.buf) for c in self.clients)

    def close(self):
        self.sel.close()
        for c in self.clients:
            c.close()


def check_response(srv, target, r):
    """A complete response: the file, or a 503 when no descriptor was left to open it."""
    if r.status == 503:
        return "503"
    assert r.status == 200, (target, r)
    if target == "/ok":
        assert r.body == b"ok"
    else:
        i = int(target.rsplit("/", 1)[1].split(".")[0])
        assert r.body == stamped(i, FILE_SIZE), "wrong body for %s" % target
    return "200"


def test_out_of_descriptors_1000_clients(webserv):
    """RLIMIT_NOFILE 256 (soft and hard) and 1000 clients connecting at
    once, each asking for a different 128 KiB file: the connections the
    server holds get complete responses, it does not spin while it cannot
    accept, it keeps serving the connections it holds, and once clients
    leave the waiting ones and new ones are served."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= NCLIENTS + 200, "the test itself needs descriptors: %d" % soft
    files = {"f/%d.bin" % i: stamped(i, FILE_SIZE) for i in range(NFILES)}
    srv = webserv(NOFILE_CONF, extra_files=files,
                  preexec=limits((resource.RLIMIT_NOFILE, NOFILE)))
    assert proc_limit(srv.pid, "Max open files") == (str(NOFILE), str(NOFILE))
    crowd = Crowd(srv.port, NCLIENTS)
    statuses = {"200": 0, "503": 0}
    try:
        # 1. all connect at once and send a request; the server takes what
        # its descriptors allow and answers them completely
        crowd.run(lambda: all(c.responses for c in crowd.clients), 30 * SLOW, quiet=2.0 * SLOW)
        held = [c for c in crowd.clients if c.responses]
        waiting = [c for c in crowd.clients if not c.responses]
        assert len(held) >= 50, "only %d clients answered" % len(held)
        assert waiting, "all %d clients answered at once: is RLIMIT_NOFILE %d in force?" % (
            NCLIENTS, NOFILE)
        for c in held:
            statuses[check_response(srv, *c.responses[0])] += 1
            assert not c.closed, "client %d: connection closed after its response" % c.i
        assert statuses["200"] >= len(held) // 2, statuses
        for c in waiting:
            assert not c.buf, "client %d: partial response %r" % (c.i, bytes(c.buf[:200]))
        assert srv.alive()

        # 2. saturated (a full backlog, no descriptor to accept it): no spinning
        cpu0 = cpu_seconds(srv.pid)
        time.sleep(1.0)
        cpu = cpu_seconds(srv.pid) - cpu0
        assert cpu < 0.3, "server used %.2f s of CPU in 1 s while out of descriptors" % cpu

        # 3. the connections it holds are still served: a file and a return
        for k, c in enumerate(held):
            crowd.request(c, "/ok" if k % 2 else "/f/%d.bin" % ((c.i + 7) % NFILES))
        crowd.run(lambda: all(len(c.responses) == 2 for c in held), 20 * SLOW)
        for c in held:
            assert len(c.responses) == 2, "held client %d: no second response (closed: %s)" % (
                c.i, c.closed)
            statuses[check_response(srv, *c.responses[1])] += 1

        # 4. the held clients leave, half of the waiting ones too (some with
        # a reset); the other waiting ones are all answered in turn
        crowd.close_after_response = True
        for c in held:
            crowd.drop(c)
        stay = []
        for k, c in enumerate(waiting):
            if k % 2:
                stay.append(c)
            else:
                crowd.drop(c, reset=(k % 4 == 0))
        crowd.run(lambda: all(c.responses for c in stay) or not srv.alive(), 30 * SLOW)
        assert srv.alive(), "the server died: status %s" % srv.proc.poll()
        answered = [c for c in stay if c.responses]
        assert len(answered) == len(stay), "%d of %d waiting clients answered" % (
            len(answered), len(stay))
        for c in stay:
            statuses[check_response(srv, *c.responses[0])] += 1
    finally:
        crowd.close()
    # 5. everyone left: a new client is served within a couple of seconds
    t0 = time.monotonic()
    while True:
        try:
            r = rawhttp.get(srv.port, "/f/1.bin", timeout=1.0 * SLOW)
            break
        except (rawhttp.Closed, rawhttp.Timeout, OSError):
            assert time.monotonic() - t0 < 2.0 * SLOW, "no new client served after the crowd left"
            time.sleep(0.05)
    assert r.status == 200 and r.body == stamped(1, FILE_SIZE), r
    for i in range(20):
        assert rawhttp.get(srv.port, "/ok", timeout=2 * SLOW).status == 200
    assert srv.alive()
    print("responses: %r; held at once: %d" % (statuses, len(held)))


# ---------------------------------------------------------------------------
# a full disk during an upload

UPLOAD_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    client_max_body_size 100m;
    location /up/ {
        allow_methods GET HEAD POST PUT DELETE;
        upload_store @ROOT@/up;
    }
}
"""

BIG = 5 * MiB
FSIZE = 1 * MiB


def upload(port, kind, body, timeout=20.0, name="big.bin"):
    """One upload to /up/: kind is post, post-chunked, put or multipart.
    The body goes from a thread while the response is read (the server may
    answer before it has all of it)."""
    method, coding, headers = "POST", "length", []
    target = "/up/"
    if kind == "post-chunked":
        coding = "chunked"
    elif kind == "put":
        method, target = "PUT", "/up/" + name
    elif kind == "multipart":
        body = httpbody.multipart([httpbody.file_part(name, body)], "xYzZy")
        headers = [("Content-Type", "multipart/form-data; boundary=xYzZy")]
    return httpbody.request_with_body(port, method, target, body, headers, timeout=timeout,
                                      coding=coding)


def store_empty(store):
    return wait_for(lambda: not dir_names(store), 2.0 * SLOW)


def check_goes_on(srv, store):
    """After a failed upload: a small one works, and so do files."""
    small = os.urandom(1000)
    r = upload(srv.port, "post", small)
    assert r.status == 201, r
    loc = r.headers["Location"]
    g = rawhttp.get(srv.port, loc)
    assert g.status == 200 and g.body == small, g
    r = upload(srv.port, "put", b"put body", name="small.txt")
    assert r.status == 201, r
    assert (store / "small.txt").read_bytes() == b"put body"
    g = rawhttp.get(srv.port, "/readme.txt")
    assert g.status == 200 and g.body == b"hello readme\n"
    for n in dir_names(store):
        os.unlink(store / n)


KINDS = ["post", "post-chunked", "put", "multipart"]


@pytest.fixture(scope="module")
def fsize_srv(module_webserv):
    return module_webserv(UPLOAD_CONF, setup=lambda s: (s.root / "up").mkdir(),
                          preexec=limits((resource.RLIMIT_FSIZE, FSIZE)))


@pytest.mark.parametrize("kind", KINDS)
def test_file_size_limit_507(fsize_srv, kind):
    """RLIMIT_FSIZE 1 MiB and a 5 MiB upload: 507 (EFBIG, SIGXFSZ ignored),
    no partial or temporary file, and the server goes on."""
    srv = fsize_srv
    store = srv.root / "up"
    assert proc_limit(srv.pid, "Max file size") == (str(FSIZE), str(FSIZE))
    r = upload(srv.port, kind, os.urandom(BIG), timeout=20 * SLOW)
    assert r.status == 507, r
    assert srv.alive()
    assert store_empty(store), "left in the store: %r" % dir_names(store)
    check_goes_on(srv, store)


@pytest.fixture
def mounts():
    """Mount points to unmount at teardown (after the server stops: list
    this fixture before `webserv`)."""
    points = []
    yield points
    for p in reversed(points):
        r = subprocess.run(["umount", str(p)], capture_output=True, timeout=20)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(p)], capture_output=True, timeout=20)


TMPFS_SIZE = 2 * MiB


def test_full_tmpfs_507(mounts, webserv):
    """The store on a 2 MiB tmpfs: a 5 MiB upload fills it (ENOSPC) → 507,
    nothing left behind; a full disk refuses a small upload (507) until space
    is freed; the server goes on."""
    def setup(s):
        store = s.root / "up"
        store.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % TMPFS_SIZE,
                            "tmpfs", str(store)], capture_output=True, timeout=20)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs: %s" % r.stderr.decode(errors="replace").strip())
        mounts.append(store)

    srv = webserv(UPLOAD_CONF, setup=setup)
    store = srv.root / "up"
    for kind in KINDS:
        r = upload(srv.port, kind, os.urandom(BIG), timeout=20 * SLOW)
        assert r.status == 507, (kind, r)
        assert store_empty(store), (kind, dir_names(store))
        assert srv.alive()
    check_goes_on(srv, store)
    # a disk that is full already
    st = os.statvfs(store)
    filler = store / "filler"
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * (st.f_bavail * st.f_frsize))
            f.flush()
        except OSError:
            pass
    assert os.statvfs(store).f_bavail * os.statvfs(store).f_frsize < 64 * KiB
    r = upload(srv.port, "post", os.urandom(200 * KiB), timeout=10 * SLOW)
    assert r.status == 507, r
    assert wait_for(lambda: dir_names(store) == {"filler"}, 2.0 * SLOW), dir_names(store)
    os.unlink(filler)
    check_goes_on(srv, store)


# ---------------------------------------------------------------------------
# fork failure for a CGI

CGI_CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    client_max_body_size 100m;
    location /cgi-bin/ {
        cgi .py /usr/bin/python3;
    }
}
"""

HELLO_PY = r"""#!/usr/bin/python3
import sys
sys.stdout.write("Content-Type: text/plain\r\n\r\nhello from cgi\n")
"""


def tasks_of_uid(uid):
    """Number of tasks (threads included: RLIMIT_NPROC counts them) whose
    real user id is uid."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%s/task/%s/status" % (pid, tid)) as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                n += 1
                            break
            except OSError:
                pass
    return n


@pytest.fixture
def world_tmp():
    """A folder outside pytest's private (0700) temporary tree, for a server
    that runs as another user; removed at teardown (list this fixture before
    `webserv`)."""
    d = Path(tempfile.mkdtemp(prefix="webserv-res-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def chown_tree(path, uid, gid):
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, gid)
        for n in filenames:
            os.chown(os.path.join(dirpath, n), uid, gid)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_fork_failure_cgi_503(world_tmp, webserv):
    """The server runs as `nobody` with a soft RLIMIT_NPROC at the number of
    processes nobody has (itself included; it does not raise that limit): its
    fork for a CGI fails with EAGAIN → 503; static files are still served;
    once the limit is lifted the CGI runs again."""
    pw = pwd.getpwnam("nobody")
    nproc = tasks_of_uid(pw.pw_uid) + 1   # + the server itself

    hard = nproc + 8

    def become_nobody():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, hard))
        os.setuid(pw.pw_uid)

    def setup(s):
        p = write_file(s.root / "cgi-bin/hello.py", HELLO_PY, mtime=None)
        os.chmod(p, 0o755)
        chown_tree(s.tmp, pw.pw_uid, pw.pw_gid)

    srv = webserv(CGI_CONF, tmp=world_tmp, setup=setup, preexec=become_nobody)
    try:
        assert proc_limit(srv.pid, "Max processes") == (str(nproc), str(hard))
        for i in range(3):
            r = rawhttp.get(srv.port, "/cgi-bin/hello.py", timeout=5 * SLOW)
            assert r.status == 503, r
            assert b"<html" in r.body.lower(), r
            g = rawhttp.get(srv.port, "/readme.txt")
            assert g.status == 200 and g.body == b"hello readme\n", g
        # a keep-alive connection goes on after the 503
        with rawhttp.Conn(srv.port, timeout=5 * SLOW) as c:
            c.send(rawhttp.build("GET", "/cgi-bin/hello.py") + rawhttp.build("GET", "/readme.txt"))
            a, b = c.read_responses(2)
            assert a.status == 503 and b.status == 200, (a, b)
        assert not children(srv.pid)
        assert srv.alive()
        # processes can be made again: the CGI works
        set_nproc_as(pw, srv.pid, hard)
        r = rawhttp.get(srv.port, "/cgi-bin/hello.py", timeout=5 * SLOW)
        assert r.status == 200 and r.body == b"hello from cgi\n", r
    finally:
        # LeakSanitizer needs a thread at exit: never leave the limit to the teardown
        if srv.alive():
            set_nproc_as(pw, srv.pid, hard)


def set_nproc_as(pw, pid, soft):
    """Raise the soft RLIMIT_NPROC of PID (up to its hard limit) from a
    process of the same user: root has no CAP_SYS_RESOURCE in every
    container, and prlimit() on another user's process needs it."""
    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    code = "import resource; resource.prlimit(%d, resource.RLIMIT_NPROC, (%d, %d))" % (
        pid, soft, soft)
    subprocess.run(["/usr/bin/python3", "-c", code], preexec_fn=drop, check=True, timeout=10,
                   stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------
# SIGPIPE: clients that reset while a CGI streams

STREAM_PY = r"""#!/usr/bin/python3
import os
os.write(1, b"Content-Type: application/octet-stream\r\n\r\n")
block = bytes(range(256)) * 256
n = int(os.environ.get("QUERY_STRING") or 2000)   # 128 MiB unless the server stops reading
for i in range(n):
    b = (b"%016x" % i) + block[16:]
    while b:
        b = b[os.write(1, b):]
"""

STREAM_BLOCK = bytes(range(256)) * 256

# echoes its stdin as it reads it: the server writes to the script while it
# sends the script's output to the client
ECHO_PY = r"""#!/usr/bin/python3
import os
os.write(1, b"Content-Type: application/octet-stream\r\n\r\n")
while True:
    b = os.read(0, 65536)
    if not b:
        break
    while b:
        b = b[os.write(1, b):]
"""


@pytest.fixture(scope="module")
def cgi_srv(module_webserv):
    def setup(s):
        for rel, text in (("cgi-bin/stream.py", STREAM_PY), ("cgi-bin/hello.py", HELLO_PY),
                          ("cgi-bin/echo.py", ECHO_PY)):
            p = write_file(s.root / rel, text, mtime=None)
            os.chmod(p, 0o755)
    return module_webserv(CGI_CONF, setup=setup)


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_reset_while_cgi_streams(cgi_srv, version):
    """20 clients reset (RST) while a CGI streams a large output, at various
    points: the server survives (no SIGPIPE death), kills or lets the
    scripts end, reaps them all, and goes on serving."""
    srv = cgi_srv
    for i in range(20):
        c = rawhttp.Conn(srv.port, timeout=10 * SLOW)
        c.send(rawhttp.build("GET", "/cgi-bin/stream.py", version=version))
        if i % 5 != 4:
            c.read_exact(100 + i * 30000)
        else:
            time.sleep(0.05)   # the script has started; nothing read
        c.abort()
    assert srv.alive(), "server died (SIGPIPE?)"
    assert wait_for(lambda: not children(srv.pid), 10.0 * SLOW), \
        "CGI processes left: %r" % children(srv.pid)
    assert not zombie_children(srv.pid)
    r = rawhttp.get(srv.port, "/readme.txt")
    assert r.status == 200 and r.body == b"hello readme\n", r
    r = rawhttp.get(srv.port, "/cgi-bin/hello.py", timeout=5 * SLOW)
    assert r.status == 200 and r.body == b"hello from cgi\n", r
    # a whole (shorter) stream still arrives intact after all that
    crc = [0]
    with rawhttp.Conn(srv.port, timeout=30 * SLOW) as c:
        c.send(rawhttp.build("GET", "/cgi-bin/stream.py?40", version=version))
        resp = httpbody.read_streamed(c, lambda b: crc.__setitem__(0, zlib.crc32(b, crc[0])),
                                      timeout=30 * SLOW)
    assert resp.status == 200, resp
    want = 0
    for i in range(40):
        want = zlib.crc32((b"%016x" % i) + STREAM_BLOCK[16:], want)
    assert (resp.body_len, crc[0]) == (40 * len(STREAM_BLOCK), want)


def send_until(sock, unit, count, stop, last=b""):
    """Send `unit` `count` times, then `last`, without blocking, until `stop`
    is set or the connection fails."""
    data = memoryview(unit)
    pos, sent = 0, 0
    while not stop.is_set() and sent < count:
        _, w, _ = select.select([], [sock], [], 0.05)
        if not w:
            continue
        try:
            pos += sock.send(data[pos:], socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return
        if pos == len(data):
            pos, sent = 0, sent + 1
    if sent == count and last:
        try:
            sock.send(last, socket.MSG_DONTWAIT)
        except OSError:
            pass


@pytest.mark.parametrize("coding", ["length", "chunked"])
def test_reset_while_cgi_echoes_body(cgi_srv, coding):
    """20 clients reset while they send an 8 MiB body to a CGI that echoes
    it: the server is writing to the script's stdin and reading its stdout
    when the client goes; it survives, no script is left, it goes on."""
    srv = cgi_srv
    size = 8 * MiB
    block = os.urandom(64 * KiB)
    unit = b"%x\r\n%s\r\n" % (len(block), block) if coding == "chunked" else block
    for i in range(20):
        c = rawhttp.Conn(srv.port, timeout=10 * SLOW)
        hdr = ("Transfer-Encoding", "chunked") if coding == "chunked" else (
            "Content-Length", str(size))
        c.send(rawhttp.build("POST", "/cgi-bin/echo.py", [hdr]))
        stop = threading.Event()
        t = threading.Thread(target=send_until, args=(
            c.sock, unit, size // len(block), stop, b"0\r\n\r\n" if coding == "chunked" else b""),
            daemon=True)
        t.start()
        try:
            if i % 4 != 3:
                head = c.read_exact(12)
                assert head == b"HTTP/1.1 200", head + bytes(c.buf[:300])
                c.read_exact(100 + i * 50000)
            else:
                time.sleep(0.05)
        finally:
            stop.set()
            t.join(10)
            c.abort()   # after the sender is out of its send(): the reset goes at once
    assert srv.alive(), "server died (SIGPIPE?)"
    assert wait_for(lambda: not children(srv.pid), 10.0 * SLOW), \
        "CGI processes left: %r" % children(srv.pid)
    assert not zombie_children(srv.pid)
    body = os.urandom(3 * MiB)
    r = httpbody.request_with_body(srv.port, "POST", "/cgi-bin/echo.py", body,
                                   timeout=30 * SLOW, coding=coding)
    assert r.status == 200 and r.body == body, r
