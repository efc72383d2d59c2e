"""HTTP/2 clients for the integration tests.

Two clients, both over a plain socket or a TLS one (ALPN h2), both with a
timeout on every socket operation:

  H2Client  drives python3-h2's H2Connection (client side): well-formed
            requests, bodies sent within the peer's flow-control windows,
            responses collected per stream; the client opens the windows as
            it consumes DATA (connection always, a stream unless it is
            `frozen`). h2 checks the server's framing (windows, frame
            sizes, header rules) and raises on a violation.

  RawH2     writes frames built by hand (struct + hpack) and reads frames
            with its own parser, so that a test can send what h2 refuses
            to produce (floods, malformed headers, bad SETTINGS) and can
            keep reading after a GOAWAY (h2 closes its state machine on the
            first GOAWAY, which a graceful shutdown does not).

Frame builders (frame, settings_frame, headers_frame, ...) and the hpack
helpers (hp_literal, hp_indexed) are module functions.
"""

import select
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

import rawhttp

DEFAULT_TIMEOUT = 10.0
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
FRAME_NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST_STREAM: "RST_STREAM",
               SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE", PING: "PING", GOAWAY: "GOAWAY",
               WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}

# flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# error codes (RFC 9113 section 7)
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
CONNECT_ERROR = 0xa
ENHANCE_YOUR_CALM = 0xb
INADEQUATE_SECURITY = 0xc
HTTP_1_1_REQUIRED = 0xd
ERROR_NAMES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR", 0x3: "FLOW_CONTROL_ERROR",
               0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED", 0x6: "FRAME_SIZE_ERROR",
               0x7: "REFUSED_STREAM", 0x8: "CANCEL", 0x9: "COMPRESSION_ERROR", 0xa: "CONNECT_ERROR",
               0xb: "ENHANCE_YOUR_CALM", 0xc: "INADEQUATE_SECURITY", 0xd: "HTTP_1_1_REQUIRED"}

# settings
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

DEFAULT_WINDOW = 65535


def error_name(code):
    if code is None:
        return "None"
    return "%s(%d)" % (ERROR_NAMES.get(int(code), "UNKNOWN"), int(code))


# ---------------------------------------------------------------------------
# Frame builders

def frame(ftype, flags, sid, payload=b""):
    """One frame: 9-byte header + payload (any length: a test may lie)."""
    n = len(payload)
    return struct.pack("!BHBBI", (n >> 16) & 0xff, n & 0xffff, ftype, flags, sid & 0xffffffff) + payload


def settings_frame(pairs=(), ack=False, sid=0):
    return frame(SETTINGS, ACK if ack else 0, sid,
                 b"".join(struct.pack("!HI", k, v & 0xffffffff) for k, v in pairs))


def ping_frame(opaque=b"\0" * 8, ack=False):
    return frame(PING, ACK if ack else 0, 0, opaque)


def rst_frame(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack("!I", code))


def window_update_frame(sid, increment):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack("!I", increment & 0x7fffffff))


def goaway_frame(last_sid, code, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack("!II", last_sid, code) + debug)


def data_frame(sid, payload=b"", end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, sid, payload)


def headers_frame(sid, block, end_stream=True, end_headers=True):
    return frame(HEADERS, (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0),
                 sid, block)


def continuation_frame(sid, block, end_headers=False):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, block)


# ---------------------------------------------------------------------------
# HPACK by hand (RFC 7541), for header blocks the encoder would not make

