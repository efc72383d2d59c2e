"""Raw HTTP/1.1 over plain sockets, for the integration tests.

Nothing here normalises what is sent: requests are exact bytes. Responses
are parsed strictly enough to notice framing mistakes of the server
(a HEAD that carries a body shows up as garbage before the next status
line). Every socket operation has a timeout.
"""

import errno
import select
import socket
import struct
import time

DEFAULT_TIMEOUT = 5.0
MAX_HEAD = 1 << 20


class ProtocolError(AssertionError):
    """The server sent something that is not a well-formed response."""


class Closed(AssertionError):
    """The server closed the connection before a complete response."""


class Timeout(AssertionError):
    """Nothing (or not enough) arrived within the time limit."""


class Headers:
    """Case-insensitive multi-dict that keeps the order and the spelling."""

    def __init__(self, items=()):
        self._items = list(items)

    def add(self, name, value):
        self._items.append((name, value))

    def get(self, name, default=None):
        n = name.lower()
        for k, v in self._items:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self._items if k.lower() == n]

    def count(self, name):
        return len(self.get_all(name))

    def __contains__(self, name):
        return self.count(name) > 0

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def items(self):
        return list(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return "Headers(%r)" % (self._items,)


class Response:
    def __init__(self, version, status, reason, headers, body, head):
        self.version = version      # "HTTP/1.1"
        self.status = status        # int
        self.reason = reason        # str
        self.headers = headers      # Headers
        self.body = body            # bytes
        self.head = head            # raw head bytes, status line to blank line

    @property
    def status_line(self):
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    def header_tokens(self, name):
        """Comma-separated list header (Allow, Connection) as lower-case tokens."""
        out = []
        for v in self.headers.get_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self):
        body = self.body[:300]
        more = "..." if len(self.body) > 300 else ""
        return "<Response %s %s %r body(%d)=%r%s>" % (
            self.status, self.reason, self.headers.items(), len(self.body), body, more)


def _parse_head(head):
    """head: bytes up to and excluding the blank line's CRLF CRLF."""
    lines = head.split(b"\r\n")
    status_line = lines[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() \
            or len(parts[1]) != 3:
        raise ProtocolError("bad status line %r (head %r)" % (status_line, head[:500]))
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = Headers()
    for raw in lines[1:]:
        line = raw.decode("latin-1")
        if ":" not in line:
            raise ProtocolError("header line without colon: %r (head %r)" % (line, head[:500]))
        name, value = line.split(":", 1)
        if name != name.strip() or not name:
            raise ProtocolError("bad header name %r" % (name,))
        headers.add(name, value.strip(" \t"))
    return version, status, reason, headers


def _no_body(status, head_request):
    return head_request or 100 <= status < 200 or status in (204, 304)


def _chunked_end(buf, start):
    """Decode a chunked body starting at buf[start]. Returns (body, end) or
    None when incomplete. Raises ProtocolError on bad framing."""
    pos = start
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise ProtocolError("chunk-size line too long")
            return None
        size_txt = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise ProtocolError("bad chunk size %r" % (size_txt,))
        pos = eol + 2
        if size == 0:
            # trailers up to an empty line
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return bytes(body), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos:pos + size]
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise ProtocolError("chunk data not followed by CRLF")
        pos += size + 2


