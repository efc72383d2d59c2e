"""TLS helpers for the integration tests: certificates made at test time
with the `openssl` command line, client contexts, a TLS version of
rawhttp.Conn, hand-made ClientHello records, and a client driven through
memory BIOs so that a test decides how its handshake bytes are split.

Every socket has a timeout; nothing here blocks without one.
"""

import os
import random
import select
import socket
import ssl
import struct
import subprocess
import time
import warnings
from pathlib import Path

import rawhttp

# A configuration of our own for `openssl req`, so that the system's
# openssl.cnf (its default extensions) changes nothing: every extension a
# certificate has is given on the command line.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
"""

LEAF = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
CA = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]


def _openssl(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=str(cwd), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                       env=dict(os.environ, OPENSSL_CONF=str(Path(cwd) / "req.cnf")))
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))


def _cert(d, name, cn, ext, ca=None, key="ec"):
    """d/NAME.pem and d/NAME.key: a certificate for CN with the extensions
    `ext`, self-signed (ca None) or signed by d/CA.pem + d/CA.key."""
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" \
        else ["-newkey", "rsa:2048"]
    args = ["req", "-x509", "-new"] + newkey + ["-nodes", "-days", "30", "-sha256",
                                                 "-subj", "/CN=" + cn,
                                                 "-keyout", name + ".key", "-out", name + ".pem"]
    if ca is not None:
        args += ["-CA", ca + ".pem", "-CAkey", ca + ".key"]
    for e in ext:
        args += ["-addext", e]
    _openssl(args, d)
    return d / (name + ".pem"), d / (name + ".key")


class Certs:
    """The certificates of the TLS tests, in one folder:
      ca                 the local CA (ECDSA P-256)
      localhost          ECDSA P-256 leaf for localhost and 127.0.0.1
      localhost_rsa      RSA 2048 leaf for the same names
      a                  ECDSA leaf for a.test
      wild               ECDSA leaf for *.wild.test
      client             client certificate (CN=test client) signed by ca
      other_ca, other_client   another CA and a client certificate it signed
      mismatch_key       an ECDSA key that belongs to no certificate
      garbage            a file that is not PEM
    Each NAME has NAME_pem / NAME_key paths (and pem(NAME)/key(NAME))."""

    def __init__(self, d):
        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        (d / "req.cnf").write_text(_OPENSSL_CNF)
        self.dir = d
        _cert(d, "ca", "webserv test CA", CA)
        _cert(d, "other_ca", "another test CA", CA)
        server = ["extendedKeyUsage=serverAuth"]
        _cert(d, "localhost", "localhost", LEAF + server + ["subjectAltName=DNS:localhost,IP:127.0.0.1"],
              ca="ca")
        _cert(d, "localhost_rsa", "localhost", LEAF + server + ["subjectAltName=DNS:localhost,IP:127.0.0.1"],
              ca="ca", key="rsa")
        _cert(d, "a", "a.test", LEAF + server + ["subjectAltName=DNS:a.test"], ca="ca")
        _cert(d, "wild", "*.wild.test", LEAF + server + ["subjectAltName=DNS:*.wild.test"], ca="ca")
        client = ["extendedKeyUsage=clientAuth"]
        _cert(d, "client", "test client", LEAF + client, ca="ca")
        _cert(d, "other_client", "stranger", LEAF + client, ca="other_ca")
        _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", "mismatch_key.key"], d)
        (d / "garbage.pem").write_bytes(b"this is not a certificate\n" + bytes(range(256)))

    def pem(self, name):
        return self.dir / (name + ".pem")

    def key(self, name):
        return self.dir / (name + ".key")

    def der(self, name):
        """DER bytes of the first certificate in NAME.pem."""
        return ssl.PEM_cert_to_DER_cert(self.pem(name).read_text())


# ---------------------------------------------------------------------------
# Client contexts and connections

VERSIONS = {
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1": ssl.TLSVersion.TLSv1,
}


def context(ca=None, version=None, alpn=None, ciphers=None, cert=None, key=None, tickets=True):
    """A client SSLContext. ca: verify the server against it (the name is
    not checked: tests read the certificate themselves); version: "TLSv1.2"
    or "TLSv1.3" forces exactly that version; alpn: list of protocols;
    ciphers: TLS 1.2 cipher string; cert/key: a client certificate;
    tickets=False: the client asks for no session ticket (TLS 1.2 resumes
    by session id then)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca is not None:
        ctx.load_verify_locations(cafile=str(ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        with warnings.catch_warnings():   # TLS 1.0/1.1 are deprecated: the tests offer them anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = VERSIONS[version]
            ctx.maximum_version = VERSIONS[version]
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


class TLSConn(rawhttp.Conn):
    """rawhttp.Conn over TLS: the TCP connection is made, then the handshake
    runs (within `timeout`). sni: the server name sent (None: no SNI).
    The rawhttp methods (send, read_response, wait_closed ...) work as over
    TCP; is_open() does not (it peeks)."""

    def __init__(self, port, ctx, sni="localhost", timeout=rawhttp.DEFAULT_TIMEOUT, session=None):
        super().__init__(port, timeout=timeout)
        raw = self.sock
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=sni, session=session)
        except BaseException:
            raw.close()
            raise

    @property
    def version(self):
        return self.sock.version()

    def close_notify(self):
        """Close as TLS wants: send close_notify and wait for the server's
        (within the timeout), then close the socket."""
        self.sock.settimeout(self.timeout)
        try:
            self.sock = self.sock.unwrap()
        finally:
            self.close()

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)

    def get(self, target, host="localhost", headers=None):
        self.send(rawhttp.build("GET", target, headers, host=host))
        return self.read_response()