def hp_int(value, prefix_bits, first=0):
    """An HPACK integer with an N-bit prefix; `first` holds the bits above
    the prefix of the first byte."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_string(s):
    if isinstance(s, str):
        s = s.encode("latin-1")
    return hp_int(len(s), 7) + s          # no Huffman


def hp_indexed(index):
    """Indexed header field (static 1..61, dynamic from 62)."""
    return hp_int(index, 7, 0x80)


def hp_literal(name, value, indexing=False):
    """A literal header field with a literal name: with incremental indexing
    (added to the dynamic table) or without indexing."""
    if indexing:
        return b"\x40" + hp_string(name) + hp_string(value)
    return b"\x00" + hp_string(name) + hp_string(value)


def encode_block(headers):
    """A header block of literals without indexing: it leaves the decoder's
    dynamic table as it is, whatever the server does with the request.
    Names and values go as given (no lower-casing, no checks)."""
    return b"".join(hp_literal(n, v) for n, v in headers)


def request_headers(method="GET", path="/", authority="localhost", scheme="http", extra=()):
    return [(":method", method), (":scheme", scheme), (":authority", authority),
            (":path", path)] + list(extra)


# ---------------------------------------------------------------------------
# Responses

class Stream:
    """What came back on one stream."""

    def __init__(self, sid):
        self.sid = sid
        self.headers = None          # rawhttp.Headers of the final response (pseudo-headers excluded)
        self.status = None           # int
        self.informational = []      # 1xx header lists
        self.trailers = None
        self.data = bytearray()
        self.data_frames = 0
        self.ended = False           # END_STREAM received
        self.reset = None            # RST_STREAM error code received
        self.window_frozen = False

    @property
    def body(self):
        return bytes(self.data)

    @property
    def done(self):
        return self.ended or self.reset is not None

    def _set_headers(self, pairs):
        fields = [(n.decode("latin-1") if isinstance(n, bytes) else n,
                   v.decode("latin-1") if isinstance(v, bytes) else v) for n, v in pairs]
        status = [v for n, v in fields if n == ":status"]
        if self.status is not None:
            self.trailers = rawhttp.Headers(fields)
            return
        code = int(status[0]) if status else None
        if code is not None and 100 <= code < 200:
            self.informational.append(fields)
            return
        self.status = code
        self.headers = rawhttp.Headers([(n, v) for n, v in fields if not n.startswith(":")])
        self.raw_headers = fields

    def __repr__(self):
        return "<stream %d status=%s ended=%s reset=%s body=%d bytes %r headers=%r>" % (
            self.sid, self.status, self.ended, error_name(self.reset) if self.reset is not None else None,
            len(self.data), bytes(self.data[:200]), self.headers)


def wrap_tls(sock, ctx, sni="localhost", alpn_required="h2"):
    """TLS over a connected socket; the handshake must select ALPN
    `alpn_required` (None: no check)."""
    try:
        tls = ctx.wrap_socket(sock, server_hostname=sni)
    except BaseException:
        sock.close()
        raise
    if alpn_required is not None and tls.selected_alpn_protocol() != alpn_required:
        got = tls.selected_alpn_protocol()
        tls.close()
        raise AssertionError("ALPN selected %r, not %r" % (got, alpn_required))
    return tls


def connect(port, ctx=None, sni="localhost", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
    """A TCP connection to 127.0.0.1:port (TLS with ALPN h2 when ctx)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    if ctx is not None:
        s = wrap_tls(s, ctx, sni)
    return s


# ---------------------------------------------------------------------------
# A client on python3-h2

