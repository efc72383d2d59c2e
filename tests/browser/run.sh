#!/usr/bin/env bash
# Browser test of the demo site: headless Chromium (Debian's /usr/bin/chromium)
# driven by playwright-core against a real webserv.
#
#   bash tests/browser/run.sh          # from the repository root, after `make`
#   WEBSERV_BIN=./webserv-asan bash tests/browser/run.sh
#
# It serves the shipped demo exactly as `make run` does: conf/default.conf
# with only its listen port changed, written to a git-ignored copy in the
# same folder (conf/.test-PORT.conf) so that every relative path resolves as
# for the real file, and the real www/. A second server runs a copy of
# conf/https.conf (both ports changed, the certificate paths pointed at a CA
# and a localhost certificate made by scripts/make-cert.sh in a temporary
# folder); Chromium trusts that CA through an NSS database in a temporary
# HOME (certutil, Debian's libnss3-tools), or, where certutil cannot be had,
# is started with --ignore-certificate-errors and says so.
#
# Uploads land in the real www/uploads: every file the test creates is named
# in a list, and removed on exit, whatever happened. Both servers are stopped
# by PID on exit. Screenshots and the servers' output go to tests/artifacts/.
# Exit status: the test's.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

BIN=${WEBSERV_BIN:-./webserv}
ARTIFACTS=${ARTIFACTS:-$root/tests/artifacts}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
TEST_TIMEOUT=${BROWSER_TEST_TIMEOUT:-80}    # seconds, the node test run as a whole
UPLOADS=www/uploads

say() { printf 'browser-test: %s\n' "$*" >&2; }

# Is process $1 running? (kill -0 also succeeds on a zombie not yet reaped.)
alive() {
    local st
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# --- what is missing ------------------------------------------------------
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        say "missing: $* (run as root or install them)"
        exit 1
    fi
    say "installing $* from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null || {
        say "apt-get install $* failed"
        exit 1
    }
}
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    say "node $(node --version 2>/dev/null) is too old: playwright-core needs node 20 or later"
    exit 1
fi
[ -x "$CHROMIUM" ] || apt_install chromium
command -v openssl >/dev/null 2>&1 || apt_install openssl
# certutil puts the test CA in an NSS database, where Chromium looks for the
# CAs a user trusts. Without it (not root, nothing installed) the test still
# runs, with Chromium ignoring certificate errors, and says so.
if ! command -v certutil >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt_install libnss3-tools
fi
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    say "npm install (playwright-core) in tests/browser"
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error) || {
        say "npm install failed"
        exit 1
    }
fi
if [ ! -x "$BIN" ]; then
    say "$BIN not found: build it first (make)"
    exit 1
fi
if [ ! -d "$UPLOADS" ]; then
    say "$UPLOADS is missing (it is in the repository, with a .gitkeep)"
    exit 1
fi

# --- cleanup, whatever happens ----------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-browser.XXXXXX") || exit 1
manifest="$tmp/created-uploads"     # names the test stored in www/uploads, one a line
: >"$manifest"
ls -A "$UPLOADS" | LC_ALL=C sort >"$tmp/uploads-before"
pids=()
confs=()
test_pid=""

stop_server() {                     # $1: pid
    local p=$1
    alive "$p" || { wait "$p" 2>/dev/null; return; }
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do          # up to 5 s, then force
        alive "$p" || break
        sleep 0.1
    done
    if alive "$p"; then
        say "server $p did not exit within 5 s of SIGTERM; killing it"
        kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
}

