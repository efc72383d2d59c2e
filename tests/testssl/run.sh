#!/usr/bin/env bash
# testssl.sh (Debian's package testssl.sh, /usr/bin/testssl) against webserv's
# DEFAULT TLS settings; part of `make test`.
#
#   bash tests/testssl/run.sh          # from anywhere, after `make`
#   WEBSERV_BIN=./webserv-asan bash tests/testssl/run.sh
#
# The server gets a configuration with no TLS directive but the certificate:
# two servers on one 127.0.0.1 port, the default one (no SNI) and "localhost",
# which testssl reaches by SNI, so the scan also covers the switch to the
# SNI-selected server. The certificate is certs/localhost.pem of `make cert`
# (made here when missing), trusted through --add-ca certs/ca.pem.
#
# The scan runs as two testssl processes side by side (each spends ~15 s of
# CPU just starting): protocols, cipher categories, forward secrecy, server
# cipher order and server defaults (certificate, sessions: -p -s -f -P -S);
# HTTP headers and all vulnerabilities (-h -U; it waits more than it computes).
# Left out for time: each cipher one by one (-e/-E: the categories cover
# them) and client simulations (-c). Only 127.0.0.1 is contacted: --ip
# 127.0.0.1, no DNS lookups (--nodns none), no CRL/OCSP downloads (no
# --phone-out), testssl's environment emptied but for NXCONNECT=127.0.0.1:0
# (its probes of the local openssl connect there, not to the name "invalid.",
# which would be a DNS query). Each testssl has a time limit
# (TESTSSL_TIMEOUT, default 300 s): then it is stopped (SIGTERM, SIGKILL 10 s
# later) and fails; the script as a whole ends within that plus ~30 s.
#
# tests/testssl/check.py then judges the JSON findings: MEDIUM, HIGH, CRITICAL
# (and the scanner's WARN, FATAL) fail, except its commented allow-list. It
# prints each failing finding and "N passed, N failed". The scanner's output
# and JSON are kept in tests/artifacts/ (testssl-*.log, testssl-*.json).
#
# TESTSSL_SERVER_EXTRA: directives added to both server blocks, to check that
# the scan can fail, e.g. 'ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-AES128-SHA;'
# (never set by `make test`).
# webserv is stopped by its PID on exit. Exit status: 0 if nothing failed.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

BIN=${WEBSERV_BIN:-./webserv}
TESTSSL=${TESTSSL:-/usr/bin/testssl}
PY=/usr/bin/python3
SCAN_TIMEOUT=${TESTSSL_TIMEOUT:-300}
ARTIFACTS=${ARTIFACTS:-$root/tests/artifacts}
EXTRA=${TESTSSL_SERVER_EXTRA:-}

say() { printf 'testssl-test: %s\n' "$*" >&2; }

