#!/bin/sh
# Install what the test suite needs from Debian's archive, when missing.
set -e
need=""
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pytest' 2>/dev/null || need="$need python3-pytest"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pytest_timeout' 2>/dev/null || need="$need python3-pytest-timeout"
command -v curl >/dev/null 2>&1 || need="$need curl"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing:$need (run as root or install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $need