def tls_get(port, ctx, target, sni="localhost", host="localhost", headers=None,
            timeout=rawhttp.DEFAULT_TIMEOUT):
    """One GET over a new TLS connection: (response, TLS version, peer DER)."""
    with TLSConn(port, ctx, sni=sni, timeout=timeout) as c:
        r = c.get(target, host=host, headers=headers)
        return r, c.version, c.peer_der()


# ---------------------------------------------------------------------------
# Hand-made records

def _ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def legacy_client_hello(version, sni="localhost", seed=1):
    """One TLS record holding a ClientHello of an old protocol (SSLv3 0x0300,
    TLS 1.0 0x0301, TLS 1.1 0x0302): CBC suites only, no supported_versions
    extension, so the client can speak nothing newer."""
    rnd = random.Random(seed)
    suites = [0xc009, 0xc013, 0xc00a, 0xc014, 0x002f, 0x0035, 0x000a, 0x00ff]
    name = sni.encode()
    exts = _ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)  # server_name
    exts += _ext(10, struct.pack("!HHH", 4, 0x0017, 0x0018))                 # supported_groups
    exts += _ext(11, b"\x01\x00")                                            # ec_point_formats
    body = struct.pack("!H", version) + bytes(rnd.getrandbits(8) for _ in range(32))
    body += b"\x00"                                                          # no session id
    body += struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
    body += b"\x01\x00"                                                      # null compression
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16" + struct.pack("!HH", min(version, 0x0301), len(hs)) + hs


