#!/usr/bin/env bash
# Install the Debian packages that the end-to-end tests (real Postfix, Dovecot, Exim and
# Sendmail), the journal tests (journalctl, systemd-journal-remote), the ClickHouse tests and
# the browser tests (Chromium) need. Runs only as root on a Debian-like system and only
# installs what is missing; elsewhere those tests report themselves skipped.
set -euo pipefail

PACKAGES=(postfix dovecot-core dovecot-submissiond dovecot-imapd openssl procps chromium python3
  systemd-journal-remote clickhouse-server)

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-deps: not root on Debian; end-to-end and browser tests may be skipped" >&2
  exit 0
fi

# Sendmail end-to-end test (test/e2e/sendmail-harness.sh). sendmail-bin conflicts with
# Postfix as a Debian package, so its .deb files are unpacked under SENDMAIL_ROOT instead of
# installed. m4 builds the cf file, sasl2-bin the sasldb, and libsasl2-modules brings the
# PLAIN and LOGIN mechanisms. The lib packages are what the unpacked binary links against.
install_sendmail_test_deps() {
  local root=${SENDMAIL_ROOT:-/opt/sendmail-e2e} package deb debs
  local needed=(m4 sasl2-bin libsasl2-modules python3 libwrap0 libnsl2 libldap-2.5-0 libdb5.3)
  local absent=()
  for package in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || absent+=("$package")
  done
  if [ ${#absent[@]} -gt 0 ]; then
    echo "install-test-deps: installing ${absent[*]}" >&2
    apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      --no-install-recommends "${absent[@]}" || return 1
  fi

  [ -x "$root/usr/libexec/sendmail/sendmail" ] && return 0
  echo "install-test-deps: unpacking sendmail-bin, sendmail-base and sendmail-cf into $root" >&2
  debs=$(mktemp -d)
  chmod 755 "$debs"
  if ! (cd "$debs" && apt-get download sendmail-bin sendmail-base sendmail-cf); then
    apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
    (cd "$debs" && apt-get download sendmail-bin sendmail-base sendmail-cf) || return 1
  fi
  mkdir -p "$root"
  for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$root" || return 1
  done
  rm -rf "$debs"
}
install_sendmail_test_deps \
  || echo "install-test-deps: could not prepare Sendmail; its end-to-end test is skipped" >&2

# Exim end-to-end test (test/e2e/exim-harness.sh). exim4-daemon-heavy conflicts with Postfix
# as a Debian package, so the harness unpacks it under /opt and installs the libraries it
# links against; --install does only that, ahead of the test.
bash "$(dirname "$0")/../test/e2e/exim-harness.sh" --install \
  || echo "install-test-deps: could not prepare Exim; its end-to-end test tries again" >&2

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}" >&2
# Postfix asks how to configure itself; the tests write their own configuration.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