# Is process $1 running? (kill -0 also succeeds on a zombie not yet reaped.)
alive() {
    local st
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

if [ ! -x "$TESTSSL" ]; then
    say "$TESTSSL not found: install Debian's testssl.sh (tests/install-deps.sh does)"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    say "$BIN not found: build it first (make)"
    exit 1
fi
for f in certs/ca.pem certs/localhost.pem certs/localhost.key; do
    if [ ! -f "$f" ]; then
        say "$f is missing: making the local CA and certificate (make cert)"
        sh scripts/make-cert.sh >&2 || { say "scripts/make-cert.sh failed"; exit 1; }
        break
    fi
done

# --- cleanup, whatever happens ----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-testssl.XXXXXX") || exit 1
server_pid=""
scan_pids=()

stop_server() {
    local p=$1
    alive "$p" || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do          # up to 5 s, then force
        alive "$p" || return 0
        sleep 0.1
    done
    say "webserv $p did not exit within 5 s of SIGTERM; killing it"
    kill -KILL "$p" 2>/dev/null
    return 1
}

# Stop a scan: $1 is the PID of its timeout(1), which leads a process group
# of its own (testssl, a bash script, and what it runs). testssl removes its
# temporary folder (/tmp/testssl.XXXXXX) in an EXIT trap if it alone gets
# SIGTERM (signalling its children or its group too often leaves the folder
# behind), so: SIGTERM to testssl, up to 10 s to finish the command it waits
# for and its trap, then SIGKILL to the whole group.
stop_scan() {
    local p=$1 t
    alive "$p" || return 0
    for t in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
        kill -TERM "$t" 2>/dev/null
    done
    for _ in $(seq 100); do
        alive "$p" || return 0
        sleep 0.1
    done
    say "testssl (timeout pid $p) still runs 10 s after SIGTERM; killing its process group"
    kill -KILL -- "-$p" 2>/dev/null
}

cleanup() {
    local p
    for p in "${scan_pids[@]}"; do
        stop_scan "$p"
    done
    for p in "${scan_pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ -n "$server_pid" ]; then
        stop_server "$server_pid"
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ARTIFACTS" "$tmp/www" "$tmp/home"
rm -f "$ARTIFACTS"/testssl-*.log "$ARTIFACTS"/testssl-*.json "$ARTIFACTS/testssl-server.log"
printf '<html><body>testssl scan of webserv</body></html>\n' >"$tmp/www/index.html"

# --- the server --------------------------------------------------------------------
port=$($PY -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
[ -n "$port" ] || { say "could not find a free port"; exit 1; }

conf="$tmp/webserv.conf"
{
    # The server's TLS defaults: no ssl_* directive but the certificate.
    for name in default.invalid localhost; do   # the first is the default (no SNI)
        cat <<EOF
server {
    listen 127.0.0.1:$port ssl;
    server_name $name;
    root $tmp/www;
    ssl_certificate $root/certs/localhost.pem;
    ssl_certificate_key $root/certs/localhost.key;
${EXTRA:+    $EXTRA
}}
EOF
    done
} >"$conf"
[ -n "$EXTRA" ] && say "NOTE: TESTSSL_SERVER_EXTRA is set: NOT the defaults, the servers add: $EXTRA"
if ! "$BIN" -t "$conf" >"$tmp/check.log" 2>&1; then
    say "$BIN -t rejects the configuration:"
    cat "$tmp/check.log" "$conf" >&2
    exit 1
fi

server_log="$ARTIFACTS/testssl-server.log"
"$BIN" "$conf" >"$server_log" 2>&1 &
server_pid=$!
up=""
for _ in $(seq 100); do                 # up to 10 s
    alive "$server_pid" || break
    if $PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' \
        "$port" 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
if [ -z "$up" ] || ! alive "$server_pid"; then
    say "webserv did not start on 127.0.0.1:$port; its output:"
    cat "$server_log" >&2
    exit 1
fi
say "webserv $BIN (pid $server_pid) on https://localhost:$port/ (127.0.0.1)${EXTRA:+, NOT the defaults}"

# --- the scan ----------------------------------------------------------------------
# testssl's session-resumption check runs `openssl s_client -sess_out F
# </dev/null`, which quits at the end of its handshake when stdin's EOF is
# read before the server's NewSessionTicket (TLS 1.3 sends it after the
# client's Finished, by design): under load the check then sees no session
# and reports "connect problem" -- for nginx as for webserv (measured: 30-85
# of 100 handshakes without a session with three busy loops on two cores).
# The wrapper keeps that one command's stdin open for 2 s, as a client that
# stays does, so the check sees what the server sends; every other
# command testssl runs is /usr/bin/openssl as it is.
cat >"$tmp/openssl" <<'WRAP'
#!/bin/bash
for a in "$@"; do
    if [ "$a" = -sess_out ]; then
        sleep 2 | /usr/bin/openssl "$@"
        exit "${PIPESTATUS[1]}"
    fi
done
exec /usr/bin/openssl "$@"
WRAP
chmod 755 "$tmp/openssl"

# NAME: testssl's checks
groups=(
    "protocols-ciphers-defaults:-p -s -f -P -S"
    "headers-vulns:-h -U"
)
start_time=$(date +%s)
names=()
for g in "${groups[@]}"; do
    name=${g%%:*}
    names+=("$name")
    # timeout(1) is only the backstop (SIGKILL to its group 20 s after the
    # limit); the limit itself is kept below, by stop_scan.
    # shellcheck disable=SC2086  # the checks are separate words
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp/home" TMPDIR="$tmp" LANG=C.UTF-8 \
        TERM=dumb COLUMNS=120 NXCONNECT=127.0.0.1:0 \
        timeout -s KILL "$((SCAN_TIMEOUT + 20))" "$TESTSSL" --quiet --color 0 --warnings batch \
        --ip 127.0.0.1 --nodns none --add-ca "$root/certs/ca.pem" --openssl "$tmp/openssl" \
        --jsonfile "$tmp/testssl-$name.json" ${g#*:} "https://localhost:$port/" \
        </dev/null >"$ARTIFACTS/testssl-$name.log" 2>&1 &
    scan_pids+=("$!")
done
say "testssl ${groups[*]} (pids ${scan_pids[*]}; at most ${SCAN_TIMEOUT}s each)"

# Wait for both, up to the limit; stop what still runs then.
deadline=$((SECONDS + SCAN_TIMEOUT))
late=()
while [ "$SECONDS" -lt "$deadline" ]; do
    running=""
    for p in "${scan_pids[@]}"; do
        alive "$p" && running=1
    done
    [ -z "$running" ] && break
    sleep 1
done
for i in "${!scan_pids[@]}"; do
    if alive "${scan_pids[$i]}"; then
        late[i]=1
        stop_scan "${scan_pids[$i]}"
    fi
done

problems=()
jsons=()
for i in "${!scan_pids[@]}"; do
    wait "${scan_pids[$i]}"
    rc=$?
    name=${names[$i]}
    log="${ARTIFACTS#"$root"/}/testssl-$name.log"
    if [ -n "${late[$i]:-}" ] || [ "$rc" = 137 ]; then
        problems+=(--problem "testssl $name did not finish within ${SCAN_TIMEOUT}s (stopped; output: $log)")
    elif [ "$rc" != 0 ]; then
        problems+=(--problem "testssl $name exited with status $rc (output: $log): $(tail -n 3 "$ARTIFACTS/testssl-$name.log" | tr -s ' \n' ' ')")
    fi
    if [ -f "$tmp/testssl-$name.json" ]; then
        cp "$tmp/testssl-$name.json" "$ARTIFACTS/"
    fi
    jsons+=("$ARTIFACTS/testssl-$name.json")
done
scan_pids=()
say "scan finished in $(( $(date +%s) - start_time ))s"

if alive "$server_pid"; then
    stop_server "$server_pid"
    wait "$server_pid"
    rc=$?
    [ "$rc" = 0 ] || problems+=(--problem "webserv exited with status $rc after SIGTERM (output: ${server_log#"$root"/})")
else
    wait "$server_pid"
    rc=$?
    problems+=(--problem "webserv exited during the scan with status $rc (output: ${server_log#"$root"/})")
fi
server_pid=""
if grep -qE 'AddressSanitizer|runtime error:|LeakSanitizer' "$server_log"; then
    problems+=(--problem "sanitizer report in ${server_log#"$root"/}")
fi

$PY "$here/check.py" "${problems[@]}" "${jsons[@]}"
status=$?
[ "$status" = 0 ] || say "the scanner's output: ${ARTIFACTS#"$root"/}/testssl-*.log"
exit "$status"
