#!/usr/bin/env bash
# Runs a private Postfix 3.7 with Dovecot SASL on 127.0.0.1, sends the scripted SMTP AUTH
# traffic of traffic.ts, and writes the real Postfix log with the truth computed from what
# was sent:
#
#   OUTDIR/maillog, OUTDIR/truth.json                  smtpd_tls_loglevel = 1
#   OUTDIR/tls-loglevel-0/maillog, .../truth.json      smtpd_tls_loglevel = 0 (no TLS lines)
#   OUTDIR/dovecot.log, OUTDIR/transcripts/            for debugging
#
# Usage: sudo test/e2e/postfix-harness.sh OUTDIR
# Needs root and the Debian packages postfix, dovecot-core, openssl and procps, plus Node with
# this repository's dev dependencies (tsx). Postfix and Dovecot get private configuration, queue,
# data and run directories under a temporary directory in /tmp. Nothing in /etc/postfix or
# /etc/dovecot is changed, and a running system Postfix or Dovecot is left alone.
# Environment: E2E_PORT_BASE (default 10000) moves the listeners to 127.0.0.1 ports
# BASE+587 (STARTTLS), BASE+465 (implicit TLS) and BASE+25 (no TLS).
# E2E_KEEP_WORKDIR=1 keeps the temporary directory.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PORT_BASE=${E2E_PORT_BASE:-10000}
SUBMISSION_PORT=$((PORT_BASE + 587))
SMTPS_PORT=$((PORT_BASE + 465))
PLAIN_PORT=$((PORT_BASE + 25))
# traffic.ts sends some recipients in this domain, which Postfix defers once and then delivers.
DEFERRED_DOMAIN=deferred.example.net
WAIT_SECONDS=60
export PATH="$PATH:/usr/sbin:/sbin"

WORK=
POSTFIX_CONF=
QUEUE=
DOVECOT_RUN=
POSTFIX_PIDS=()
DOVECOT_PID=

log() { printf 'postfix-harness: %s\n' "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

require_prerequisites() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (Postfix needs it to start), got uid $(id -u)"

  local tool
  for tool in postfix postconf postqueue dovecot doveconf openssl node ps; do
    command -v "$tool" >/dev/null \
      || die "$tool not found; install the Debian packages postfix dovecot-core openssl procps"
  done
  [ -d "$ROOT/node_modules/tsx" ] \
    || die "tsx not found in $ROOT/node_modules; run npm install in $ROOT"

  # NOTE: only run against Postfix 3.7.11 (Debian 12); later versions may log differently.
  local version major minor
  version=$(postconf -h mail_version)
  IFS=. read -r major minor _ <<<"$version"
  if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 7 ]; }; then
    die "Postfix $version found; the harness needs Postfix 3.7 or later"
  fi
}

# Reads /proc/net/tcp because ss and netstat are not always installed. Prints
# "ADDRESS:PORT" in hex for each listening socket on PORT.
listeners_on_port() {
  local port_hex
  port_hex=$(printf '%04X' "$1")
  # Column 2 is the local ADDRESS:PORT, and state 0A is LISTEN.
  awk -v port="$port_hex" \
    'NR > 1 && $4 == "0A" && substr($2, length($2) - 3) == port { print $2 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null || true
}

check_ports_free() {
  local port
  for port in "$SUBMISSION_PORT" "$SMTPS_PORT" "$PLAIN_PORT"; do
    [ -z "$(listeners_on_port "$port")" ] \
      || die "port $port is already in use; stop what listens there or set E2E_PORT_BASE"
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
      || die "Postfix does not listen on 127.0.0.1:$missing after ${WAIT_SECONDS}s (see $WORK/log)"
    sleep 0.1
  done
}

make_certificate() {
  # RSA rather than ECDSA, so that TLSv1 and TLSv1.1 clients can use it too.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.e2e.example.com \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >"$WORK/log/openssl.out" 2>&1 \
    || die "openssl req failed: $(cat "$WORK/log/openssl.out")"
  chmod 600 "$WORK/tls/key.pem"
}

