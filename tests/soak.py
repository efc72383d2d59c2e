#!/usr/bin/python3
"""Sustained load (`make soak`): siege in benchmark mode, 255 concurrent
users for 60 s, on a mix of static files, a Python CGI script and uploads.

Passes when siege reports 100 % availability and no failed transaction,
and the server neither holds more descriptors nor uses more memory after
the run than before it, and leaves no zombie or CGI child behind.

The "before" numbers are taken after a warm-up pass of siege identical to
the measured one (same URLs, concurrency and duration: the open-file cache,
the buffer pools and the allocator reach their working size), the "after"
numbers once the server is idle again (no child left, descriptor count
steady; it may still be running CGI scripts for requests that were in flight
when siege stopped). Slack: FD_SLACK descriptors (the open-file cache keeps
descriptors of the files over 32 KiB it has seen) and RSS_SLACK_KIB of
resident memory.

    tests/soak.py [--time 60S] [--warmup 60S] [--concurrency 255] [--record] [--keep]

--record (or SOAK_RECORD=1 make soak) writes the result to tests/SOAK.md. Needs siege (installed from
Debian's archive when missing and run as root). Only 127.0.0.1; every
process it starts is stopped by its PID.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = os.path.abspath(os.environ.get("WEBSERV_BIN", str(REPO / "webserv")))
RECORD = HERE / "SOAK.md"

FD_SLACK = 4
RSS_SLACK_KIB = 4 * 1024
SETTLE = 3.0          # idle seconds before a measurement
SIEGE_OVERRUN = 30    # seconds past -t before siege is killed
WARMUP = None        # default: as long as the measured run (an identical pass)

KiB = 1024


def log(msg):
    print("soak: " + msg, flush=True)


# ---------------------------------------------------------------------------
# set-up

def ensure_siege():
    path = shutil.which("siege")
    if path:
        return path
    if os.geteuid() != 0:
        sys.exit("soak: siege is not installed (apt-get install siege, as root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("installing siege")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "siege"], env=env, timeout=600)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "siege"], env=env, check=True,
                       timeout=600)
    path = shutil.which("siege")
    if not path:
        sys.exit("soak: siege still missing after apt-get")
    return path


def raise_nofile():
    """Siege's 255 users and the server's connections need descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


HELLO_PY = r"""#!/usr/bin/python3
import os, sys
q = os.environ.get("QUERY_STRING", "")
body = ("hello from cgi, query=%s, method=%s\n" % (q, os.environ.get("REQUEST_METHOD"))) * 20
sys.stdout.write("Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
"""

CONF = """
error_log {tmp}/error.log;
server {{
    listen 127.0.0.1:{port};
    root {tmp}/www;
    index index.html;
    client_max_body_size 1m;
    location /up/ {{
        allow_methods GET HEAD POST PUT DELETE;
        upload_store {tmp}/www/up;
    }}
    location /cgi-bin/ {{
        cgi .py /usr/bin/python3;
    }}
}}
"""

# siege's own settings, so that ~/.siegerc does not matter
SIEGERC = """
verbose = false
color = off
quiet = false
json_output = false
show-logfile = false
logging = false
parser = false
protocol = HTTP/1.1
chunked = true
cache = false
connection = {connection}
limit = 255
internet = false
accept-encoding = identity
url-escaping = true
timeout = 30
failures = 1000000
"""

NSMALL = 20
NBIG = 4
BIG_SIZE = 100 * KiB


