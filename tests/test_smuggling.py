"""Request smuggling and parser differentials (issue 5, item 2).

A table of requests that proxies and servers are known to read differently.
Every case is sent in ONE send() followed by a second request,

    GET /smuggled HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n

which the configuration answers with 200 "SMUGGLED". The test then checks
the exact sequence of responses the server gives on that connection, and
what becomes of the connection:

  * a rejected request (400, 413, 414, 417, 431, 501, 505; 405 to an
    Expect: 100-continue whose body is not read) gets its status
    with "Connection: close", then the server closes: no second response, so
    nothing can be smuggled behind a request whose framing is in doubt;
  * an accepted request gets its response, its body is consumed exactly as
    the framing the server chose says, and only then comes the SMUGGLED
    response, once (a body that itself holds a request line must not be
    answered as a request) -- and then nothing more on a still open
    connection.

Expected statuses follow RFC 9112/9110; where the RFC leaves a choice,
SPEC.md ("Bad input") or, where that is silent, nginx. The `why` column
says which; "nginx: ..." notes what nginx 1.22 answers when it differs.
Cases are run in the table's order against one server per module: an input
that kills the server fails its own case (and a fresh server is started for
the next one).
"""

import socket

import pytest

import conftest
import rawhttp

SLOW = getattr(conftest, "SLOW", 1)   # time limits are multiplied under valgrind

CONF = """
server {
    listen 127.0.0.1:@PORT@;
    root @ROOT@;
    index index.html;
    location = /smuggled { return 200 "SMUGGLED"; }
    location = /first { return 200 "FIRST"; }
    location /echo { allow_methods GET POST; client_max_body_size 1m; }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name other.test;
    root @ROOT@;
    location = /first { return 200 "OTHER"; }
}
"""

SMUGGLE = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
# The same request, placed where a wrong parser would see a request.
INNER = SMUGGLE

HOST = b"Host: localhost\r\n"
GET = b"GET /first HTTP/1.1\r\n" + HOST        # answered 200 "FIRST"
POST = b"POST /echo HTTP/1.1\r\n" + HOST       # body read, then 405
CHUNKED_BODY = b"5\r\nhello\r\n0\r\n\r\n"


def te(value, body=CHUNKED_BODY, pre=GET):
    return pre + b"Transfer-Encoding: " + value + b"\r\n\r\n" + body


def cl(value, body=b"hello", pre=GET):
    return pre + b"Content-Length: " + value + b"\r\n\r\n" + body


def chunked(body, pre=GET):
    return pre + b"Transfer-Encoding: chunked\r\n\r\n" + body


def header(line, pre=GET):
    return pre + line + b"\r\n\r\n"


def with_body(request_head, body=INNER):
    """A request head (request line + Host) with a Content-Length body."""
    return request_head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def reqline(line, extra=HOST):
    return line + b"\r\n" + extra + b"\r\n"


# ---------------------------------------------------------------------------
# Expectations

class R:
    """One expected final response: status and (when given) exact body."""

    def __init__(self, status, body=None, head=False):
        self.status, self.body, self.head = status, body, head

    def __repr__(self):
        return "%d%s" % (self.status, "" if self.body is None else " %r" % self.body)


SMUGGLED = R(200, b"SMUGGLED")


class Expect:
    def __init__(self, responses, closed):
        self.responses = responses
        self.closed = closed


def reject(status):
    """Answered `status` (Connection: close), then closed: nothing follows."""
    return Expect([R(status)], closed=True)


def accept(*first):
    """The request's own response(s), then the SMUGGLED request's, open."""
    return Expect(list(first or [R(200, b"FIRST")]) + [SMUGGLED], closed=False)


def then_close(*responses):
    """Exactly these responses, then the server closes."""
    return Expect(list(responses), closed=True)


FIRST = R(200, b"FIRST")
OTHER = R(200, b"OTHER")      # the virtual host other.test answered