# Remove, by name, what the test stored in www/uploads; say what else changed.
clean_uploads() {
    local name
    while IFS= read -r name; do
        case $name in '' | . | .. | */*) continue ;; esac
        [ -e "$UPLOADS/$name" ] || [ -L "$UPLOADS/$name" ] || continue
        if grep -Fxq -- "$name" "$tmp/uploads-before"; then
            continue                # there before the test: not the test's
        fi
        if rm -f -- "$UPLOADS/$name"; then
            say "removed $UPLOADS/$name, left by the test"
        else
            say "could not remove $UPLOADS/$name"
        fi
    done <"$manifest"
    ls -A "$UPLOADS" | LC_ALL=C sort >"$tmp/uploads-after"
    if ! cmp -s "$tmp/uploads-before" "$tmp/uploads-after"; then
        say "$UPLOADS differs from before the test (not made by it, so left alone; '<' before only, '>' after only):"
        diff "$tmp/uploads-before" "$tmp/uploads-after" | grep '^[<>]' >&2
    fi
}

cleanup() {
    local p c
    if [ -n "$test_pid" ] && alive "$test_pid"; then
        say "stopping the test (pid $test_pid)"
        kill -TERM "$test_pid" 2>/dev/null     # timeout passes it on to node, which closes Chromium
        for _ in $(seq 50); do
            alive "$test_pid" || break
            sleep 0.1
        done
        alive "$test_pid" && kill -KILL -- "-$test_pid" 2>/dev/null   # timeout leads its own group
        wait "$test_pid" 2>/dev/null
    fi
    for p in "${pids[@]}"; do
        stop_server "$p"
    done
    clean_uploads
    for c in "${confs[@]}"; do
        rm -f -- "$c"
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ARTIFACTS"

# --- ports, configurations, certificates ---------------------------------------
# Three free ports on 127.0.0.1: the demo, the HTTPS demo, its HTTP redirect.
read -r port sport rport < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' 2>/dev/null)
if [ -z "${rport:-}" ]; then
    say "could not find free ports"
    exit 1
fi

# The port of the listen directive of conf file $1 with (ssl) or without (plain) ssl.
listen_port() {
    local pattern='^[[:space:]]*listen[[:space:]]+127\.0\.0\.1:([0-9]+)'
    if [ "$2" = ssl ]; then pattern="$pattern[[:space:]]+ssl([[:space:]]+http2)?;"; else pattern="$pattern;"; fi
    sed -nE "s/$pattern.*/\\1/p" "$1" | head -n 1
}

# Check that copy $2 of $1 differs only in $3 lines, each of them a listen,
# return or ssl_certificate(_key) line, and that webserv accepts it.
check_copy() {
    local changed bad
    changed=$(diff "$1" "$2" | grep -c '^>')
    bad=$(diff "$1" "$2" | grep '^[<>]' | grep -vE '^[<>][[:space:]]+(listen|return|ssl_certificate|ssl_certificate_key)[[:space:]]')
    if [ "$changed" != "$3" ] || [ -n "$bad" ]; then
        say "the copy $2 of $1 should differ in $3 lines (ports, certificates); it differs so:"
        diff "$1" "$2" >&2
        exit 1
    fi
    if ! "$BIN" -t "$2" >"$tmp/check.log" 2>&1; then
        say "$BIN -t rejects $2 (a copy of $1):"
        cat "$tmp/check.log" >&2
        exit 1
    fi
}

# conf/default.conf, only its port changed, beside the original.
dport=$(listen_port conf/default.conf plain)
[ -n "$dport" ] || { say "conf/default.conf has no 'listen 127.0.0.1:PORT;'"; exit 1; }
conf="conf/.test-$port.conf"
confs+=("$conf")
sed -E "s/^([[:space:]]*listen[[:space:]]+127\.0\.0\.1:)$dport;/\\1$port;/" conf/default.conf >"$conf"
check_copy conf/default.conf "$conf" 1

# A CA and a localhost certificate for this run only.
if ! sh scripts/make-cert.sh "$tmp/certs" >"$tmp/cert.log" 2>&1; then
    say "scripts/make-cert.sh failed:"
    cat "$tmp/cert.log" >&2
    exit 1
fi

# conf/https.conf: both ports (the listens and the redirect's), and the certificates.
hsport=$(listen_port conf/https.conf ssl)
hport=$(listen_port conf/https.conf plain)
[ -n "$hsport" ] && [ -n "$hport" ] || {
    say "conf/https.conf should have 'listen 127.0.0.1:PORT ssl [http2];' and 'listen 127.0.0.1:PORT;'"
    exit 1
}
sconf="conf/.test-$sport.conf"
confs+=("$sconf")
sed -E -e "s/^([[:space:]]*listen[[:space:]]+127\.0\.0\.1:)$hsport([[:space:]]+ssl([[:space:]]+http2)?;)/\\1$sport\\2/" \
       -e "s/^([[:space:]]*listen[[:space:]]+127\.0\.0\.1:)$hport;/\\1$rport;/" \
       -e "s/^([[:space:]]*return[[:space:]]+30[12378][[:space:]]+https:\/\/[^;]*:)$hsport([^0-9])/\\1$sport\\2/" \
       -e "s|^([[:space:]]*ssl_certificate(_key)?[[:space:]]+)[^;]*/([^/;]+);|\\1$tmp/certs/\\3;|" \
       conf/https.conf >"$sconf"