def make_site(tmp, port):
    www = tmp / "www"
    (www / "small").mkdir(parents=True)
    (www / "big").mkdir()
    (www / "cgi-bin").mkdir()
    (www / "up").mkdir()
    (www / "index.html").write_text("<html><body>soak</body></html>\n")
    for i in range(NSMALL):
        (www / "small" / ("%d.txt" % i)).write_text(("small file %d\n" % i) * (i + 1) * 4)
    for i in range(NBIG):
        (www / "big" / ("%d.bin" % i)).write_bytes(os.urandom(BIG_SIZE))
    cgi = www / "cgi-bin" / "hello.py"
    cgi.write_text(HELLO_PY)
    cgi.chmod(0o755)
    (tmp / "post-4k.bin").write_bytes(os.urandom(4 * KiB))
    conf = tmp / "soak.conf"
    conf.write_text(CONF.format(tmp=tmp, port=port))
    # the mix, interleaved (each siege user walks the list in order): 10
    # lines of static files (2 of them 100 KiB), 2 of the CGI, 2 of uploads
    # (a form body, a 4 KiB file body)
    base = "http://127.0.0.1:%d" % port
    urls = [base + "/",
            base + "/cgi-bin/hello.py?a=1",
            base + "/small/0.txt",
            base + "/up/ POST name=value&other=thing",
            base + "/big/0.bin",
            base + "/small/5.txt",
            base + "/small/10.txt",
            base + "/cgi-bin/hello.py?b=2",
            base + "/small/15.txt",
            base + "/up/ POST <" + str(tmp / "post-4k.bin"),
            base + "/big/%d.bin" % (NBIG - 1),
            base + "/small/19.txt",
            base + "/small/3.txt",
            base + "/small/7.txt"]
    urls_file = tmp / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n")
    return conf, urls_file, len(urls)


# ---------------------------------------------------------------------------
# the server

def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_list(pid):
    out = []
    for n in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, n)))
        except OSError:
            pass
    return sorted(out)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def children(pid):
    """[(pid, state)] of PID's children."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append((int(name), rest[0]))
    return out


def settle(pid, quiet=SETTLE, timeout=60.0):
    """Wait until PID has no child and its descriptor count has not changed
    for `quiet` seconds (after siege stops, the server may still be running
    CGI scripts for requests that were in flight). Returns the seconds waited."""
    t0 = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - t0 < timeout:
        now = (fd_count(pid), len(children(pid)))
        if now != last:
            last, since = now, time.monotonic()
        elif now[1] == 0 and time.monotonic() - since >= quiet:
            break
        time.sleep(0.1)
    return time.monotonic() - t0


def snapshot(pid):
    kids = children(pid)
    return {"fds": fd_count(pid), "rss_kib": rss_kib(pid),
            "zombies": sum(1 for _, s in kids if s == "Z"), "children": len(kids)}


class Sampler(threading.Thread):
    """VmRSS and descriptor count of the server every `every` seconds."""

    def __init__(self, pid, every=1.0):
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.samples = []
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.wait(self.every):
            try:
                self.samples.append((rss_kib(self.pid), fd_count(self.pid)))
            except OSError:
                return

    def finish(self):
        self.stop_ev.set()
        self.join(5)
        return self.samples


class Cleaner(threading.Thread):
    """Removes stored uploads now and then (the mix would otherwise leave
    tens of thousands of files); the server's hidden temporaries are left
    alone."""

    def __init__(self, store):
        super().__init__(daemon=True)
        self.store = store
        self.removed = 0
        self.stop_ev = threading.Event()

    def sweep(self):
        for name in os.listdir(self.store):
            if name.startswith("."):
                continue
            try:
                os.unlink(self.store / name)
                self.removed += 1
            except OSError:
                pass

    def run(self):
        while not self.stop_ev.wait(2.0):
            self.sweep()


# ---------------------------------------------------------------------------
# siege

def run_siege(siege, rc, urls_file, concurrency, duration, out_path):
    """Run siege (benchmark mode) with its own rc file; returns (stdout+stderr
    text, return code). Killed by its PID when it overruns."""
    secs = int(re.match(r"(\d+)", duration).group(1)) * (60 if duration.upper().endswith("M") else 1)
    cmd = [siege, "-R", str(rc), "-b", "-c", str(concurrency), "-t", duration, "-f", str(urls_file)]
    with open(out_path, "wb") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            p.wait(secs + SIEGE_OVERRUN)
        except subprocess.TimeoutExpired:
            log("siege overran by %d s: killing pid %d" % (SIEGE_OVERRUN, p.pid))
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
    return Path(out_path).read_text(errors="replace"), p.returncode


FIELDS = {
    "transactions": r"Transactions:\s*([\d.]+)",
    "availability": r"Availability:\s*([\d.]+)",
    "elapsed_s": r"Elapsed time:\s*([\d.]+)",
    "data_mb": r"Data transferred:\s*([\d.]+)",
    "response_time_s": r"Response time:\s*([\d.]+)",
    "rate": r"Transaction rate:\s*([\d.]+)",
    "throughput_mb_s": r"Throughput:\s*([\d.]+)",
    "concurrency": r"Concurrency:\s*([\d.]+)",
    "successful": r"Successful transactions:\s*([\d.]+)",
    "failed": r"Failed transactions:\s*([\d.]+)",
    "longest_s": r"Longest transaction:\s*([\d.]+)",
    "shortest_s": r"Shortest transaction:\s*([\d.]+)",
}
JSON_KEYS = {
    "transactions": "transactions", "availability": "availability",
    "elapsed_s": "elapsed_time", "data_mb": "data_transferred",
    "response_time_s": "response_time", "rate": "transaction_rate",
    "throughput_mb_s": "throughput", "concurrency": "concurrency",
    "successful": "successful_transactions", "failed": "failed_transactions",
    "longest_s": "longest_transaction", "shortest_s": "shortest_transaction",
}


def parse_siege(text):
    """Siege's summary, as text ("Availability: 100.00 %") or JSON."""
    res = {}
    for key, rx in FIELDS.items():
        m = re.search(rx, text)
        if m:
            res[key] = float(m.group(1))
    if len(res) < 4:
        start = text.rfind("{")
        while start >= 0:
            try:
                data = json.loads(text[start:text.rindex("}") + 1])
                for key, jk in JSON_KEYS.items():
                    if jk in data:
                        res[key] = float(data[jk])
                break
            except ValueError:
                start = text.rfind("{", 0, start)
    return res