def read_until_closed(sock, timeout):
    """Every byte the peer sends until it closes (EOF or reset): (bytes,
    closed). closed is False when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), False
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            return bytes(data), False
        except ConnectionResetError:
            return bytes(data), True
        if not b:
            return bytes(data), True
        data += b


def records(data):
    """Split bytes into TLS records [(type, version, payload)]; a trailing
    partial record is returned with the payload it has."""
    out = []
    pos = 0
    while pos + 5 <= len(data):
        kind, ver, n = struct.unpack("!BHH", data[pos:pos + 5])
        out.append((kind, ver, data[pos + 5:pos + 5 + n]))
        pos += 5 + n
    return out


def client_hello_session_id(flight):
    """The legacy_session_id of the ClientHello at the start of `flight`."""
    kind, _, payload = records(flight)[0]
    assert kind == 0x16 and payload[0] == 1, flight[:16]
    pos = 4 + 2 + 32
    n = payload[pos]
    return bytes(payload[pos + 1:pos + 1 + n])


# ---------------------------------------------------------------------------
# A client through memory BIOs

class BioClient:
    """A TLS client over a non-blocking socket, its TLS through memory BIOs:
    each step() sends at most `chunk` bytes of what TLS produced (None: all
    of it), so a handshake can be split byte by byte across TCP segments.
    requests: the request bytes to send once the handshake is done, all at
    once (pipeline=True) or each after the previous response. The
    responses arrive in self.responses; an error ends the client
    (self.error)."""

    def __init__(self, port, ctx, sni="localhost", requests=(), pipeline=False, chunk=None,
                 session=None, heads=None, timeout=rawhttp.DEFAULT_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.setblocking(False)
            self.inc = ssl.MemoryBIO()
            self.outb = ssl.MemoryBIO()
            self.obj = ctx.wrap_bio(self.inc, self.outb, server_hostname=sni, session=session)
        except BaseException:
            self.sock.close()
            raise
        self.chunk = chunk
        self.requests = list(requests)
        self.pipeline = pipeline
        self.next_request = 0
        self.pending = bytearray()
        self.plain = bytearray()
        self.responses = []
        self.handshaken = False
        self.eof = False
        self.error = None
        self.closed = False
        self.segments = 0          # send() calls that carried bytes

    def start(self):
        """Make the first flight (the ClientHello) without sending it: it is
        in self.pending afterwards."""
        self._handshake()
        self.pending += self.outb.read()
        return bytes(self.pending)

    @property
    def done(self):
        return self.closed or self.error is not None or self.eof or \
            len(self.responses) == len(self.requests)

    def close(self):
        if not self.closed:
            self.closed = True
            self.sock.close()

    def _handshake(self):
        if self.handshaken:
            return False
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        self.handshaken = True
        return True

    def _send_requests(self):
        if not self.handshaken or self.next_request >= len(self.requests):
            return
        if self.pipeline:
            while self.next_request < len(self.requests):
                self.obj.write(self.requests[self.next_request])
                self.next_request += 1
        elif self.next_request == len(self.responses):
            self.obj.write(self.requests[self.next_request])
            self.next_request += 1

    def step(self):
        """Do what can be done without waiting; True when something moved."""
        if self.done:
            return False
        moved = False
        try:
            moved |= self._handshake()
            self._send_requests()
            self.pending += self.outb.read()
            if self.pending:
                n = len(self.pending) if self.chunk is None else min(self.chunk, len(self.pending))
                try:
                    sent = self.sock.send(self.pending[:n])
                except BlockingIOError:
                    sent = 0
                if sent:
                    del self.pending[:sent]
                    self.segments += 1
                    moved = True
            try:
                data = self.sock.recv(262144)
            except BlockingIOError:
                data = None
            except ConnectionResetError:
                data = b""
            if data is not None:
                moved = True
                if data:
                    self.inc.write(data)
                else:
                    self.inc.write_eof()
            moved |= self._handshake()
            if self.handshaken:
                while True:
                    try:
                        d = self.obj.read(262144)
                    except ssl.SSLWantReadError:
                        break
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        d = b""
                    if not d:
                        self.eof = True
                        break
                    self.plain += d
                while len(self.responses) < len(self.requests):
                    r = rawhttp.try_parse(self.plain)
                    if r is None:
                        break
                    resp, n = r
                    del self.plain[:n]
                    self.responses.append(resp)
                    moved = True
                self._send_requests()
            if data == b"" and not self.handshaken:
                self.eof = True
        except (ssl.SSLError, OSError, AssertionError) as e:
            self.error = e
        return moved

    def want_write(self):
        return bool(self.pending) or self.outb.pending


def drive(clients, timeout):
    """Step the clients round-robin until each one is done; raises
    AssertionError at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        active = [c for c in clients if not c.done]
        if not active:
            return
        if time.monotonic() > deadline:
            raise AssertionError("%d of %d TLS clients not done after %.0f s; e.g. handshaken=%s "
                                 "responses=%d" % (len(active), len(clients), timeout,
                                                   active[0].handshaken, len(active[0].responses)))
        moved = False
        for c in active:
            moved |= c.step()
        if not moved:
            select.select([c.sock for c in active], [c.sock for c in active if c.want_write()],
                          [], 0.05)
