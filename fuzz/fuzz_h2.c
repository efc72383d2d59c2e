/* libFuzzer harness: HTTP/2 frames into a real connection.
 *
 * fuzz_conn's harness (same configuration, piecewise writes over a
 * socketpair, moving buffers, leak and descriptor checks) on an address
 * that speaks HTTP/2: the client preface is sent first, then the input
 * (after its two control bytes) as the frames that follow it. The frames
 * go through h1's preface detection, conn_switch and nghttp2's session,
 * exactly as a socket's bytes would. The first bytes back must be the
 * server's SETTINGS frame. */
#define FUZZ_H2 1
#include "fuzz_conn.c"