def siege_errors(text):
    """siege's [error] lines, counted by message."""
    errs = {}
    for line in text.splitlines():
        if "[error]" in line or "[alert]" in line:
            msg = re.sub(r"\d+", "N", line.strip())[:120]
            errs[msg] = errs.get(msg, 0) + 1
    return errs


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time", default="60S", help="siege -t (default 60S)")
    ap.add_argument("--concurrency", type=int, default=255, help="siege -c (default 255)")
    ap.add_argument("--warmup", default=WARMUP,
                    help="siege -t of the warm-up run (default: the same as --time)")
    ap.add_argument("--connection", default="keep-alive", choices=["keep-alive", "close"])
    ap.add_argument("--record", action="store_true",
                    default=os.environ.get("SOAK_RECORD", "") not in ("", "0"),
                    help="write the result to tests/SOAK.md (also: SOAK_RECORD=1 make soak)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = args.time

    if not os.access(BIN, os.X_OK):
        sys.exit("soak: %s not built (make)" % BIN)
    siege = ensure_siege()
    nofile = raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="webserv-soak-"))
    port = free_port()
    conf, urls_file, nurls = make_site(tmp, port)
    rc_file = tmp / "siegerc"
    rc_file.write_text(SIEGERC.format(connection=args.connection))
    siege_version = subprocess.run([siege, "-V"], capture_output=True, text=True,
                                   timeout=10).stderr.strip().splitlines()
    siege_version = siege_version[0] if siege_version else "?"

    started = datetime.datetime.now(datetime.timezone.utc)
    server_out = open(tmp / "server.out", "wb")
    server = subprocess.Popen([BIN, str(conf)], stdin=subprocess.DEVNULL, stdout=server_out,
                              stderr=subprocess.STDOUT, cwd=str(tmp), start_new_session=True)
    cleaner = Cleaner(tmp / "www" / "up")
    problems = []
    result = {}
    try:
        if not wait_listening(port, server):
            sys.exit("soak: webserv did not start: %s" % (tmp / "server.out").read_text())
        cleaner.start()
        log("server pid %d on 127.0.0.1:%d; %d URLs; RLIMIT_NOFILE %d" % (
            server.pid, port, nurls, nofile))
        initial = snapshot(server.pid)

        log("warm-up: siege -b -c %d -t %s" % (args.concurrency, args.warmup))
        text, _ = run_siege(siege, rc_file, urls_file, args.concurrency, args.warmup,
                            tmp / "warmup.out")
        warm = parse_siege(text)
        settle(server.pid)
        before = snapshot(server.pid)
        fds_before = fd_list(server.pid)

        log("soak: siege -b -c %d -t %s" % (args.concurrency, args.time))
        t0 = time.monotonic()
        sampler = Sampler(server.pid)
        sampler.start()
        text, siege_rc = run_siege(siege, rc_file, urls_file, args.concurrency, args.time,
                                   tmp / "siege.out")
        samples = sampler.finish()
        wall = time.monotonic() - t0
        res = parse_siege(text)
        errs = siege_errors(text)
        during_alive = server.poll() is None
        settled = settle(server.pid) if during_alive else 0.0
        after = snapshot(server.pid) if server.poll() is None else None
        fds_after = fd_list(server.pid) if after else []

        result = {"siege": res, "warmup": warm, "siege_rc": siege_rc, "siege_errors": errs,
                  "initial": initial, "before": before, "after": after, "wall_s": wall,
                  "settled_s": settled,
                  "peak_rss_kib": max([r for r, _ in samples] or [0]),
                  "peak_fds": max([f for _, f in samples] or [0])}
        # verdict
        if not during_alive or after is None:
            problems.append("the server died (status %s)" % server.poll())
        if "availability" not in res or "failed" not in res:
            problems.append("no siege summary; output:\n" + text[-3000:])
        else:
            if res["availability"] < 100.0:
                problems.append("availability %.2f %% < 100 %%" % res["availability"])
            if res["failed"] > 0:
                problems.append("%d failed transactions" % res["failed"])
        if after is not None:
            if after["fds"] > before["fds"] + FD_SLACK:
                gone = sorted(set(fds_after) - set(fds_before))
                problems.append("descriptors grew: %d -> %d (new: %r)" % (
                    before["fds"], after["fds"], gone[:20]))
            if after["rss_kib"] > before["rss_kib"] + RSS_SLACK_KIB:
                problems.append("RSS grew: %d -> %d KiB" % (before["rss_kib"], after["rss_kib"]))
            if after["zombies"]:
                problems.append("%d zombie children" % after["zombies"])
            if after["children"]:
                problems.append("%d children still running" % after["children"])
        if errs:
            problems.append("siege errors: %r" % errs)
    finally:
        cleaner.stop_ev.set()
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGKILL)
                server.wait(5)
                problems.append("server did not exit within 10 s of SIGTERM")
        server_out.close()
        if server.returncode not in (0, None):
            problems.append("server exit status %s after SIGTERM" % server.returncode)
        cleaner.join(5)
        cleaner.sweep()
        leftovers = os.listdir(tmp / "www" / "up")
        if leftovers:
            problems.append("left in the upload store: %r" % leftovers[:10])
        error_log = (tmp / "error.log").read_text(errors="replace") if (tmp / "error.log").exists() else ""
        errors_logged = [ln for ln in error_log.splitlines() if "[error]" in ln.lower() or " error " in ln.lower()]
        result["error_log_errors"] = errors_logged[:20]
        result["uploads_removed"] = cleaner.removed
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    block = report(result, problems, args, started, siege_version, nurls)
    print(block)
    if args.record:
        write_record(block)
        log("written to %s" % RECORD)
    if problems:
        log("FAILED")
        return 1
    log("passed")
    return 0


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / (1 << 20))
    except (OSError, ValueError, IndexError):
        pass
    osname = platform.platform()
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "%s, %d CPUs, %s RAM, %s, Linux %s" % (cpu, os.cpu_count() or 0, mem, osname,
                                                 platform.release())


