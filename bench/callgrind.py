#!/usr/bin/python3
"""Instructions per request, counted by valgrind's callgrind: repeatable on
a shared, noisy machine, unlike requests/s.

    /usr/bin/python3 bench/callgrind.py [BINARY]      (default ./webserv)

Serves a 612-byte file and runs two fixed request loads against the server
under callgrind: N1 then N2 keep-alive requests on one connection, and M1
then M2 requests each on its own connection ("Connection: close"). The
difference between the two totals, divided by the difference in requests,
is the cost of one request without the start-up.

The keep-alive load runs over TLS too (TLS 1.3, ECDSA P-256, a throwaway
certificate): the count then includes OpenSSL's record layer and cipher.
And over HTTP/2 (h2c, when h2load is installed): 200 then 4,200 requests on
one connection, 16 streams at a time; the count includes nghttp2.
"""
import os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./webserv")
REQ = b"GET /small.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: callgrind\r\n\r\n"
CLOSE = b"GET /small.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise EOFError
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    while len(rest) < n:
        rest += sock.recv(65536)
    return rest[n:]


def make_cert(tmp):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", os.path.join(tmp, "cert.key"), "-out", os.path.join(tmp, "cert.pem"),
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)


def run(tmp, keepalive, close, tls=False, h2=0):
    """h2: that many requests over one h2c connection (h2load, 16 streams at a time) instead."""
    port = free_port()
    conf = os.path.join(tmp, "cg.conf")
    tls_lines = "listen 127.0.0.1:%d ssl; ssl_certificate %s/cert.pem; ssl_certificate_key %s/cert.key;" % (
        port, tmp, tmp)
    plain = "listen 127.0.0.1:%d%s;" % (port, " http2" if h2 else "")
    with open(conf, "w") as f:
        f.write("error_log %s/error.log;\nserver { %s root %s; }\n" % (
            tmp, tls_lines if tls else plain, tmp))
    out = os.path.join(tmp, "callgrind.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, BIN, conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if h2:
            got = subprocess.run(["h2load", "-n", str(h2), "-c", "1", "-m", "16",
                                  "http://127.0.0.1:%d/small.html" % port],
                                 capture_output=True, text=True, timeout=300).stdout
            if not re.search(r"^requests: %d total, %d started, %d done, %d succeeded" % (h2, h2, h2, h2), got, re.M):
                raise RuntimeError("h2load did not complete its requests:\n" + got)
            keepalive = 0
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            s = ctx.wrap_socket(s, server_hostname="localhost")
        buf = b""
        for _ in range(keepalive):
            s.sendall(REQ)
            buf = read_response(s, buf)
        s.close()
        for _ in range(close):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(CLOSE)
            read_response(c, b"")
            c.close()
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    with open(out) as f:
        m = re.search(r"^summary:\s+(\d+)", f.read(), re.M)
    return int(m.group(1))


def main():
    if not shutil.which("valgrind"):
        sys.exit("valgrind is missing (apt-get install valgrind)")
    tmp = tempfile.mkdtemp(prefix="webserv-cg-")
    try:
        with open(os.path.join(tmp, "small.html"), "wb") as f:
            f.write(b"x" * 611 + b"\n")
        base = run(tmp, 100, 0)
        ka = run(tmp, 2100, 0)
        cl = run(tmp, 100, 1000)
        print("keep-alive: %d instructions per request" % ((ka - base) // 2000))
        print("close:      %d instructions per request (connection included)" % ((cl - base) // 1000))
        make_cert(tmp)
        tls_base = run(tmp, 100, 0, tls=True)
        tls_ka = run(tmp, 2100, 0, tls=True)
        print("tls keep-alive: %d instructions per request (TLS 1.3, OpenSSL included)" % ((tls_ka - tls_base) // 2000))
        if shutil.which("h2load"):
            h2_base = run(tmp, 0, 0, h2=200)
            h2_many = run(tmp, 0, 0, h2=4200)
            print("h2c: %d instructions per request (16 streams at a time, nghttp2 included)" % (
                (h2_many - h2_base) // 4000))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