class H2Client:
    """An HTTP/2 client on h2.connection.H2Connection.

    window: our SETTINGS_INITIAL_WINDOW_SIZE (stream windows); the
    connection window stays 65,535 and is reopened as DATA is consumed.
    Each stream's window is reopened as its DATA arrives unless the stream
    is frozen (freeze(sid) / request(..., frozen=True)).
    """

    def __init__(self, port, ctx=None, sni="localhost", authority="localhost",
                 timeout=DEFAULT_TIMEOUT, window=None, max_frame_size=None):
        self.timeout = timeout
        self.authority = authority
        self.scheme = "https" if ctx is not None else "http"
        self.sock = connect(port, ctx, sni, timeout)
        self.streams = {}
        self.goaways = []              # [(error code, last stream id)]
        self.remote_settings = {}
        self.settings_acked = False
        self.eof = False
        self.frozen = set()
        self.window_updates_sent = 0
        try:
            cfg = h2.config.H2Configuration(client_side=True, header_encoding=None)
            self.conn = h2.connection.H2Connection(config=cfg)
            init = {h2.settings.SettingCodes.ENABLE_PUSH: 0,
                    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                    h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20}
            if window is not None:
                init[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = window
            if max_frame_size is not None:
                init[h2.settings.SettingCodes.MAX_FRAME_SIZE] = max_frame_size
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=init)
            self.conn.initiate_connection()
            self.flush()
        except BaseException:
            self.sock.close()
            raise

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Say GOAWAY (when the connection still works) and close."""
        try:
            if not self.eof and not self.goaways:
                self.conn.close_connection()
                self.flush()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(out)

    # -- requests
    def request(self, method, path, headers=(), body=None, end_stream=True, authority=None,
                frozen=False, scheme=None):
        """Send a request's HEADERS (and its body, within the windows);
        returns the stream id. end_stream=False leaves the stream open
        (after the body, if any) for send_body()."""
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", scheme or self.scheme),
                (":authority", authority or self.authority), (":path", path)] + list(headers)
        self.streams[sid] = Stream(sid)
        if frozen:
            self.freeze(sid)
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and body is None)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end_stream=end_stream)
        return sid

    def send_body(self, sid, data, end_stream=True, chunk=16384, timeout=None):
        """Send `data` on the stream in DATA frames no larger than `chunk`,
        waiting for WINDOW_UPDATEs when a window is closed. Stops early
        (and cancels the stream) when the server has already answered the
        whole request, or resets it. Returns the bytes sent."""
        deadline = time.monotonic() + (timeout or self.timeout)
        st = self.streams[sid]
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if st.reset is not None:
                return pos
            if st.ended:   # answered before the whole body went (413 ...)
                try:
                    self.conn.reset_stream(sid, CANCEL)
                    self.flush()
                except h2.exceptions.StreamClosedError:
                    pass
                return pos
            try:
                n = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                        len(view) - pos, chunk or len(view))
            except h2.exceptions.StreamClosedError:
                return pos
            if n <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError("stream %d: the server opened no window for the body "
                                         "(%d of %d bytes sent)" % (sid, pos, len(view)))
                self.pump(min(0.5, max(0.01, deadline - time.monotonic())))
                if self.eof:
                    raise AssertionError("connection closed while sending the body of stream %d "
                                         "(%d of %d bytes sent)" % (sid, pos, len(view)))
                continue
            self.conn.send_data(sid, view[pos:pos + n].tobytes())
            pos += n
            self.flush()
            self.pump(0)   # take WINDOW_UPDATEs and early answers as they come
        if end_stream and st.reset is None and not st.ended:
            try:
                self.conn.end_stream(sid)
                self.flush()
            except h2.exceptions.StreamClosedError:
                pass
        return pos

    def freeze(self, sid):
        """Stop reopening the stream's window (the connection window is still
        reopened, so other streams go on)."""
        self.frozen.add(sid)

    def thaw(self, sid):
        """Reopen a frozen stream's window to the full 2^31-1 and let it
        flow as the others do from now on."""
        self.frozen.discard(sid)
        try:
            room = self.conn.remote_flow_control_window(sid)
            if room < 0x7fffffff:
                self.conn.increment_flow_control_window(0x7fffffff - room, sid)
                self.window_updates_sent += 1
            self.flush()
        except h2.exceptions.StreamClosedError:
            pass

    # -- receiving
    def pump(self, timeout):
        """Read once (waiting at most `timeout`), handle the events, send
        what h2 wants to send. Returns True when bytes (or EOF) arrived."""
        if self.eof:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 18)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return True
        events = self.conn.receive_data(data)
        for ev in events:
            self._handle(ev)
        try:
            self.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
        return True

    def _handle(self, ev):
        sid = getattr(ev, "stream_id", None)
        st = self.streams.get(sid) if sid else None
        if isinstance(ev, (h2.events.ResponseReceived, h2.events.InformationalResponseReceived,
                           h2.events.TrailersReceived)):
            st._set_headers(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            st.data += ev.data
            st.data_frames += 1
            n = ev.flow_controlled_length
            if n:
                self.conn.increment_flow_control_window(n)      # the connection's window
                self.window_updates_sent += 1
                if sid not in self.frozen and ev.stream_ended is None:
                    try:
                        self.conn.increment_flow_control_window(n, sid)
                        self.window_updates_sent += 1
                    except h2.exceptions.StreamClosedError:
                        pass
        elif isinstance(ev, h2.events.StreamEnded):
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st.reset = int(ev.error_code)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaways.append((int(ev.error_code), ev.last_stream_id))
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.remote_settings[int(k)] = v.new_value
        elif isinstance(ev, h2.events.SettingsAcknowledged):
            self.settings_acked = True
        elif isinstance(ev, h2.events.PushedStreamReceived):
            raise AssertionError("PUSH_PROMISE although we said SETTINGS_ENABLE_PUSH 0")

    def wait(self, pred, timeout=None, what="condition"):
        """Pump until pred() is true; AssertionError on timeout or when the
        connection ends first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not pred():
            if self.eof or self.goaways:
                raise AssertionError("connection ended (eof=%s goaway=%s) while waiting for %s; "
                                     "streams: %r" % (self.eof, self._goaway_text(), what,
                                                      list(self.streams.values())[-3:]))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; streams: %r"
                                     % (what, list(self.streams.values())[-3:]))
            self.pump(min(left, 1.0))
        return True

    def _goaway_text(self):
        return [(error_name(c), last) for c, last in self.goaways]

    def response(self, sid, timeout=None):
        """Wait until the stream ends (END_STREAM or RST_STREAM); returns it."""
        st = self.streams[sid]
        self.wait(lambda: st.done, timeout, "the end of stream %d" % sid)
        return st

    def get(self, path, headers=(), method="GET", timeout=None, **kw):
        return self.response(self.request(method, path, headers, **kw), timeout)


