"""Request bodies for the upload and CGI tests: multipart/form-data, chunked
transfer coding, and sending a body in pieces or from a generator (so a
large body never sits in the test's memory)."""

import random
import socket
import threading
import time
import zlib

import rawhttp


def multipart(parts, boundary):
    """parts: list of dicts {name, filename (None for a plain field), data
    (bytes), ctype (optional), raw_disposition (optional: the whole
    Content-Disposition value, bytes)}. Returns the body bytes."""
    b = boundary.encode() if isinstance(boundary, str) else boundary
    out = bytearray()
    for p in parts:
        out += b"--" + b + b"\r\n"
        disp = p.get("raw_disposition")
        if disp is None:
            disp = b'form-data; name="' + p["name"].encode() + b'"'
            if p.get("filename") is not None:
                fn = p["filename"]
                if isinstance(fn, str):
                    fn = fn.encode("utf-8")
                disp += b'; filename="' + fn + b'"'
        out += b"Content-Disposition: " + disp + b"\r\n"
        if p.get("ctype"):
            out += b"Content-Type: " + p["ctype"].encode() + b"\r\n"
        out += b"\r\n"
        data = p["data"]
        if isinstance(data, str):
            data = data.encode()
        out += data + b"\r\n"
    out += b"--" + b + b"--\r\n"
    return bytes(out)


def file_part(filename, data, name="file", ctype="application/octet-stream"):
    return {"name": name, "filename": filename, "data": data, "ctype": ctype}


def field_part(name, value):
    return {"name": name, "filename": None, "data": value}


def chunked(data, sizes=None, seed=1, ext=False):
    """Chunked encoding of data. sizes: list of chunk sizes used in turn
    (default: pseudo-random 1..70000). ext: add chunk extensions."""
    rnd = random.Random(seed)
    out = bytearray()
    pos = 0
    i = 0
    while pos < len(data):
        n = sizes[i % len(sizes)] if sizes else rnd.randint(1, 70000)
        i += 1
        piece = data[pos:pos + n]
        pos += len(piece)
        out += b"%x" % len(piece)
        if ext and i % 3 == 0:
            out += b";name=value"
        out += b"\r\n" + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


def send_in_pieces(conn, data, sizes=(1, 2, 3, 5, 8, 13, 40, 100, 1000, 4093), pause=0.001,
                   pause_every=4):
    """Send data in small TCP segments (TCP_NODELAY, short pauses), so the
    server sees it across many reads split at many offsets."""
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pos = 0
    i = 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        conn.send(data[pos:pos + n])
        pos += n
        i += 1
        if pause and i % pause_every == 0:
            time.sleep(pause)


def counted_blocks(total, block):
    """Yield `total` bytes as blocks derived from `block`, each one stamped
    with its index (so a lost or reordered block changes the checksum)."""
    n = 0
    i = 0
    while n < total:
        k = min(len(block), total - n)
        stamp = b"%016x" % i
        b = (stamp + block[len(stamp):])[:k]
        yield b
        n += k
        i += 1


def send_stream(conn, blocks, chunked_coding=False):
    """Send an iterable of byte blocks (optionally chunk-coded, with the last
    chunk). Returns (total bytes, crc32 of the payload)."""
    crc = 0
    total = 0
    for b in blocks:
        crc = zlib.crc32(b, crc)
        total += len(b)
        if chunked_coding:
            conn.sock.sendall(b"%x\r\n" % len(b) + b + b"\r\n")
        else:
            conn.sock.sendall(b)
    if chunked_coding:
        conn.sock.sendall(b"0\r\n\r\n")
    return total, crc


def file_crc(path, bufsize=4 << 20):
    crc = 0
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                return n, crc
            n += len(b)
            crc = zlib.crc32(b, crc)


def exchange(conn, data, timeout=20.0, head=False):
    """Send data from a thread while reading the response, so neither side
    waits on a full socket buffer. Returns (interim, final response)."""
    err = []

    def sender():
        try:
            conn.sock.sendall(data)
        except OSError as e:   # the server may answer and close early
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        return conn.read_final(head=head, timeout=timeout)
    finally:
        t.join(timeout)


def request_with_body(port, method, target, body, headers=(), timeout=10.0, coding="length"):
    """One request with body (coding: "length" or "chunked"); returns the final
    response."""
    hdrs = list(headers)
    if coding == "chunked":
        hdrs.append(("Transfer-Encoding", "chunked"))
        payload = chunked(body)
    else:
        hdrs.append(("Content-Length", str(len(body))))
        payload = body
    with rawhttp.Conn(port, timeout=timeout) as c:
        return exchange(c, rawhttp.build(method, target, hdrs) + payload, timeout=timeout)[1]


def read_streamed(conn, on_data, timeout=30.0):
    """Read one response whose body may be huge without keeping it: the
    body (Content-Length, chunked or close-delimited) goes to on_data(bytes)
    piece by piece. Returns the Response with an empty body and sets
    .body_len on it."""
    deadline = time.monotonic() + timeout
    while True:
        end = conn.buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if conn._recv(deadline) == 0:
            raise rawhttp.Closed("closed before the response head: %r" % bytes(conn.buf[:300]))
    head = bytes(conn.buf[:end])
    del conn.buf[:end + 4]
    version, status, reason, headers = rawhttp._parse_head(head)
    resp = rawhttp.Response(version, status, reason, headers, b"", head)
    total = 0

    def more():
        if conn._recv(deadline) == 0:
            raise rawhttp.Closed("closed inside the body after %d bytes" % total)

    te = headers.get("Transfer-Encoding")
    cl = headers.get("Content-Length")
    if te is not None:
        if te.lower() != "chunked":
            raise rawhttp.ProtocolError("transfer-encoding %r" % te)
        while True:
            while b"\r\n" not in conn.buf:
                more()
            eol = conn.buf.index(b"\r\n")
            size = int(bytes(conn.buf[:eol]).split(b";")[0].strip(), 16)
            del conn.buf[:eol + 2]
            if size == 0:
                while True:
                    while b"\r\n" not in conn.buf:
                        more()
                    eol = conn.buf.index(b"\r\n")
                    del conn.buf[:eol + 2]
                    if eol == 0:
                        break
                break
            left = size
            while left:
                if not conn.buf:
                    more()
                piece = bytes(conn.buf[:left])
                del conn.buf[:len(piece)]
                on_data(piece)
                total += len(piece)
                left -= len(piece)
            while len(conn.buf) < 2:
                more()
            if conn.buf[:2] != b"\r\n":
                raise rawhttp.ProtocolError("chunk not followed by CRLF")
            del conn.buf[:2]
    elif cl is not None:
        left = int(cl)
        while left:
            if not conn.buf:
                more()
            piece = bytes(conn.buf[:left])
            del conn.buf[:len(piece)]
            on_data(piece)
            total += len(piece)
            left -= len(piece)
    else:
        while True:
            if conn.buf:
                on_data(bytes(conn.buf))
                total += len(conn.buf)
                conn.buf.clear()
            if conn._recv(deadline) == 0:
                break
    resp.body_len = total
    return resp