# (id, request bytes, expectation, why)
CASES = [
    # ---- Transfer-Encoding ------------------------------------------------
    ("te_chunked", te(b"chunked"), accept(), "RFC 9112 7.1"),
    ("te_chunked_post_read_then_405", te(b"chunked", pre=POST), accept(R(405)),
     "body read, then 405 (SPEC)"),
    ("te_chunked_identity", te(b"chunked, identity"), reject(501),
     "SPEC: TE other than a final chunked -> 501 (RFC 9112 6.3 says 400; nginx 501)"),
    ("te_identity_chunked", te(b"identity, chunked"), reject(501),
     "unknown coding identity (RFC 9112 6.1 SHOULD 501; nginx 501)"),
    ("te_xchunked", te(b"xchunked"), reject(501), "SPEC 501 (RFC 6.3: 400; nginx 501)"),
    ("te_chunkedx", te(b"chunkedx"), reject(501), "SPEC 501 (RFC 6.3: 400; nginx 501)"),
    ("te_xchunked_body_is_request", te(b"xchunked", body=b"0\r\n\r\n" + INNER), reject(501),
     "never read as chunked, never as a request"),
    ("te_leading_space", te(b" chunked"), accept(), "OWS (RFC 9110 5.5)"),
    ("te_trailing_space", te(b"chunked "), accept(), "OWS"),
    ("te_tab_before_value", GET + b"Transfer-Encoding:\tchunked\r\n\r\n" + CHUNKED_BODY, accept(),
     "OWS includes HTAB (nginx: 501)"),
    ("te_space_tab_before_value", GET + b"Transfer-Encoding: \t chunked\r\n\r\n" + CHUNKED_BODY,
     accept(), "OWS (nginx: 501)"),
    ("te_Chunked", te(b"Chunked"), accept(), "codings are case-insensitive (RFC 9112 7)"),
    ("te_CHUNKED", te(b"CHUNKED"), accept(), "case-insensitive"),
    ("te_chunked_chunked", te(b"chunked, chunked"), reject(400),
     "chunked twice (RFC 9112 6.1 MUST NOT; nginx 501)"),
    ("te_two_headers_chunked",
     GET + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
     reject(400), "chunked twice (nginx 400)"),
    ("te_two_headers_chunked_gzip",
     GET + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n" + CHUNKED_BODY,
     reject(501), "= 'chunked, gzip': SPEC 501 (RFC 6.3: 400; nginx 400)"),
    ("te_two_headers_gzip_chunked",
     GET + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
     reject(501), "= 'gzip, chunked' (nginx 400, duplicate header)"),
    ("te_gzip_chunked", te(b"gzip, chunked"), reject(501), "unsupported coding (RFC 9112 6.1)"),
    ("te_gzip", te(b"gzip"), reject(501), "SPEC 501"),
    ("te_quoted", te(b'"chunked"'), reject(501), "not the token chunked (nginx 501)"),
    ("te_with_parameter", te(b"chunked;q=1"), reject(501), "chunked takes no parameters"),
    ("te_empty_list_elements", te(b", chunked,"), accept(),
     "empty list elements are ignored (RFC 9110 5.6.1; nginx 501)"),
    ("te_only_commas", te(b" , "), reject(400), "no coding at all (nginx 501)"),
    ("te_empty", GET + b"Transfer-Encoding: \r\n\r\n" + CHUNKED_BODY, reject(400),
     "empty value (nginx 501)"),
    ("te_vertical_tab", te(b"\x0bchunked"), reject(400), "control byte in a value (SPEC)"),
    ("te_http10", b"GET /first HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
     reject(400), "SPEC; RFC 9112 6.1: framing faulty in HTTP/1.0"),
    ("te_http10_with_cl",
     b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
     reject(400), "SPEC"),
    ("te_underscore_is_other_header",
     GET + b"Transfer_Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
     then_close(FIRST, R(400)),
     "an unknown header: the GET has no body, so '5' is the next request line -> 400"),
    ("te_space_before_colon", GET + b"Transfer-Encoding : chunked\r\n\r\n" + CHUNKED_BODY,
     reject(400), "RFC 9112 5.1 MUST 400"),
    ("te_obs_fold", GET + b"Transfer-Encoding:\r\n chunked\r\n\r\n" + CHUNKED_BODY, reject(400),
     "obs-fold (RFC 9112 5.2; SPEC)"),
    ("te_obs_fold_after_other", GET + b"X-A: b\r\n Transfer-Encoding: chunked\r\n\r\n"
     + CHUNKED_BODY, reject(400), "obs-fold"),
    ("te_body_holds_request",
     te(b"chunked", body=b"%x\r\n" % len(INNER) + INNER + b"\r\n0\r\n\r\n"),
     accept(), "chunk data is data: SMUGGLED answered once, for the real second request"),
    ("te_request_after_last_chunk", te(b"chunked", body=b"0\r\n\r\n" + INNER),
     accept(FIRST, SMUGGLED), "the body ends at the last chunk: what follows is a request"),

    # ---- Content-Length ---------------------------------------------------
    ("cl_5", cl(b"5"), accept(), "RFC 9112 6.2"),
    ("cl_post_read_then_405", cl(b"5", pre=POST), accept(R(405)), "body read, then 405"),
    ("cl_zero", cl(b"0", body=b""), accept(), ""),
    ("cl_plus", cl(b"+5"), reject(400), "1*DIGIT"),
    ("cl_minus", cl(b"-5"), reject(400), "1*DIGIT"),
    ("cl_list", cl(b"5,5"), reject(400), "SPEC: invalid CL (RFC 9112 6.3 allows 400)"),
    ("cl_list_space", cl(b"5, 5"), reject(400), "SPEC"),
    ("cl_leading_zero", cl(b"05"), accept(), "1*DIGIT: value 5"),
    ("cl_leading_space", cl(b" 5"), accept(), "OWS"),
    ("cl_trailing_space", cl(b"5 "), accept(), "OWS"),
    ("cl_tab", GET + b"Content-Length:\t5\r\n\r\nhello", accept(), "OWS (nginx: 400)"),
    ("cl_inner_space", cl(b"5 5"), reject(400), "not 1*DIGIT"),
    ("cl_hex", cl(b"0x5"), reject(400), "not 1*DIGIT"),
    ("cl_decimal", cl(b"5.0"), reject(400), "not 1*DIGIT"),
    ("cl_huge", cl(b"99999999999999999999"), reject(400), "overflow (SPEC)"),
    ("cl_int64_max", cl(b"9223372036854775807"), reject(413),
     "over client_max_body_size, known at once"),
    ("cl_empty", cl(b"", body=b""), reject(400), "SPEC"),
    ("cl_two_equal", GET + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", reject(400),
     "SPEC: two CL even when equal"),
    ("cl_two_different", GET + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     reject(400), "RFC 9112 6.3 MUST"),
    ("cl_space_before_colon", GET + b"Content-Length : 5\r\n\r\nhello", reject(400),
     "RFC 9112 5.1 MUST 400"),
    ("cl_underscore_is_other_header", GET + b"Content_Length: 5\r\n\r\nhello",
     then_close(FIRST, R(501)),
     "unknown header: 'helloGET /smuggled HTTP/1.1' is the next request, an unknown method "
     "(nginx: 400)"),
    ("cl_body_holds_request", with_body(GET), accept(),
     "the body is read and dropped, not answered"),
    ("cl_body_short_eats_next", cl(b"4", body=b""), then_close(FIRST, R(400)),
     "the 4 body bytes are 'GET ' of the next request; '/smuggled HTTP/1.1' is not a request"),
    ("cl_http10_keep_alive",
     b"GET /first HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
     accept(), ""),
    ("cl_over_max_post", POST + b"Content-Length: 2000000\r\n\r\n" + b"x" * 100, reject(413),
     "SPEC: 413 as soon as known"),

    # ---- CL and TE together -----------------------------------------------
    ("cl_then_te", GET + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     reject(400), "SPEC (RFC 9112 6.1 allows rejecting; nginx 400)"),
    ("te_then_cl", GET + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
     reject(400), "SPEC"),
    ("cl_te_classic", POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
     reject(400), "CL.TE"),
    ("te_cl_classic", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
     b"%x\r\n" % len(INNER) + INNER + b"\r\n0\r\n\r\n", reject(400), "TE.CL"),
    ("cl_xchunked", GET + b"Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\nhello",
     reject(400), "CL with any TE"),
    ("cl_te_underscore", GET + b"Content-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\nhello",
     accept(), "Transfer_Encoding is not TE: CL frames the body"),

    # ---- line endings -----------------------------------------------------
    ("lf_only_head", b"GET /first HTTP/1.1\nHost: localhost\nX-A: b\n\n", accept(),
     "RFC 9112 2.2 MAY accept LF (nginx accepts)"),
    ("lf_mixed_head", b"GET /first HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\n", accept(), ""),
    ("lf_only_head_with_cl", b"GET /first HTTP/1.1\nHost: localhost\nContent-Length: 5\n\nhello",
     accept(), ""),
    ("bare_cr_in_value", header(b"X-A: a\rb"), reject(400), "RFC 9112 2.2"),
    ("bare_cr_before_crlf", GET + b"X-A: b\r\r\n\r\n", reject(400),
     "RFC 9112 2.2 (nginx: 200)"),
    ("bare_cr_line_ends", b"GET /first HTTP/1.1\rHost: localhost\r\r", reject(400),
     "CR alone never ends a line"),
    ("cr_in_request_line", reqline(b"GET /first\r HTTP/1.1"), reject(400), "RFC 9112 2.2"),
    ("cr_after_version", reqline(b"GET /first HTTP/1.1\r"), reject(400), ""),
    ("lf_ends_chunk_ext", chunked(b"5;a\nhello\r\n0\r\n\r\n"), reject(400),
     "RFC 9112 7.1: chunk lines end in CRLF; the LF leniency of 2.2 is for the start "
     "line and fields only (nginx: accepts)"),
    ("lf_after_chunk_data", chunked(b"5\r\nhello\n0\r\n\r\n"), reject(400),
     "RFC 9112 7.1: chunk-data CRLF (nginx: accepts)"),
    ("cr_only_chunk_lines", chunked(b"5\rhello\r0\r\r"), reject(400), ""),

    # ---- header names and values ------------------------------------------
    ("ws_before_colon", header(b"X-A : b"), reject(400), "RFC 9112 5.1 MUST 400"),
    ("tab_before_colon", header(b"X-A\t: b"), reject(400), "RFC 9112 5.1 MUST 400"),
    ("no_colon", header(b"X-A"), reject(400), ""),
    ("name_parens", header(b"Foo(bar): x"), reject(400), "not a token (nginx: ignores it, 200)"),
    ("name_slash", header(b"Foo/Bar: x"), reject(400), "not a token (nginx: 200)"),
    ("name_at", header(b"Foo@: x"), reject(400), "not a token (nginx: 200)"),
    ("name_nul", header(b"Fo\x00o: x"), reject(400), ""),
    ("name_del", header(b"Fo\x7fo: x"), reject(400), ""),
    ("name_space", header(b"Foo Bar: x"), reject(400), ""),
    ("name_empty", header(b": x"), reject(400), ""),
    ("name_obs_text", header(b"Fo\xe9o: x"), reject(400), "not a token (nginx: 200)"),
    ("value_nul", header(b"X-A: a\x00b"), reject(400), "RFC 9110 5.5"),
    ("value_ctl", header(b"X-A: a\x01b"), reject(400), "SPEC: control bytes (nginx: 200)"),
    ("value_del", header(b"X-A: a\x7fb"), reject(400), "SPEC (nginx: 200)"),
    ("value_vt", header(b"X-A: a\x0bb"), reject(400), "SPEC (nginx: 200)"),
    ("value_htab", header(b"X-A: a\tb"), accept(), "HTAB allowed"),
    ("value_obs_text", header(b"X-A: caf\xe9 \xff"), accept(), "obs-text allowed"),
    ("obs_fold_tab", GET + b"X-A: a\r\n\tb\r\n\r\n", reject(400), "RFC 9112 5.2"),

    # ---- chunk extensions, trailers, chunk sizes --------------------------
    ("ext_token", chunked(b"5;ext=1\r\nhello\r\n0\r\n\r\n"), accept(), "RFC 9112 7.1.1"),
    ("ext_quoted", chunked(b'5;ext="quo;ted"\r\nhello\r\n0\r\n\r\n'), accept(), ""),
    ("ext_bws", chunked(b"5 ;ext\r\nhello\r\n0\r\n\r\n"), accept(), "BWS"),
    ("ext_bws_tab", chunked(b"5\t;ext\r\nhello\r\n0\r\n\r\n"), accept(), "BWS"),
    ("ext_on_last_chunk", chunked(b"5\r\nhello\r\n0;x=y\r\n\r\n"), accept(), ""),
    ("ext_3k", chunked(b"5;" + b"a" * 3000 + b"\r\nhello\r\n0\r\n\r\n"), accept(), ""),
    ("ext_over_4k", chunked(b"5;" + b"a" * 5000 + b"\r\nhello\r\n0\r\n\r\n"), reject(400),
     "limit 4 KiB (nginx: no limit)"),
    ("trailer", chunked(b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), accept(), "RFC 9112 7.1.2"),
    ("trailer_content_length", chunked(b"5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n"),
     accept(), "a trailer never frames the message"),
    ("trailer_transfer_encoding",
     chunked(b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), accept(), ""),
    ("trailer_holds_request_line", chunked(b"5\r\nhello\r\n0\r\n" + INNER), reject(400),
     "'GET /smuggled HTTP/1.1' is not a field-line (RFC 9112 7.1.2, 2.2 SHOULD 400); a reader "
     "that ends the body at '0\\r\\n' sees a request here (nginx: skips it as a trailer, 200)"),
    ("size_leading_zeros", chunked(b"0005\r\nhello\r\n0\r\n\r\n"), accept(), "1*HEXDIG"),
    ("size_17_zeros_then_5", chunked(b"00000000000000005\r\nhello\r\n0\r\n\r\n"), accept(),
     "value 5: no limit on digits (nginx accepts)"),
    ("size_uppercase_hex", chunked(b"A\r\n0123456789\r\n0\r\n\r\n"), accept(), ""),
    ("size_17_hex_digits", chunked(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), reject(400),
     "SPEC: overflow"),
    ("size_16_f", chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), reject(400),
     "over 2^63 (nginx 400)"),
    ("size_wraps_to_5", chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), reject(400),
     "2^64 + 5 must not wrap to 5"),
    ("size_negative", chunked(b"-1\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("size_0x", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("size_5g", chunked(b"5g\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("size_plus", chunked(b"+5\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("size_leading_space", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("size_trailing_space", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), accept(), "BWS before CRLF"),
    ("size_empty", chunked(b"\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("size_two_numbers", chunked(b"5 6\r\nhello\r\n0\r\n\r\n"), reject(400),
     "not a chunk-ext (nginx: reads ' 6' as an extension)"),
    ("data_missing_crlf", chunked(b"5\r\nhelloXX0\r\n\r\n"), reject(400), ""),
    ("data_longer_than_size", chunked(b"2\r\nhello\r\n0\r\n\r\n"), reject(400), ""),
    ("last_chunk_without_end", chunked(b"5\r\nhello\r\n0\r\n"), reject(400),
     "the trailer section is still open: the next request's line is read as a trailer line, "
     "and a request line is no field line -- 400 (nginx skips trailers unchecked: 200)"),
    ("chunk_holds_request_post", chunked(b"%x\r\n" % len(INNER) + INNER + b"\r\n0\r\n\r\n",
                                         pre=POST), accept(R(405)), ""),
    ("chunk_over_max_body", chunked(b"200000\r\n" + b"x" * 64, pre=POST), reject(413),
     "SPEC: 413 as soon as known -- the chunk size says 2 MiB > 1m (nginx: 413 at once)"),

    # ---- request target ---------------------------------------------------
    ("abs_http", reqline(b"GET http://localhost/first HTTP/1.1"), accept(), "RFC 9112 3.2.2"),
    ("abs_host_beats_host_header", reqline(b"GET http://other.test/first HTTP/1.1"),
     accept(OTHER), "RFC 9112 3.2.2: the target's authority wins"),
    ("abs_https", reqline(b"GET https://other.test/first HTTP/1.1"), accept(OTHER), "nginx"),
    ("abs_upper_scheme", reqline(b"GET HTTP://other.test/first HTTP/1.1"), accept(OTHER),
     "scheme is case-insensitive"),
    ("abs_with_port", reqline(b"GET http://other.test:80/first HTTP/1.1"), accept(OTHER), ""),
    ("abs_other_scheme", reqline(b"GET ftp://x/first HTTP/1.1"), reject(400),
     "not http(s) (nginx: serves it)"),
    ("abs_userinfo", reqline(b"GET http://u@other.test/first HTTP/1.1"), reject(400),
     "RFC 9110 4.2.4: userinfo is an error"),
    ("abs_empty_host", reqline(b"GET http:///first HTTP/1.1"), reject(400), ""),
    ("abs_conflicts_host_other_way",
     reqline(b"GET http://localhost/first HTTP/1.1", b"Host: other.test\r\n"), accept(), ""),
    ("double_slash_is_a_path", reqline(b"GET //other.test/first HTTP/1.1"),
     accept(R(404)), "origin-form '//x' is a path, not an authority"),
    ("asterisk_get", reqline(b"GET * HTTP/1.1"), reject(400), "asterisk-form is for OPTIONS"),
    ("connect_authority", b"CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n",
     reject(501), "SPEC and RFC 9110 9.1: a method not implemented -> 501 (nginx: 400)"),
    ("nul_in_target", reqline(b"GET /fi\x00rst HTTP/1.1"), reject(400), ""),

    # ---- Host -------------------------------------------------------------
    ("host_duplicate", GET + HOST + b"\r\n", reject(400), "RFC 9112 3.2 MUST"),
    ("host_duplicate_different", GET + b"Host: other.test\r\n\r\n", reject(400), ""),
    ("host_with_port", reqline(b"GET /first HTTP/1.1", b"Host: other.test:8080\r\n"),
     accept(OTHER), "port ignored (SPEC)"),
    ("host_empty", reqline(b"GET /first HTTP/1.1", b"Host:\r\n"), reject(400), "nginx 400"),
    ("host_with_path", reqline(b"GET /first HTTP/1.1", b"Host: a/b\r\n"), reject(400), ""),
    ("host_bad_port", reqline(b"GET /first HTTP/1.1", b"Host: localhost:8x\r\n"), reject(400),
     "RFC 9112 3.2 MUST 400 for an invalid Host (nginx: 200)"),
    ("host_userinfo", reqline(b"GET /first HTTP/1.1", b"Host: u@other.test\r\n"), reject(400),
     "invalid Host (nginx: 200)"),
    ("host_space", reqline(b"GET /first HTTP/1.1", b"Host: local host\r\n"), reject(400), ""),
    ("http10_without_host", b"GET /first HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", accept(),
     ""),
    ("http11_without_host", b"GET /first HTTP/1.1\r\n\r\n", reject(400), "RFC 9112 3.2 MUST"),

    # ---- request line -----------------------------------------------------
    ("version_trailing_space", reqline(b"GET /first HTTP/1.1 "), reject(400),
     "RFC 9112 3 grammar (nginx: 200)"),
    ("version_leading_zero", reqline(b"GET /first HTTP/01.1"), reject(400),
     "HTTP-version is DIGIT.DIGIT (RFC 9112 2.3; nginx 400)"),
    ("version_two_digit_minor", reqline(b"GET /first HTTP/1.10"), reject(400),
     "HTTP-version is DIGIT.DIGIT (RFC 9112 2.3; nginx: 200)"),
    ("version_lowercase", reqline(b"GET /first http/1.1"), reject(400),
     "HTTP-name is case-sensitive"),
    ("version_no_minor", reqline(b"GET /first HTTP/1"), reject(400), ""),
    ("version_2_0", reqline(b"GET /first HTTP/2.0"), reject(505), "SPEC"),
    ("version_0_9", reqline(b"GET /first HTTP/0.9"), reject(505), "SPEC (nginx: 400)"),
    ("version_1_2", reqline(b"GET /first HTTP/1.2"), accept(), "SPEC: answered as 1.1"),
    ("two_spaces_after_method", reqline(b"GET  /first HTTP/1.1"), reject(400),
     "RFC 9112 3 (nginx: 200)"),
    ("two_spaces_before_version", reqline(b"GET /first  HTTP/1.1"), reject(400),
     "(nginx: 200)"),
    ("tab_separators", reqline(b"GET\t/first\tHTTP/1.1"), reject(400), ""),
    ("tab_before_version", reqline(b"GET /first\tHTTP/1.1"), reject(400), ""),
    ("only_spaces", reqline(b"     "), reject(400), ""),
    ("method_lowercase", reqline(b"get /first HTTP/1.1"), reject(501),
     "methods are case-sensitive: an unknown one (nginx: 400)"),
    ("method_unknown_with_body", with_body(b"FOO /first HTTP/1.1\r\n" + HOST), reject(501),
     "closed: its body is never taken for a request"),

    # ---- Expect and early responses ---------------------------------------
    ("expect_bad_value", GET + b"Expect: 100-continuex\r\nContent-Length: 5\r\n\r\nhello",
     reject(417), "RFC 9110 10.1.1 MAY 417 (nginx: ignores)"),
    ("expect_100_continue", GET + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
     accept(), "100 Continue, then 200"),
    ("expect_then_405_body_unread",
     with_body(b"PUT /readme.txt HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\n"),
     reject(405), "SPEC: final status at once without reading the body: so the server closes"),
    ("static_file_with_body", with_body(b"GET /readme.txt HTTP/1.1\r\n" + HOST),
     accept(R(200, b"hello readme\n")), "body read and dropped"),
    ("head_with_body", with_body(b"HEAD /readme.txt HTTP/1.1\r\n" + HOST),
     accept(R(200, b"", head=True)), ""),
    ("not_found_with_body", with_body(b"GET /nope HTTP/1.1\r\n" + HOST), accept(R(404)), ""),
    ("not_found_chunked_body", chunked(b"%x\r\n" % len(INNER) + INNER + b"\r\n0\r\n\r\n",
                                       pre=b"GET /nope HTTP/1.1\r\n" + HOST), accept(R(404)), ""),
    ("redirect_with_body", with_body(b"GET /sub HTTP/1.1\r\n" + HOST), accept(R(301)), ""),
    ("method_not_allowed_with_body", with_body(b"PUT /readme.txt HTTP/1.1\r\n" + HOST),
     accept(R(405)), ""),
    ("uri_too_long_with_body", with_body(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST),
     reject(414), "SPEC"),
    ("header_too_big", header(b"X-Big: " + b"b" * 40000), reject(431), "SPEC (nginx: 400)"),
]

# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(module_webserv):
    state = {"srv": None}

    def get():
        if state["srv"] is None or not state["srv"].alive():
            state["srv"] = module_webserv(CONF)
        return state["srv"]
    return get


def _send(c, data):
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass   # the server answered and closed early; the answer is in the socket


def _run(port, data, expect):
    """Returns a list of problems (empty when all is as expected)."""
    problems = []
    got = []
    with rawhttp.Conn(port, timeout=5 * SLOW) as c:
        _send(c, data + SMUGGLE)
        for want in expect.responses:
            try:
                _, r = c.read_final(head=want.head)
            except (rawhttp.Closed, rawhttp.Timeout, rawhttp.ProtocolError) as e:
                problems.append("expected %r, got %s: %s" % (want, type(e).__name__, e))
                return problems, got
            got.append(r)
            if r.status != want.status or (want.body is not None and r.body != want.body):
                problems.append("expected %r, got %d %r" % (want, r.status, r.body[:200]))
                return problems, got
        if expect.closed:
            last = got[-1]
            if "close" not in last.header_tokens("Connection"):
                problems.append("no 'Connection: close' on %d: %r" % (last.status, last.headers))
            if not c.wait_closed(3 * SLOW):
                problems.append("connection still open after %d" % last.status)
            if c.buf:
                problems.append("bytes after the last response%s: %r" % (
                    " (a SMUGGLED response!)" if b"SMUGGLED" in c.buf else "",
                    bytes(c.buf[:300])))
        else:
            if not c.is_open(0.15 * SLOW):
                extra = bytes(c.buf[:300])
                try:
                    extra += c.sock.recv(300, socket.MSG_DONTWAIT)
                except OSError:
                    pass
                problems.append("connection not open and quiet after the expected responses;"
                                " extra bytes: %r" % extra)
    return problems, got


@pytest.mark.parametrize("data,expect,why", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_smuggling(servers, data, expect, why):
    srv = servers()
    problems, got = _run(srv.port, data, expect)
    if not srv.alive():
        srv.proc.wait(2 * SLOW)
        problems.append("the server DIED on this input (exit status %s)" % srv.proc.returncode)
    assert not problems, "%s\nrequest: %r\nwhy: %s\nresponses: %r" % (
        "\n".join(problems), data[:400], why, [(r.status, r.body[:80]) for r in got])


def test_table_size():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)
