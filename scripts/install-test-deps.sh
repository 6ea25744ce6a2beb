#!/usr/bin/env bash
# Install the Debian packages that the end-to-end tests (a real Postfix with Dovecot SASL)
# and the browser tests (Chromium) need. Runs only as root on a Debian-like system and only
# installs what is missing; elsewhere those tests report themselves skipped.
set -euo pipefail

PACKAGES=(postfix dovecot-core openssl procps chromium)

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-deps: not root on Debian; end-to-end and browser tests may be skipped" >&2
  exit 0
fi

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
