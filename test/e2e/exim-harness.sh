#!/usr/bin/env bash
# Runs a private Exim 4.96 (Debian's exim4-daemon-heavy, GnuTLS) on 127.0.0.1, sends the
# scripted SMTP AUTH traffic of exim-traffic.ts, and writes the real Exim main log with the
# truth computed from what was sent, once per set of log settings:
#
#   OUTDIR/pid/mainlog, .../truth.json      log_selector +pid +smtp_no_mail +millisec and
#                                           more, log_timezone = true, timezone Asia/Kolkata
#   OUTDIR/default/mainlog, .../truth.json  log_selector +received_recipients +subject,
#                                           no time zone in the log, timezone America/New_York
#   OUTDIR/transcripts/                     the SMTP sessions, for debugging
#
# Usage: sudo test/e2e/exim-harness.sh OUTDIR
#        sudo test/e2e/exim-harness.sh --install   (only download and unpack Exim)
# Needs root, apt-get, dpkg-deb and openssl, plus Node with this repository's dev dependencies
# (tsx). Debian's exim4 packages conflict with postfix, so the harness does not install them:
# it downloads exim4-daemon-heavy with apt-get download, unpacks it with dpkg-deb -x into
# EXIM_ROOT, and installs only the libraries it depends on. Postfix stays installed.
# The Exim binary trusts a configuration given with -C only when /etc/exim4/trusted_configs
# lists it, so the configuration has a fixed path (CONF_DIR) that the harness adds there once.
# Spool, log and mailbox files live in a temporary directory under /tmp. Nothing leaves the
# machine: the routers only discard, fail, defer or append to a file, and there is no smtp
# transport.
# Environment: E2E_EXIM_PORT_BASE (default 14000) moves the listeners to 127.0.0.1 ports
# BASE+587 (STARTTLS), BASE+465 (implicit TLS) and BASE+25 (no TLS).
# E2E_KEEP_WORKDIR=1 keeps the temporary directory.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PORT_BASE=${E2E_EXIM_PORT_BASE:-14000}
SUBMISSION_PORT=$((PORT_BASE + 587))
SMTPS_PORT=$((PORT_BASE + 465))
PLAIN_PORT=$((PORT_BASE + 25))
EXIM_ROOT=/opt/smtp-auth-report-exim
EXIM=$EXIM_ROOT/usr/sbin/exim4
CONF_DIR=/var/lib/smtp-auth-report-e2e/exim
CONF=$CONF_DIR/exim.conf
TRUSTED_CONFIGS=/etc/exim4/trusted_configs
# Debian builds Exim to run as this user; the binary stops without it.
EXIM_USER=Debian-exim
WAIT_SECONDS=60
export PATH="$PATH:/usr/sbin:/sbin"

WORK=
EXIM_PID=