# ---------------------------------------------------------------------------
# A frame-level client for hostile input and graceful shutdown

class Frame:
    __slots__ = ("type", "flags", "sid", "payload")

    def __init__(self, ftype, flags, sid, payload):
        self.type, self.flags, self.sid, self.payload = ftype, flags, sid, payload

    def __repr__(self):
        extra = ""
        if self.type in (RST_STREAM,) and len(self.payload) >= 4:
            extra = " " + error_name(struct.unpack("!I", self.payload[:4])[0])
        elif self.type == GOAWAY and len(self.payload) >= 8:
            last, code = struct.unpack("!II", self.payload[:8])
            extra = " last=%d %s %r" % (last & 0x7fffffff, error_name(code), bytes(self.payload[8:80]))
        return "%s(flags=%#x sid=%d len=%d%s)" % (FRAME_NAMES.get(self.type, self.type), self.flags,
                                                  self.sid, len(self.payload), extra)


class RawH2:
    """An HTTP/2 connection written frame by frame.

    On connect it sends the preface and a SETTINGS frame of `settings`
    (unless preface=False). What the server sends is parsed into
    self.frames; SETTINGS are acknowledged (ack_settings), PINGs answered
    (answer_pings), response HEADERS decoded per stream (self.streams),
    GOAWAYs collected (self.goaways: [(code, last stream id, debug)]),
    DATA counted and, with auto_window, the windows reopened (the
    connection's always, a stream's unless it is in self.frozen).
    Nothing ever blocks longer than the timeout.
    """

    def __init__(self, port, ctx=None, sni="localhost", timeout=DEFAULT_TIMEOUT,
                 settings=((SETTINGS_ENABLE_PUSH, 0),), preface=True, ack_settings=True,
                 answer_pings=True, auto_window=True, rcvbuf=None):
        self.timeout = timeout
        self.scheme = "https" if ctx is not None else "http"
        self.sock = connect(port, ctx, sni, timeout, rcvbuf=rcvbuf)
        self.tls = ctx is not None
        self.inbuf = bytearray()
        self.frames = []
        self.streams = {}
        self.goaways = []
        self.server_settings = {}
        self.server_settings_frames = 0
        self.settings_acks = 0
        self.ping_acks = []
        self.eof = False
        self.reset = False
        self.send_failed = False
        self.ack_settings = ack_settings
        self.answer_pings = answer_pings
        self.auto_window = auto_window
        self.frozen = set()
        self.next_sid = 1
        self.bytes_received = 0
        self.decoder = hpack.Decoder(max_header_list_size=1 << 24)
        self.decoder.max_allowed_table_size = 4096
        self._hblock = None            # (sid, bytearray) while a header block is open
        self._out = bytearray()        # WINDOW_UPDATEs etc. to send
        # what we may send: the server's windows
        self.send_window = DEFAULT_WINDOW
        self.stream_send_windows = {}
        try:
            if preface:
                self.send(PREFACE + settings_frame(settings))
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- sending
    def send(self, data):
        """sendall within the timeout; False (and self.send_failed) when the
        server has closed or reset the connection."""
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            self.send_failed = True
            return False
        except ssl.SSLError as e:
            if "BAD_LENGTH" in str(e) or "PROTOCOL_IS_SHUTDOWN" in str(e):
                self.send_failed = True
                return False
            raise

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        self.streams[sid] = Stream(sid)
        return sid

    def request(self, headers, end_stream=True, sid=None, send=True):
        """HEADERS for a new stream (header block of literals, names and
        values as given). Returns the stream id."""
        if sid is None:
            sid = self.new_sid()
        else:
            self.streams.setdefault(sid, Stream(sid))
        if send:
            self.send(headers_frame(sid, encode_block(headers), end_stream=end_stream))
        return sid

    def get(self, path, authority="localhost", extra=(), method="GET"):
        return self.request(request_headers(method, path, authority, self.scheme, extra))

    def send_data(self, sid, data, end_stream=True, timeout=None):
        """DATA within the server's windows (waiting for WINDOW_UPDATEs)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        pos = 0
        while True:
            room = min(self.send_window, self.stream_send_windows.get(
                sid, self.server_settings.get(SETTINGS_INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)),
                self.server_settings.get(SETTINGS_MAX_FRAME_SIZE, 16384))
            n = min(room, len(data) - pos)
            if n > 0 or pos == len(data):
                last = pos + n == len(data)
                if not self.send(data_frame(sid, data[pos:pos + n], end_stream and last)):
                    return pos
                self.send_window -= n
                self.stream_send_windows[sid] = self.stream_send_windows.get(
                    sid, self.server_settings.get(SETTINGS_INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)) - n
                pos += n
                if last:
                    return pos
                continue
            st = self.streams.get(sid)
            if self.eof or (st is not None and st.done):
                return pos
            if time.monotonic() > deadline:
                raise AssertionError("stream %d: no window to send the body (%d of %d sent)"
                                     % (sid, pos, len(data)))
            self.pump(0.2)

    def flood(self, chunks, stop=None, read=True, timeout=None):
        """Send the byte strings of the iterable `chunks` as fast as the
        server takes them, non-blocking, reading what comes back meanwhile
        unless read=False. Ends when they are all sent, when the server
        closes or resets, when stop() is true, or at the timeout. Returns
        (bytes sent, chunks sent completely)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        sent = 0
        count = 0
        pending = b""
        it = iter(chunks)
        self.sock.setblocking(False)
        try:
            while True:
                if stop is not None and stop():
                    break
                if self.eof or self.send_failed:
                    break
                if not pending:
                    try:
                        pending = next(it)
                    except StopIteration:
                        break
                if time.monotonic() > deadline:
                    break
                rl = [self.sock] if read else []
                r, w, _ = select.select(rl, [self.sock], [], 0.2)
                if r or (self.tls and read and self.sock.pending()):
                    self._recv_nonblocking()
                if w:
                    try:
                        n = self.sock.send(pending)
                    except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                        n = 0
                    except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError):
                        self.send_failed = True
                        break
                    except ssl.SSLError:
                        self.send_failed = True
                        break
                    sent += n
                    pending = pending[n:]
                    if not pending and n:
                        count += 1
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(self.timeout)
        return sent, count

    def _recv_nonblocking(self):
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError):
            self.eof = self.reset = True
            return
        except ssl.SSLError:
            self.eof = self.reset = True
            return
        if not data:
            self.eof = True
            return
        self._feed(data)

    # -- receiving
    def pump(self, timeout):
        """Read once, waiting at most `timeout`; parse and handle frames.
        Returns True when bytes (or EOF) arrived."""
        if self.eof:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 18)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError):
            self.eof = self.reset = True
            return True
        except ssl.SSLError:
            self.eof = self.reset = True
            return True
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass
        if not data:
            self.eof = True
            return True
        self._feed(data)
        return True

    def _feed(self, data):
        self.bytes_received += len(data)
        self.inbuf += data
        while len(self.inbuf) >= 9:
            n = (self.inbuf[0] << 16) | (self.inbuf[1] << 8) | self.inbuf[2]
            if len(self.inbuf) < 9 + n:
                break
            ftype, flags = self.inbuf[3], self.inbuf[4]
            sid = struct.unpack("!I", self.inbuf[5:9])[0] & 0x7fffffff
            payload = bytes(self.inbuf[9:9 + n])
            del self.inbuf[:9 + n]
            f = Frame(ftype, flags, sid, payload)
            if len(self.frames) < 200000:
                self.frames.append(f)
            self._handle(f)
        if self._out:
            out = bytes(self._out)
            self._out.clear()
            if not self.eof:
                self._send_quietly(out)

    def _send_quietly(self, out):
        try:
            blocking = self.sock.gettimeout()
            self.sock.settimeout(self.timeout)
            self.sock.sendall(out)
            self.sock.settimeout(blocking)
        except (OSError, ssl.SSLError):
            self.send_failed = True

    def _stream(self, sid):
        st = self.streams.get(sid)
        if st is None:
            st = self.streams[sid] = Stream(sid)
        return st

    def _handle(self, f):
        t, p = f.type, f.payload
        if t == SETTINGS:
            if f.flags & ACK:
                self.settings_acks += 1
            else:
                self.server_settings_frames += 1
                for i in range(0, len(p) - len(p) % 6, 6):
                    k, v = struct.unpack("!HI", p[i:i + 6])
                    if k == SETTINGS_INITIAL_WINDOW_SIZE:
                        old = self.server_settings.get(k, DEFAULT_WINDOW)
                        for s in self.stream_send_windows:
                            self.stream_send_windows[s] += v - old
                    self.server_settings[k] = v
                if self.ack_settings:
                    self._out += settings_frame(ack=True)
        elif t == PING:
            if f.flags & ACK:
                self.ping_acks.append(p)
            elif self.answer_pings:
                self._out += ping_frame(p, ack=True)
        elif t == GOAWAY:
            last, code = struct.unpack("!II", p[:8])
            self.goaways.append((code, last & 0x7fffffff, p[8:]))
        elif t == RST_STREAM:
            self._stream(f.sid).reset = struct.unpack("!I", p[:4])[0]
        elif t == WINDOW_UPDATE:
            inc = struct.unpack("!I", p[:4])[0] & 0x7fffffff
            if f.sid == 0:
                self.send_window += inc
            else:
                self.stream_send_windows[f.sid] = self.stream_send_windows.get(
                    f.sid, self.server_settings.get(SETTINGS_INITIAL_WINDOW_SIZE, DEFAULT_WINDOW)) + inc
        elif t in (HEADERS, PUSH_PROMISE):
            if t == PUSH_PROMISE:
                raise AssertionError("PUSH_PROMISE although we said SETTINGS_ENABLE_PUSH 0")
            pos, end = 0, len(p)
            if f.flags & PADDED:
                pad = p[0]
                pos, end = 1, len(p) - pad
            if f.flags & PRIORITY_FLAG:
                pos += 5
            self._hblock = (f.sid, bytearray(p[pos:end]), f.flags & END_STREAM)
            if f.flags & END_HEADERS:
                self._end_block()
        elif t == CONTINUATION:
            if self._hblock is not None:
                self._hblock[1].extend(p)
                if f.flags & END_HEADERS:
                    self._end_block()
        elif t == DATA:
            st = self._stream(f.sid)
            body = p
            if f.flags & PADDED:
                body = p[1:len(p) - p[0]]
            st.data += body
            st.data_frames += 1
            if f.flags & END_STREAM:
                st.ended = True
            if self.auto_window and len(p):
                self._out += window_update_frame(0, len(p))
                if f.sid not in self.frozen and not st.done:
                    self._out += window_update_frame(f.sid, len(p))

    def _end_block(self):
        sid, block, end_stream = self._hblock
        self._hblock = None
        st = self._stream(sid)
        st._set_headers(self.decoder.decode(bytes(block), raw=True))
        if end_stream:
            st.ended = True

    def open_window(self, sid, increment=0x7fffffff - DEFAULT_WINDOW):
        """Unfreeze a stream: one WINDOW_UPDATE for it, then auto updates."""
        self.frozen.discard(sid)
        self.send(window_update_frame(sid, increment))

    # -- waiting
    def wait(self, pred, timeout=None):
        """Pump until pred() is true, the connection ends or the timeout
        passes; returns pred()'s last value."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            v = pred()
            if v or self.eof:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                return v
            self.pump(min(left, 0.5))

    def handshake(self, timeout=None):
        """Wait for the server's SETTINGS (the first frame it must send)."""
        ok = self.wait(lambda: self.server_settings_frames > 0, timeout)
        if not ok:
            raise AssertionError("no SETTINGS from the server; frames: %s" % self.frames[:10])
        first = self.frames[0]
        assert first.type == SETTINGS and not first.flags & ACK, \
            "the server's first frame is %r, not SETTINGS" % first
        return self

    def sync(self, timeout=None):
        """A PING round trip: every frame sent before it has been processed
        by the server once its ACK is back."""
        opaque = struct.pack("!Q", len(self.ping_acks) + 0x5eed0000)
        self.send(ping_frame(opaque))
        return self.wait(lambda: opaque in self.ping_acks, timeout)

    def wait_closed(self, timeout=None):
        """Read (and handle) everything until the server closes; True when it
        did within the timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.5))
        return True

    def goaway_codes(self):
        return [code for code, _, _ in self.goaways]

    def summary(self):
        """For assertion messages: the last frames and what the connection did."""
        return "eof=%s reset=%s send_failed=%s goaways=%s last frames=%s" % (
            self.eof, self.reset, self.send_failed,
            [(error_name(c), last, bytes(d[:60])) for c, last, d in self.goaways],
            self.frames[-8:])
