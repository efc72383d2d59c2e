#!/usr/bin/env bash
# Browser test of the demo site: headless Chromium (Debian's /usr/bin/chromium)
# driven by playwright-core against a real webserv.
#
#   bash tests/browser/run.sh          # from the repository root, after `make`
#   WEBSERV_BIN=./webserv-asan bash tests/browser/run.sh
#
# It serves a temporary copy of www/ with conf/default.conf rewritten to use a
# free port and absolute paths into that copy, so uploads and deletions never
# touch the repository. Screenshots and the server's logs go to
# tests/artifacts/. Exit status: the test's.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

BIN=${WEBSERV_BIN:-./webserv}
ARTIFACTS=${ARTIFACTS:-$root/tests/artifacts}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
TEST_TIMEOUT=${BROWSER_TEST_TIMEOUT:-100}   # seconds, the node test run as a whole

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

# --- a private copy of the site and a config for it -----------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/webserv-browser.XXXXXX") || exit 1
pid=""
cleanup() {
    if [ -n "$pid" ] && alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do              # up to 5 s, then force
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            say "server $pid did not exit within 5 s of SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    fi
    [ -f "$tmp/access.log" ] && cp "$tmp/access.log" "$ARTIFACTS/browser-access.log"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ARTIFACTS"
# The site without what www/uploads/ holds: the test starts from an empty store.
mkdir -p "$tmp/www/uploads"
if ! tar -C www --exclude='./uploads/*' -cf - . | tar -C "$tmp/www" -xf -; then
    say "could not copy www/ to $tmp/www"
    exit 1
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
       node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
if [ -z "$port" ]; then
    say "could not find a free port"
    exit 1
fi

conf="$tmp/webserv.conf"
sed -e "s|^\([[:space:]]*listen[[:space:]]\{1,\}\)[^;]*;|\1127.0.0.1:$port;\n    access_log $tmp/access.log;|" \
    -e "s|\.\./www|$tmp/www|g" \
    conf/default.conf > "$conf"
if ! grep -q "listen 127.0.0.1:$port;" "$conf" || grep -q '\.\./' "$conf"; then
    say "could not rewrite conf/default.conf for the test:"
    cat "$conf" >&2
    exit 1
fi
cp "$conf" "$ARTIFACTS/browser-webserv.conf"
if ! "$BIN" -t "$conf" >"$ARTIFACTS/browser-server.log" 2>&1; then
    say "$BIN -t rejects the test configuration:"
    cat "$ARTIFACTS/browser-server.log" >&2
    exit 1
fi

# --- the server -------------------------------------------------------------
"$BIN" "$conf" >"$ARTIFACTS/browser-server.log" 2>&1 &
pid=$!
up=""
for _ in $(seq 100); do                     # up to 10 s
    if ! alive "$pid"; then
        break
    fi
    if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' "$port" 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
if [ -z "$up" ]; then
    say "webserv did not start on 127.0.0.1:$port; its output:"
    cat "$ARTIFACTS/browser-server.log" >&2
    exit 1
fi
say "webserv $BIN (pid $pid) on http://127.0.0.1:$port/, site copy in $tmp/www"

# --- the test ---------------------------------------------------------------
start=$(date +%s)
BASE_URL="http://127.0.0.1:$port" \
UPLOAD_DIR="$tmp/www/uploads" \
ARTIFACTS="$ARTIFACTS" \
CHROMIUM="$CHROMIUM" \
    timeout -k 5 "$TEST_TIMEOUT" node --test --test-reporter=spec "$here/demo.test.mjs"
status=$?
[ "$status" = 124 ] && say "the test run exceeded ${TEST_TIMEOUT}s and was stopped"
if ! alive "$pid"; then
    wait "$pid"
    rc=$?
    if [ "$rc" -gt 128 ]; then how="was killed by signal $((rc - 128))"; else how="exited with status $rc"; fi
    say "webserv $how during the test (see ${ARTIFACTS#$root/}/browser-access.log); its output:"
    cat "$ARTIFACTS/browser-server.log" >&2
    [ "$status" = 0 ] && status=1
    pid=""
fi
say "finished in $(( $(date +%s) - start ))s with status $status; screenshots in ${ARTIFACTS#$root/}/"
exit "$status"