log() { printf 'exim-harness: %s\n' "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

require_install_tools() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (Exim's daemon needs it), got uid $(id -u)"

  local tool
  for tool in apt-get dpkg-deb dpkg-query; do
    command -v "$tool" >/dev/null || die "$tool not found; the harness needs Debian's apt and dpkg"
  done
}

require_prerequisites() {
  require_install_tools

  local tool
  for tool in openssl node; do
    command -v "$tool" >/dev/null || die "$tool not found; install openssl and Node.js"
  done
  [ -d "$ROOT/node_modules/tsx" ] \
    || die "tsx not found in $ROOT/node_modules; run npm install in $ROOT"
}

# Installs the libraries that exim4-daemon-heavy depends on. The Depends field also names
# exim4-base and debconf, which belong to the Debian exim4 setup that conflicts with postfix.
install_libraries() {
  local deb=$1 wanted=() missing=() package
  mapfile -t wanted < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/[|(].*//; s/ //g' \
    | grep '^lib')
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$package")
  done
  [ ${#missing[@]} -gt 0 ] || return 0

  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${missing[@]}" >>"$WORK/log/apt.out" 2>&1 \
    || die "apt-get install ${missing[*]} failed (see $WORK/log/apt.out)"
}

install_exim() {
  if [ -x "$EXIM" ]; then
    return 0
  fi

  log "unpacking exim4-daemon-heavy into $EXIM_ROOT"
  local debs=$WORK/debs
  mkdir -p "$debs"
  # apt-get download writes as the _apt user when it can, and warns when it cannot.
  chmod 777 "$debs"
  if ! (cd "$debs" && apt-get download exim4-daemon-heavy) >>"$WORK/log/apt.out" 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$WORK/log/apt.out" 2>&1 \
      || die "apt-get update failed (see $WORK/log/apt.out)"
    (cd "$debs" && apt-get download exim4-daemon-heavy) >>"$WORK/log/apt.out" 2>&1 \
      || die "apt-get download exim4-daemon-heavy failed (see $WORK/log/apt.out)"
  fi

  local deb
  deb=$(ls "$debs"/exim4-daemon-heavy_*.deb)
  install_libraries "$deb"
  rm -rf "$EXIM_ROOT"
  mkdir -p "$EXIM_ROOT"
  dpkg-deb -x "$deb" "$EXIM_ROOT" || die "dpkg-deb -x $deb failed"
  [ -x "$EXIM" ] || die "$deb has no usr/sbin/exim4"
}

ensure_exim_user() {
  id "$EXIM_USER" >/dev/null 2>&1 && return 0
  useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$EXIM_USER" \
    || die "useradd $EXIM_USER failed"
}

# Reads /proc/net/tcp because ss and netstat are not always installed. Prints
# "ADDRESS:PORT" in hex for each listening socket on PORT.
listeners_on_port() {
  local port_hex
  port_hex=$(printf '%04X' "$1")
  awk -v port="$port_hex" \
    'NR > 1 && $4 == "0A" && substr($2, length($2) - 3) == port { print $2 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null || true
}

check_ports_free() {
  local port
  for port in "$SUBMISSION_PORT" "$SMTPS_PORT" "$PLAIN_PORT"; do
    [ -z "$(listeners_on_port "$port")" ] \
      || die "port $port is already in use; stop what listens there or set E2E_EXIM_PORT_BASE"
  done
}

wait_for_free_ports() {
  local deadline=$((SECONDS + WAIT_SECONDS)) port
  for port in "$SUBMISSION_PORT" "$SMTPS_PORT" "$PLAIN_PORT"; do
    until [ -z "$(listeners_on_port "$port")" ]; do
      [ "$SECONDS" -lt "$deadline" ] \
        || die "port $port is still in use ${WAIT_SECONDS}s after Exim was stopped"
      sleep 0.1
    done
  done
}

wait_for_listeners() {
  local deadline=$((SECONDS + WAIT_SECONDS)) port missing
  while :; do
    missing=
    for port in "$SUBMISSION_PORT" "$SMTPS_PORT" "$PLAIN_PORT"; do
      [ "$(listeners_on_port "$port")" = "0100007F:$(printf '%04X' "$port")" ] || missing=$port
    done
    [ -z "$missing" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] \
      || die "Exim does not listen on 127.0.0.1:$missing after ${WAIT_SECONDS}s (see $WORK/log)"
    sleep 0.1
  done
}

make_files() {
  # RSA rather than ECDSA, so that TLSv1 and TLSv1.1 clients can use it too.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.e2e.example.com \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >"$WORK/log/openssl.out" 2>&1 \
    || die "openssl req failed: $(cat "$WORK/log/openssl.out")"
  (cd "$ROOT" && node --import tsx test/e2e/exim-traffic.ts passwd-file) >"$WORK/tls/passwd"
  chown root:"$EXIM_USER" "$WORK/tls" "$WORK/tls"/*
  chmod 750 "$WORK/tls"
  chmod 640 "$WORK/tls"/*

  chown "$EXIM_USER:$EXIM_USER" "$WORK/spool" "$WORK/exim-log" "$WORK/mail"
}

trust_configuration() {
  mkdir -p "$CONF_DIR" /etc/exim4
  chmod 755 "$CONF_DIR"
  grep -qxF "$CONF" "$TRUSTED_CONFIGS" 2>/dev/null || echo "$CONF" >>"$TRUSTED_CONFIGS"
  chown root:root "$TRUSTED_CONFIGS"
  chmod 644 "$TRUSTED_CONFIGS"
}

# Writes the configuration for one phase: write_config LOG_SELECTOR LOG_TIMEZONE TIMEZONE
write_config() {
  local selector=$1 log_timezone=$2 timezone=$3

  cat >"$CONF" <<EOF
# Written by test/e2e/exim-harness.sh for one end-to-end run.
primary_hostname = mx.e2e.example.com
qualify_domain = e2e.example.com
exim_path = $EXIM
keep_environment =
exim_user = $EXIM_USER
exim_group = $EXIM_USER
never_users = root
spool_directory = $WORK/spool
log_file_path = $WORK/exim-log/%slog
pid_file_path = $WORK/exim.pid
log_selector = $selector
log_timezone = $log_timezone
timezone = $timezone
local_interfaces = <; 127.0.0.1.$SUBMISSION_PORT ; 127.0.0.1.$SMTPS_PORT ; 127.0.0.1.$PLAIN_PORT
tls_on_connect_ports = $SMTPS_PORT
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
# GnuTLS priorities that keep TLS 1.0 and 1.1 available for the old clients in the traffic.
tls_advertise_hosts = \${if eq{\$received_port}{$PLAIN_PORT}{}{*}}
tls_certificate = $WORK/tls/cert.pem
tls_privatekey = $WORK/tls/key.pem
tls_require_ciphers = NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0:%COMPAT
# As Debian's configuration does: AUTH only over TLS, except on the port without TLS.
auth_advertise_hosts = \${if or{{def:tls_in_cipher}{eq{\$received_port}{$PLAIN_PORT}}}{*}{}}
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept authenticated = *
  deny   message = Relay access denied

begin routers
# Defers until the harness creates the release file, then the router is skipped.
deliver_later:
  driver = redirect
  domains = later.example.net
  condition = \${if exists{$WORK/release}{no}{yes}}
  allow_defer
  data = :defer: held until the harness releases it
unknown_mailbox:
  driver = redirect
  domains = nowhere.example.net
  allow_fail
  data = :fail: no such mailbox
team_list:
  driver = redirect
  domains = lists.example.org
  local_parts = team
  data = alice@batch.example.org, bob@batch.example.org
batch_mailbox:
  driver = accept
  domains = batch.example.org
  transport = batch_file
discard_everything:
  driver = redirect
  data = :blackhole:

begin transports
# One transport run for every address of a message, so Exim logs "=>" and then "->" lines.
batch_file:
  driver = appendfile
  file = $WORK/mail/batch
  batch_max = 100
  user = $EXIM_USER
  group = $EXIM_USER

begin retry
*  *  F,1h,15m

begin authenticators
# Named and written as in Debian's exim4-config, which logs these names in A= and in failures.
plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and{{!eq{\$auth3}{}}{eq{\$auth3}{\${lookup{\$auth2}lsearch{$WORK/tls/passwd}{\$value}{}}}}}}
  server_set_id = \$auth2
login_server:
  driver = plaintext
  public_name = LOGIN
  server_prompts = "Username:: : Password::"
  server_condition = \${if and{{!eq{\$auth2}{}}{eq{\$auth2}{\${lookup{\$auth1}lsearch{$WORK/tls/passwd}{\$value}{}}}}}}
  server_set_id = \$auth1
cram_md5_server:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${lookup{\$auth1}lsearch{$WORK/tls/passwd}{\$value}fail}
  server_set_id = \$auth1
EOF
  chmod 644 "$CONF"
  "$EXIM" -C "$CONF" -bV >"$WORK/log/exim-bV.out" 2>&1 \
    || die "invalid Exim configuration: $(tail -5 "$WORK/log/exim-bV.out")"
}

start_exim() {
  # The daemon leaves its pid file behind when it stops, so the next phase must not read it.
  rm -f "$WORK/exim-log/mainlog" "$WORK/release" "$WORK/exim.pid"
  "$EXIM" -C "$CONF" -bd >>"$WORK/log/exim-start.out" 2>&1 \
    || die "exim failed to start: $(cat "$WORK/log/exim-start.out")"

  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ -s "$WORK/exim.pid" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "Exim wrote no $WORK/exim.pid (see $WORK/exim-log)"
    sleep 0.1
  done
  EXIM_PID=$(cat "$WORK/exim.pid")
  wait_for_listeners
}

stop_exim() {
  [ -n "$EXIM_PID" ] || return 0
  # The pid came from a file, so make sure it still names the daemon.
  if [ "$(cat "/proc/$EXIM_PID/comm" 2>/dev/null)" != exim4 ]; then
    EXIM_PID=
    return 0
  fi
  kill "$EXIM_PID" 2>/dev/null || true

  local deadline=$((SECONDS + WAIT_SECONDS))
  while kill -0 "$EXIM_PID" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "Exim ($EXIM_PID) still runs ${WAIT_SECONDS}s after the stop request; killing it"
      kill -KILL "$EXIM_PID" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  EXIM_PID=
}

# Counts log lines that match an extended regular expression.
count_lines() {
  local count
  count=$(grep -cE "$2" "$1" 2>/dev/null) || true
  echo "${count:-0}"
}

# Waits until the main log has COUNT lines that match PATTERN. Arguments: COUNT PATTERN WHAT
wait_for_log() {
  local count=$1 pattern=$2 what=$3 mainlog=$WORK/exim-log/mainlog
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ "$(count_lines "$mainlog" "$pattern")" -ge "$count" ]; do
    [ "$SECONDS" -lt "$deadline" ] \
      || die "the main log has $(count_lines "$mainlog" "$pattern") of $count $what lines after ${WAIT_SECONDS}s"
    sleep 0.1
  done
}

wait_for_empty_queue() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ "$("$EXIM" -C "$CONF" -bpc 2>/dev/null)" = 0 ]; do
    [ "$SECONDS" -lt "$deadline" ] \
      || die "Exim's queue still holds $("$EXIM" -C "$CONF" -bpc) messages after ${WAIT_SECONDS}s"
    sleep 0.1
  done
}

# Lets the deferred message go: after its first attempt logged "==", the router that defers
# it is switched off and a forced queue run delivers it.
release_deferred() {
  wait_for_log 1 ' == report@later\.example\.net ' 'deferral'
  touch "$WORK/release"
  "$EXIM" -C "$CONF" -qff >>"$WORK/log/exim-queue-run.out" 2>&1 \
    || die "exim -qff failed: $(cat "$WORK/log/exim-queue-run.out")"
}

# Runs one phase. Arguments: NAME LOG_SELECTOR LOG_TIMEZONE TIMEZONE
run_phase() {
  local name=$1 selector=$2 log_timezone=$3 timezone=$4
  local outdir=$OUTDIR/$name

  mkdir -p "$outdir"
  write_config "$selector" "$log_timezone" "$timezone"
  start_exim

  log "phase $name: sending traffic"
  (cd "$ROOT" && node --import tsx test/e2e/exim-traffic.ts run --phase "$name" \
    --ports "$SUBMISSION_PORT,$SMTPS_PORT,$PLAIN_PORT" --truth "$outdir/truth.json" \
    --transcripts "$OUTDIR/transcripts/$name") \
    || die "phase $name: traffic failed (transcripts in $OUTDIR/transcripts/$name)"

  release_deferred
  wait_for_empty_queue
  stop_exim
  wait_for_free_ports

  cp "$WORK/exim-log/mainlog" "$outdir/mainlog"
  log "phase $name: $(wc -l <"$outdir/mainlog") log lines"
}

cleanup() {
  local status=$?
  stop_exim
  if [ -n "$WORK" ]; then
    if [ "$status" -ne 0 ] || [ "${E2E_KEEP_WORKDIR:-}" = 1 ]; then
      log "kept $WORK for inspection"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$status"
}

# Only downloads and unpacks Exim, so that the test itself needs no network.
install_only() {
  require_install_tools
  WORK=$(mktemp -d /tmp/exim-e2e.XXXXXX)
  # apt-get download writes as the _apt user, which must reach the download directory.
  chmod 755 "$WORK"
  mkdir -p "$WORK/log"
  trap cleanup EXIT
  install_exim
  ensure_exim_user
  log "Exim is ready in $EXIM_ROOT"
}

main() {
  [ $# -eq 1 ] || die "usage: $0 OUTDIR, or $0 --install"
  if [ "$1" = --install ]; then
    install_only
    return 0
  fi
  OUTDIR=$1
  local started=$SECONDS

  require_prerequisites
  check_ports_free
  mkdir -p "$OUTDIR"
  OUTDIR=$(cd "$OUTDIR" && pwd)

  WORK=$(mktemp -d /tmp/exim-e2e.XXXXXX)
  # Exim's delivery processes run as the Exim user and must reach the spool below this.
  chmod 755 "$WORK"
  mkdir -p "$WORK/spool" "$WORK/exim-log" "$WORK/mail" "$WORK/tls" "$WORK/log"
  trap cleanup EXIT
  # On these signals, exit through the EXIT trap too, so that the daemon stops with the harness.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM

  install_exim
  ensure_exim_user
  trust_configuration
  make_files

  run_phase pid '+pid +smtp_no_mail +smtp_connection +incoming_port +incoming_interface +millisec' \
    true Asia/Kolkata
  run_phase default '+received_recipients +subject' false America/New_York

  log "done in $((SECONDS - started))s: wrote $OUTDIR/pid/ and $OUTDIR/default/"
}

main "$@"