def try_parse(buf, head_request=False, eof=False):
    """Parse one response from the start of buf (bytes/bytearray).
    Returns (Response, consumed) or None when more bytes are needed.
    eof: the peer has closed, so a body without length ends here."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise ProtocolError("response head over %d bytes" % MAX_HEAD)
        if eof and buf:
            raise ProtocolError("connection closed inside a response head: %r" % bytes(buf[:500]))
        return None
    head = bytes(buf[:end])
    version, status, reason, headers = _parse_head(head)
    start = end + 4
    if _no_body(status, head_request):
        return Response(version, status, reason, headers, b"", head), start
    te = headers.get_all("Transfer-Encoding")
    cls = headers.get_all("Content-Length")
    if te:
        if te[-1].split(",")[-1].strip().lower() != "chunked":
            raise ProtocolError("unknown transfer-encoding %r" % (te,))
        r = _chunked_end(buf, start)
        if r is None:
            if eof:
                raise Closed("connection closed inside a chunked body")
            return None
        body, n = r
        return Response(version, status, reason, headers, body, head), n
    if cls:
        if len(set(cls)) != 1 or not cls[0].isdigit():
            raise ProtocolError("bad Content-Length %r" % (cls,))
        n = int(cls[0])
        if len(buf) < start + n:
            if eof:
                raise Closed("connection closed after %d of %d body bytes"
                             % (len(buf) - start, n))
            return None
        return Response(version, status, reason, headers, bytes(buf[start:start + n]),
                        head), start + n
    if not eof:
        return None
    return Response(version, status, reason, headers, bytes(buf[start:]), head), len(buf)


class Conn:
    """One client connection to 127.0.0.1:port (or host: "::1" for IPv6)."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect((host, port))
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.eof = False
        self.reset = False   # the peer reset the connection (ECONNRESET)

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with a TCP RST (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def _recv(self, deadline):
        """Read what is available (waiting until deadline). Returns the number
        of bytes read; 0 means EOF (or reset). Raises Timeout."""
        if self.eof:
            return 0
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("timed out; received so far: %r" % bytes(self.buf[:800]))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise Timeout("timed out; received so far: %r" % bytes(self.buf[:800]))
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return 0
        if not data:
            self.eof = True
            return 0
        self.buf += data
        return len(data)

    def read_response(self, head=False, timeout=None):
        """One response (1xx included) from the connection."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            r = try_parse(self.buf, head_request=head, eof=self.eof)
            if r is not None:
                resp, n = r
                del self.buf[:n]
                return resp
            if self.eof:
                if self.buf:
                    raise Closed("connection closed inside a response: %r" % bytes(self.buf[:500]))
                raise Closed("connection closed (%s) before a response"
                             % ("reset" if self.reset else "EOF"))
            self._recv(deadline)

    def read_final(self, head=False, timeout=None):
        """(list of 1xx responses, final response)."""
        interim = []
        while True:
            r = self.read_response(head=head, timeout=timeout)
            if 100 <= r.status < 200:
                interim.append(r)
                continue
            return interim, r

    def read_responses(self, n, heads=None, timeout=None):
        heads = heads or [False] * n
        return [self.read_response(head=heads[i], timeout=timeout) for i in range(n)]

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            if self._recv(deadline) == 0:
                raise Closed("closed after %d of %d bytes" % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def wait_closed(self, timeout=2.0):
        """True when the server closes (EOF or reset) within timeout; bytes
        that arrive meanwhile are kept in self.buf. False on timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                self._recv(deadline)
            except Timeout:
                return False
        return True

    def is_open(self, wait=0.2):
        """True when the connection is still open after `wait` seconds and no
        byte arrived."""
        if self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return True
        try:
            self.sock.settimeout(0.5)
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            return False
        except socket.timeout:
            return True
        return False  # EOF, or unexpected bytes

    def drain_until_closed(self, timeout=5.0, limit=None):
        """Read everything until EOF; returns total bytes (buffer is cleared
        as it goes). Raises Timeout if still open at the deadline."""
        deadline = time.monotonic() + timeout
        total = len(self.buf)
        self.buf.clear()
        while not self.eof:
            n = self._recv(deadline)
            total += n
            self.buf.clear()
            if limit is not None and total > limit:
                break
        return total


def build(method="GET", target="/", headers=None, body=b"", version="HTTP/1.1",
          host="localhost"):
    """Request bytes. headers: list of (name, value) or dict; Host first
    unless host is None. Content-Length is NOT added automatically."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for k, v in items:
            lines.append("%s: %s" % (k, v))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode("latin-1")
    return data + body


def request(port, data, head=None, timeout=DEFAULT_TIMEOUT):
    """Open a connection, send data, read one final response, close."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    if head is None:
        head = data.lstrip(b"\r\n").startswith(b"HEAD ")
    with Conn(port, timeout=timeout) as c:
        c.send(data)
        return c.read_final(head=head)[1]


def get(port, target, headers=None, host="localhost", method="GET", version="HTTP/1.1",
        body=b"", timeout=DEFAULT_TIMEOUT):
    return request(port, build(method, target, headers, body, version, host),
                   head=(method == "HEAD"), timeout=timeout)