write_dovecot_config() {
  (cd "$ROOT" && node --import tsx test/e2e/traffic.ts passwd-file) >"$WORK/dovecot/users"
  chgrp dovecot "$WORK/dovecot/users"
  chmod 640 "$WORK/dovecot/users"

  cat >"$WORK/dovecot/dovecot.conf" <<EOF
# Auth-only Dovecot: no protocols and no network listeners, one socket for Postfix SASL.
protocols =
base_dir = $DOVECOT_RUN
state_dir = $WORK/dovecot-state
instance_name = smtp-auth-report-e2e
log_path = $WORK/log/dovecot.log
info_log_path = $WORK/log/dovecot.log
auth_verbose = yes
auth_mechanisms = plain login
# Dovecot's default, set here because the truth relies on it. Dovecot lower-cases each login
# before the lookup, and Postfix logs the lower-cased name.
auth_username_format = %Lu
# Drops the fixed 2 s wait before a failure reply. The per-address auth penalty (2 to 15 s)
# still applies, which is why each failing client uses its own address.
auth_failure_delay = 0
disable_plaintext_auth = no
ssl = no
passdb {
  driver = passwd-file
  args = scheme=PLAIN $WORK/dovecot/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
  doveconf -c "$WORK/dovecot/dovecot.conf" -n >"$WORK/log/doveconf.out" 2>&1 \
    || die "invalid Dovecot configuration: $(cat "$WORK/log/doveconf.out")"
}

# Writes main.cf for one phase: write_postfix_config MAILLOG TLS_LOGLEVEL
write_postfix_config() {
  local maillog=$1 tls_loglevel=$2

  cat >"$POSTFIX_CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $WORK/postfix-data
myhostname = mx.e2e.example.com
mydomain = e2e.example.com
myorigin = \$myhostname
mydestination =
relay_domains =
relayhost =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no

# Every recipient is remote, and every remote delivery goes to discard(8). master.cf has
# no smtp client, so no mail can leave this machine.
default_transport = discard
relay_transport = discard
local_transport = discard
virtual_transport = discard
# smtpd rejects recipients routed to error: or retry: at RCPT time, so the messages that
# should be deferred once go to a second discard transport that is deferred until a flush.
transport_maps = inline:{ $DEFERRED_DOMAIN=discard-after-flush: }
defer_transports = discard-after-flush

# postlogd writes the log, so no syslog daemon is needed.
maillog_file = $maillog
maillog_file_prefixes = $WORK/log

smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access inline:{ blocked@example.net=REJECT }
smtpd_error_sleep_time = 0

smtpd_tls_cert_file = $WORK/tls/cert.pem
smtpd_tls_key_file = $WORK/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = $tls_loglevel
smtpd_tls_protocols = >=TLSv1
smtpd_tls_mandatory_protocols = >=TLSv1
smtpd_tls_ciphers = medium
smtpd_tls_mandatory_ciphers = medium
# OpenSSL 3 needs security level 0 to offer TLSv1 and TLSv1.1.
tls_medium_cipherlist = DEFAULT:@SECLEVEL=0
smtpd_tls_session_cache_database =
EOF
}

write_postfix_master_config() {
  # Postfix does not log the port, so each smtpd service gets its own syslog_name.
  cat >"$POSTFIX_CONF/master.cf" <<EOF
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
127.0.0.1:$PLAIN_PORT inet n - n - - smtpd
  -o syslog_name=postfix/plain
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
discard-after-flush unix - - n - - discard
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

start_dovecot() {
  dovecot -c "$WORK/dovecot/dovecot.conf" >"$WORK/log/dovecot-start.out" 2>&1 \
    || die "dovecot failed to start: $(cat "$WORK/log/dovecot-start.out")"

  # The dovecot command can return before the daemon has written master.pid.
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ -s "$DOVECOT_RUN/master.pid" ] && [ -S "$QUEUE/private/auth" ]; do
    [ "$SECONDS" -lt "$deadline" ] \
      || die "Dovecot wrote no $DOVECOT_RUN/master.pid or no socket $QUEUE/private/auth"
    sleep 0.1
  done
  DOVECOT_PID=$(cat "$DOVECOT_RUN/master.pid")
}

stop_dovecot() {
  [ -n "$DOVECOT_PID" ] || return 0
  kill "$DOVECOT_PID" 2>/dev/null || true
  wait_for_exit "$DOVECOT_PID"
  DOVECOT_PID=
}

# Waits until every PID has exited, and kills those still running after WAIT_SECONDS.
wait_for_exit() {
  local deadline=$((SECONDS + WAIT_SECONDS)) pid alive
  while :; do
    alive=()
    for pid in "$@"; do
      kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    [ ${#alive[@]} -eq 0 ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "processes ${alive[*]} still run ${WAIT_SECONDS}s after the stop request; killing them"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

start_postfix() {
  postfix -c "$POSTFIX_CONF" start >>"$WORK/log/postfix-commands.out" 2>&1 \
    || die "postfix failed to start (see $WORK/log/postfix-commands.out and the maillog)"
  wait_for_listeners

  local master
  master=$(tr -d ' ' <"$QUEUE/pid/master.pid")
  POSTFIX_PIDS=("$master")
}

stop_postfix() {
  [ ${#POSTFIX_PIDS[@]} -gt 0 ] || return 0

  # postfix stop lets master's children finish their work, so wait for them as well.
  local master=${POSTFIX_PIDS[0]} child
  for child in $(ps -o pid= --ppid "$master"); do
    POSTFIX_PIDS+=("$child")
  done
  postfix -c "$POSTFIX_CONF" stop >>"$WORK/log/postfix-commands.out" 2>&1 || true
  wait_for_exit "${POSTFIX_PIDS[@]}"
  POSTFIX_PIDS=()
}

# Counts log lines that match an extended regular expression.
count_lines() {
  local count
  count=$(grep -cE "$2" "$1" 2>/dev/null) || true
  echo "${count:-0}"
}

# Waits until MAILLOG has COUNT lines that match PATTERN. Arguments: MAILLOG COUNT PATTERN WHAT
wait_for_log() {
  local maillog=$1 count=$2 pattern=$3 what=$4
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ "$(count_lines "$maillog" "$pattern")" -ge "$count" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "$maillog has $(count_lines "$maillog" "$pattern") of $count $what lines" \
        "after ${WAIT_SECONDS}s"
    fi
    sleep 0.1
  done
}

# Flushes the queue once the first delivery attempt has deferred the messages for
# DEFERRED_DOMAIN. postqueue -f ignores defer_transports, so qmgr moves those messages to the
# active queue a second time, logs their from= line again, and delivers them.
deliver_deferred() {
  local maillog=$1 deferred=$2
  wait_for_log "$maillog" "$deferred" ' status=deferred ' 'deferred delivery'
  postqueue -c "$POSTFIX_CONF" -f || die "postqueue -f failed"
}

# Runs one phase. Arguments: NAME TLS_LOGLEVEL OUTDIR
run_phase() {
  local name=$1 tls_loglevel=$2 outdir=$3
  local maillog=$WORK/log/maillog-$name expectations=$WORK/expectations-$name
  local sessions messages deferred

  mkdir -p "$outdir"
  write_postfix_config "$maillog" "$tls_loglevel"
  start_postfix
  # Dovecot puts its socket into Postfix's private queue directory, which the first
  # postfix start creates. smtpd connects to it only when a client says EHLO.
  [ -n "$DOVECOT_PID" ] || start_dovecot

  log "phase $name: sending traffic"
  (cd "$ROOT" && node --import tsx test/e2e/traffic.ts run --phase "$name" \
    --ports "$SUBMISSION_PORT,$SMTPS_PORT,$PLAIN_PORT" --truth "$outdir/truth.json" \
    --expectations "$expectations" --transcripts "$OUTDIR/transcripts/$name") \
    || die "phase $name: traffic failed (transcripts in $OUTDIR/transcripts/$name)"
  read -r sessions messages deferred <"$expectations"

  if [ "$deferred" -gt 0 ]; then
    deliver_deferred "$maillog" "$deferred"
  fi

  # "removed" is qmgr's last line for a message, and every session ends with "disconnect",
  # so once both counts are reached the log is complete.
  wait_for_log "$maillog" "$messages" 'qmgr\[[0-9]+\]: [0-9A-Za-z]+: removed$' 'qmgr removed'
  wait_for_log "$maillog" "$sessions" ' disconnect from ' 'disconnect'
  stop_postfix

  cp "$maillog" "$outdir/maillog"
  log "phase $name: $sessions sessions, $messages messages, $(wc -l <"$outdir/maillog") log lines"
}

cleanup() {
  local status=$?
  stop_postfix
  stop_dovecot
  if [ -n "$WORK" ]; then
    if [ "$status" -ne 0 ] || [ "${E2E_KEEP_WORKDIR:-}" = 1 ]; then
      log "kept $WORK for inspection"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$status"
}

main() {
  [ $# -eq 1 ] || die "usage: $0 OUTDIR"
  OUTDIR=$1
  local started=$SECONDS

  require_prerequisites
  check_ports_free
  mkdir -p "$OUTDIR"
  OUTDIR=$(cd "$OUTDIR" && pwd)

  WORK=$(mktemp -d /tmp/postfix-e2e.XXXXXX)
  # Dovecot's unprivileged processes must reach their sockets below this directory.
  chmod 755 "$WORK"
  POSTFIX_CONF=$WORK/postfix
  QUEUE=$WORK/spool
  DOVECOT_RUN=$WORK/dovecot-run
  mkdir -p "$POSTFIX_CONF" "$QUEUE" "$WORK/postfix-data" "$WORK/dovecot" "$WORK/dovecot-state" \
    "$WORK/log" "$WORK/tls"
  chown postfix "$WORK/postfix-data"
  trap cleanup EXIT
  # On these signals, exit through the EXIT trap too, so that the daemons stop with the harness.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM

  make_certificate
  write_postfix_master_config
  write_dovecot_config

  run_phase tls-logging 1 "$OUTDIR"
  run_phase no-tls-logging 0 "$OUTDIR/tls-loglevel-0"

  stop_dovecot
  cp "$WORK/log/dovecot.log" "$OUTDIR/dovecot.log"
  log "done in $((SECONDS - started))s: wrote $OUTDIR/maillog, $OUTDIR/truth.json" \
    "and $OUTDIR/tls-loglevel-0/"
}

main "$@"
