#!/bin/sh
# with-extra-ca CMD...: run CMD (a download step of an image build) trusting, besides the base
# image's CAs, the PEM bundle given as the build secret `extra-ca` (`make images EXTRA_CA=<file>`),
# for builds behind a TLS-intercepting proxy. The secret is mounted only for the step; the merged
# bundle is removed before the step's layer is written.
set -eu
if [ -s /run/secrets/extra-ca ]; then
  bundle=$(mktemp /tmp/porto-ca.XXXXXX)
  cat /etc/ssl/certs/ca-certificates.crt /run/secrets/extra-ca >"$bundle" 2>/dev/null ||
    cat /run/secrets/extra-ca >"$bundle"
  status=0
  SSL_CERT_FILE=$bundle PIP_CERT=$bundle REQUESTS_CA_BUNDLE=$bundle "$@" || status=$?
  rm -f "$bundle"
  exit "$status"
fi
exec "$@"