def report(result, problems, args, started, siege_version, nurls):
    s = result.get("siege", {})
    b, a = result.get("before") or {}, result.get("after") or {}
    i = result.get("initial") or {}

    def g(d, k, fmt="%s"):
        return fmt % d[k] if k in d and d[k] is not None else "?"

    lines = [
        "date:          %s" % started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine:       %s" % machine(),
        "siege:         %s, -b -c %d -t %s (after a -t %s warm-up), connection %s, %d URLs" % (
            siege_version, args.concurrency, args.time, args.warmup, args.connection, nurls),
        "transactions:  %s (%s trans/s), successful %s, failed %s" % (
            g(s, "transactions", "%d"), g(s, "rate", "%.1f"), g(s, "successful", "%d"),
            g(s, "failed", "%d")),
        "availability:  %s %%" % g(s, "availability", "%.2f"),
        "response time: %s s average, longest %s s; elapsed %s s; %s MB transferred" % (
            g(s, "response_time_s", "%.3f"), g(s, "longest_s", "%.2f"), g(s, "elapsed_s", "%.2f"),
            g(s, "data_mb", "%.2f")),
        "descriptors:   %s at start, %s after warm-up, %s after the run (slack %d)" % (
            g(i, "fds"), g(b, "fds"), g(a, "fds"), FD_SLACK),
        "VmRSS:         %s KiB at start, %s KiB after warm-up, %s KiB after the run (slack %d KiB)" % (
            g(i, "rss_kib"), g(b, "rss_kib"), g(a, "rss_kib"), RSS_SLACK_KIB),
        "during run:    peak VmRSS %s KiB, peak %s descriptors" % (
            g(result, "peak_rss_kib"), g(result, "peak_fds")),
        "children:      %s zombies, %s running after the run (idle %s s after siege ended)" % (
            g(a, "zombies"), g(a, "children"), g(result, "settled_s", "%.1f")),
        "uploads:       %d stored files removed by the sweeper" % result.get("uploads_removed", 0),
        "error log:     %d error lines%s" % (len(result.get("error_log_errors", [])),
                                             "" if not result.get("error_log_errors") else
                                             " (first: %s)" % result["error_log_errors"][0]),
        "verdict:       %s" % ("PASS" if not problems else "FAIL: " + "; ".join(problems)),
    ]
    return "\n".join(lines)


def write_record(block):
    head = ("# Soak test results\n\n"
            "`make soak` (tests/soak.py): siege in benchmark mode, 255 concurrent users for\n"
            "60 s on a mix of static files (small and 100 KiB), a Python CGI script and\n"
            "POST uploads, after an identical warm-up pass. Pass: availability 100 %%, no\n"
            "failed transaction, no descriptor growth (beyond %d, for the open-file cache)\n"
            "and no RSS growth beyond %d KiB from after the warm-up to after the run\n"
            "(each measured once the server is idle), no zombie, no CGI left running.\n"
            "`tests/soak.py --record` rewrites the block below.\n\n"
            % (FD_SLACK, RSS_SLACK_KIB))
    old = RECORD.read_text() if RECORD.exists() else ""
    notes = ""
    marker = "\n## Notes\n"
    if marker in old:
        notes = old[old.index(marker):]
    RECORD.write_text(head + "## Last run\n\n```\n" + block + "\n```\n" + notes)


if __name__ == "__main__":
    sys.exit(main())
