#!/bin/sh
# A local certificate authority and a certificate for localhost signed by
# it, for the HTTPS demo (conf/https.conf): `make cert`.
#
#   scripts/make-cert.sh [DIR]     default DIR: certs/ of the source tree
#
# DIR/ca.pem          the CA certificate: trust it in a browser, or pass it
#                     to curl --cacert, to reach https://localhost:8443/
# DIR/localhost.pem   the server certificate (ECDSA P-256; localhost,
# DIR/localhost.key   127.0.0.1 and ::1), valid 825 days
# An existing certificate is kept; delete DIR to make new ones.
set -e
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/certs}
command -v openssl >/dev/null 2>&1 || {
    echo "make-cert: needs the openssl tool (apt-get install openssl)" >&2
    exit 1
}
mkdir -p "$dir"
cd "$dir"
if [ -f localhost.pem ] && [ -f localhost.key ] && [ -f ca.pem ]; then
    echo "make-cert: $dir/localhost.pem exists (delete $dir for new ones)"
    exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=webserv local CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout localhost.key -out localhost.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile ext.cnf -out localhost.pem 2>/dev/null
rm -f localhost.csr ext.cnf ca.srl
chmod 644 ca.pem localhost.pem
echo "make-cert: $dir/localhost.pem (CA: $dir/ca.pem)"
