#!/bin/sh
# Install from Debian's archive what is missing:
#   install-deps.sh build  what building needs (`make`)
#   install-deps.sh run    ... and what the demo configuration needs (`make run`)
#   install-deps.sh        ... and what the test suite needs (`make test`)
set -e
mode=${1:-test}
need=""
[ -f /usr/include/openssl/ssl.h ] || need="$need libssl-dev"
[ -f /usr/include/nghttp2/nghttp2.h ] || need="$need libnghttp2-dev"
[ -f /usr/include/pcre2.h ] || need="$need libpcre2-dev"
[ -f /usr/include/crypt.h ] || need="$need libcrypt-dev"
if [ "$mode" != build ]; then
    [ -x /usr/bin/php-cgi ] || need="$need php-cgi"
    [ -x /usr/bin/python3 ] || need="$need python3"
fi
if [ "$mode" = test ]; then
    command -v openssl >/dev/null 2>&1 || need="$need openssl"  # test certificates
    /usr/bin/python3 -c 'import pytest' 2>/dev/null || need="$need python3-pytest"
    /usr/bin/python3 -c 'import pytest_timeout' 2>/dev/null || need="$need python3-pytest-timeout"
    command -v curl >/dev/null 2>&1 || need="$need curl"
    /usr/bin/python3 -c 'import h2' 2>/dev/null || need="$need python3-h2"  # HTTP/2 frame-level tests
    command -v nghttp >/dev/null 2>&1 || need="$need nghttp2-client"  # nghttp, h2load
    command -v testssl >/dev/null 2>&1 || need="$need testssl.sh"  # tests/testssl/run.sh
    command -v htpasswd >/dev/null 2>&1 || need="$need apache2-utils"  # htpasswd files of every kind
    [ -f /etc/nginx/mime.types ] || need="$need nginx-common"  # nginx's mime.types and fastcgi_params, included as they are
    # make test-valgrind
    [ -x /usr/bin/valgrind ] || need="$need valgrind"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing:$need (run as root or install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $need