check_copy conf/https.conf "$sconf" 5

# Chromium trusts the CA through an NSS database in its own HOME.
chrome_home="$tmp/home"
ignore_cert_errors=""
mkdir -p "$chrome_home/.pki/nssdb"
if command -v certutil >/dev/null 2>&1 &&
   certutil -N -d "sql:$chrome_home/.pki/nssdb" --empty-password >"$tmp/certutil.log" 2>&1 &&
   certutil -A -d "sql:$chrome_home/.pki/nssdb" -n "webserv browser test CA" -t C,, \
            -i "$tmp/certs/ca.pem" >>"$tmp/certutil.log" 2>&1; then
    say "Chromium trusts the test's local CA ($tmp/certs/ca.pem) through an NSS database"
else
    ignore_cert_errors=1
    say "NOTE: certutil (libnss3-tools) is missing or failed: Chromium runs with --ignore-certificate-errors"
    [ -s "$tmp/certutil.log" ] && cat "$tmp/certutil.log" >&2
fi

# --- the servers ------------------------------------------------------------------
# start NAME CONF LOG PORT...: start $BIN on CONF, wait until each PORT accepts.
start() {
    local name=$1 cf=$2 log=$3 p up
    shift 3
    "$BIN" "$cf" >"$log" 2>&1 &
    p=$!
    pids+=("$p")
    for _ in $(seq 100); do                 # up to 10 s
        alive "$p" || break
        up=1
        for port_ in "$@"; do
            python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' \
                "$port_" 2>/dev/null || { up=""; break; }
        done
        [ -n "$up" ] && break
        sleep 0.1
    done
    if [ -z "${up:-}" ] || ! alive "$p"; then
        say "webserv ($name, $cf) did not start on 127.0.0.1:$*; its output:"
        cat "$log" >&2
        exit 1
    fi
    say "webserv $BIN (pid $p) serves $name from $cf"
}
start "the demo on http://127.0.0.1:$port/" "$conf" "$ARTIFACTS/browser-server.log" "$port"
start "https://127.0.0.1:$sport/ and http://127.0.0.1:$rport/ -> https" "$sconf" \
      "$ARTIFACTS/browser-server-https.log" "$rport" "$sport"   # plain first: a bare connect to the TLS port logs a failed handshake

# --- the test ---------------------------------------------------------------
start_time=$(date +%s)
BASE_URL="http://127.0.0.1:$port" \
HTTPS_URL="https://127.0.0.1:$sport" \
REDIRECT_URL="http://127.0.0.1:$rport" \
UPLOAD_DIR="$root/$UPLOADS" \
UPLOAD_MANIFEST="$manifest" \
WWW_DIR="$root/www" \
CHROMIUM_HOME="$chrome_home" \
IGNORE_CERT_ERRORS="$ignore_cert_errors" \
NODE_EXTRA_CA_CERTS="$tmp/certs/ca.pem" \
ARTIFACTS="$ARTIFACTS" \
CHROMIUM="$CHROMIUM" \
    timeout -k 5 "$TEST_TIMEOUT" node --test --test-reporter=spec "$here/demo.test.mjs" &
test_pid=$!     # in the background, so that a signal to this script runs its trap at once
wait "$test_pid"
status=$?
test_pid=""
[ "$status" = 124 ] && say "the test run exceeded ${TEST_TIMEOUT}s and was stopped"
i=0
for p in "${pids[@]}"; do
    log="$ARTIFACTS/browser-server.log"
    [ "$i" = 1 ] && log="$ARTIFACTS/browser-server-https.log"
    i=$((i + 1))
    alive "$p" && continue
    wait "$p"
    rc=$?
    if [ "$rc" -gt 128 ]; then how="was killed by signal $((rc - 128))"; else how="exited with status $rc"; fi
    say "webserv (pid $p) $how during the test; its output (${log#$root/}):"
    cat "$log" >&2
    [ "$status" = 0 ] && status=1
done
say "finished in $(( $(date +%s) - start_time ))s with status $status; screenshots in ${ARTIFACTS#$root/}/"
exit "$status"
