#!/usr/bin/env bash
# Runs a private Dovecot 2.3 (submission, submissions and IMAP) in front of a private
# Postfix 3.7 on 127.0.0.1, sends the scripted traffic of dovecot-traffic.ts, and writes the
# real logs with the truth computed from what was sent. Dovecot's submission service relays
# to Postfix, and a second Postfix smtpd authenticates through Dovecot's auth socket, so one
# Dovecot log contains the failed logins of both. Two phases:
#
#   OUTDIR/verbose/   auth_verbose = yes, the TLS version (%k) in login_log_format_elements,
#                     submission_relay_trusted = yes (XCLIENT to Postfix)
#   OUTDIR/default/   Dovecot's default log settings
#
# Each phase folder has dovecot.log, maillog and truth.json.
#
# Usage: sudo test/e2e/dovecot-harness.sh OUTDIR
# Needs root, the Debian packages postfix, dovecot-core, dovecot-submissiond, dovecot-imapd,
# openssl and procps, and Node with this repository's dev dependencies (tsx). Both servers
# get private configuration, queue, data and run directories under a temporary directory in
# /tmp; nothing in /etc/postfix or /etc/dovecot is changed.
# Environment: E2E_DOVECOT_PORT_BASE (default 12000) moves the listeners to 127.0.0.1 ports
# BASE+587 and BASE+465 (Dovecot submission, STARTTLS and implicit TLS), BASE+143 (Dovecot
# IMAP), BASE+25 (Postfix, the relay Dovecot submits to) and BASE+588 (Postfix submission
# with Dovecot SASL). E2E_KEEP_WORKDIR=1 keeps the temporary directory.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PORT_BASE=${E2E_DOVECOT_PORT_BASE:-12000}
SUBMISSION_PORT=$((PORT_BASE + 587))
SUBMISSIONS_PORT=$((PORT_BASE + 465))
IMAP_PORT=$((PORT_BASE + 143))
RELAY_PORT=$((PORT_BASE + 25))
POSTFIX_SUBMISSION_PORT=$((PORT_BASE + 588))
PORTS=("$SUBMISSION_PORT" "$SUBMISSIONS_PORT" "$IMAP_PORT" "$RELAY_PORT" "$POSTFIX_SUBMISSION_PORT")
WAIT_SECONDS=60
export PATH="$PATH:/usr/sbin:/sbin"

WORK=
POSTFIX_CONF=
QUEUE=
DOVECOT_RUN=
POSTFIX_PIDS=()
DOVECOT_PID=

log() { printf 'dovecot-harness: %s\n' "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

require_prerequisites() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (Postfix needs it to start), got uid $(id -u)"

  local tool
  for tool in postfix postconf dovecot doveconf openssl node ps; do
    command -v "$tool" >/dev/null \
      || die "$tool not found; install the Debian packages postfix dovecot-core openssl procps"
  done
  local service
  for service in submission-login imap-login; do
    [ -x "/usr/lib/dovecot/$service" ] \
      || die "/usr/lib/dovecot/$service not found; install dovecot-submissiond and dovecot-imapd"
  done
  [ -d "$ROOT/node_modules/tsx" ] \
    || die "tsx not found in $ROOT/node_modules; run npm install in $ROOT"
}

# Prints "ADDRESS:PORT" in hex for each listening socket on PORT, from /proc/net/tcp.
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
  for port in "${PORTS[@]}"; do
    [ -z "$(listeners_on_port "$port")" ] \
      || die "port $port is already in use; stop what listens there or set E2E_DOVECOT_PORT_BASE"
  done
}

wait_for_listeners() {
  local deadline=$((SECONDS + WAIT_SECONDS)) port missing
  while :; do
    missing=
    for port in "$@"; do
      [ "$(listeners_on_port "$port")" = "0100007F:$(printf '%04X' "$port")" ] || missing=$port
    done
    [ -z "$missing" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] \
      || die "nothing listens on 127.0.0.1:$missing after ${WAIT_SECONDS}s (see $WORK/log)"
    sleep 0.1
  done
}

make_certificate() {
  # RSA rather than ECDSA, so that TLSv1 and TLSv1.1 clients can use it too.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.example.org \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >"$WORK/log/openssl.out" 2>&1 \
    || die "openssl req failed: $(cat "$WORK/log/openssl.out")"
  chmod 600 "$WORK/tls/key.pem"
}

# Writes dovecot.conf for one phase: write_dovecot_config DOVECOT_LOG verbose|default
write_dovecot_config() {
  local dovecot_log=$1 phase=$2 verbose_settings=

  if [ "$phase" = verbose ]; then
    # %k adds the TLS version and cipher to the login lines, which Dovecot's default omits.
    verbose_settings="auth_verbose = yes
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c %k session=<%{session}>
submission_relay_trusted = yes"
  fi

  cat >"$WORK/dovecot/dovecot.conf" <<EOF
protocols = submission imap
listen = 127.0.0.1
base_dir = $DOVECOT_RUN
state_dir = $WORK/dovecot-state
instance_name = smtp-auth-report-dovecot-e2e
log_path = $dovecot_log
info_log_path = $dovecot_log
hostname = mx.example.org
auth_mechanisms = plain login
# Drops the fixed 2 s wait before a failure reply. The per-address auth penalty (2 to 15 s)
# still applies, which is why each failing client uses its own address.
auth_failure_delay = 0
disable_plaintext_auth = no
ssl = yes
ssl_cert = <$WORK/tls/cert.pem
ssl_key = <$WORK/tls/key.pem
ssl_min_protocol = TLSv1
# OpenSSL 3 needs security level 0 to offer TLSv1 and TLSv1.1.
ssl_cipher_list = DEFAULT:@SECLEVEL=0
mail_location = maildir:$WORK/home/%u/Maildir
submission_relay_host = 127.0.0.1
submission_relay_port = $RELAY_PORT
$verbose_settings
passdb {
  driver = passwd-file
  args = scheme=PLAIN $WORK/dovecot/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$WORK/home/%u
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SUBMISSION_PORT
  }
  inet_listener submissions {
    address = 127.0.0.1
    port = $SUBMISSIONS_PORT
    ssl = yes
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
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

write_postfix_config() {
  local maillog=$1

  cat >"$POSTFIX_CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $WORK/postfix-data
myhostname = relay.example.org
mydomain = example.org
myorigin = \$myhostname
mydestination =
relay_domains =
relayhost =
mynetworks = 127.0.0.0/8
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

maillog_file = $maillog
maillog_file_prefixes = $WORK/log

smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_error_sleep_time = 0

smtpd_tls_cert_file = $WORK/tls/cert.pem
smtpd_tls_key_file = $WORK/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_protocols = >=TLSv1
smtpd_tls_mandatory_protocols = >=TLSv1
smtpd_tls_ciphers = medium
smtpd_tls_mandatory_ciphers = medium
tls_medium_cipherlist = DEFAULT:@SECLEVEL=0
smtpd_tls_session_cache_database =
EOF

  cat >"$POSTFIX_CONF/master.cf" <<EOF
127.0.0.1:$RELAY_PORT inet n - n - - smtpd
  -o syslog_name=postfix/relay
  -o smtpd_tls_security_level=none
  -o smtpd_authorized_xclient_hosts=127.0.0.1
127.0.0.1:$POSTFIX_SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
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
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

start_postfix() {
  postfix -c "$POSTFIX_CONF" start >>"$WORK/log/postfix-commands.out" 2>&1 \
    || die "postfix failed to start (see $WORK/log/postfix-commands.out and the maillog)"
  wait_for_listeners "$RELAY_PORT" "$POSTFIX_SUBMISSION_PORT"
  POSTFIX_PIDS=("$(tr -d ' ' <"$QUEUE/pid/master.pid")")
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
  wait_for_listeners "$SUBMISSION_PORT" "$SUBMISSIONS_PORT" "$IMAP_PORT"
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

count_lines() {
  local count
  count=$(grep -cE "$2" "$1" 2>/dev/null) || true
  echo "${count:-0}"
}

# Waits until LOG has COUNT lines that match PATTERN. Arguments: LOG COUNT PATTERN WHAT
wait_for_log() {
  local file=$1 count=$2 pattern=$3 what=$4
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ "$(count_lines "$file" "$pattern")" -ge "$count" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "$file has $(count_lines "$file" "$pattern") of $count $what lines after ${WAIT_SECONDS}s"
    fi
    sleep 0.1
  done
}

# Runs one phase. Arguments: verbose|default
run_phase() {
  local phase=$1 outdir=$OUTDIR/$1
  local maillog=$WORK/log/maillog-$phase dovecot_log=$WORK/log/dovecot-$phase.log
  local expectations=$WORK/expectations-$phase relayed queued auth_failed

  mkdir -p "$outdir"
  write_postfix_config "$maillog"
  write_dovecot_config "$dovecot_log" "$phase"
  # Dovecot puts its auth socket into Postfix's private queue directory, which the first
  # postfix start creates.
  start_postfix
  start_dovecot

  log "phase $phase: sending traffic"
  (cd "$ROOT" && node --import tsx test/e2e/dovecot-traffic.ts run \
    --ports "$SUBMISSION_PORT,$SUBMISSIONS_PORT,$IMAP_PORT,$POSTFIX_SUBMISSION_PORT" \
    --truth "$outdir/truth.json" --expectations "$expectations") \
    || die "phase $phase: traffic failed"
  read -r relayed queued auth_failed <"$expectations"

  wait_for_log "$dovecot_log" "$relayed" 'Successfully relayed message' 'relayed message'
  wait_for_log "$dovecot_log" "$auth_failed" '\(auth failed, ' 'auth failed'
  wait_for_log "$maillog" "$queued" 'qmgr\[[0-9]+\]: [0-9A-Za-z]+: removed$' 'qmgr removed'
  stop_dovecot
  stop_postfix

  cp "$dovecot_log" "$outdir/dovecot.log"
  cp "$maillog" "$outdir/maillog"
  log "phase $phase: $(wc -l <"$outdir/dovecot.log") Dovecot and $(wc -l <"$outdir/maillog") Postfix log lines"
}

cleanup() {
  local status=$?
  stop_dovecot
  stop_postfix
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

  WORK=$(mktemp -d /tmp/dovecot-e2e.XXXXXX)
  # Dovecot's unprivileged processes must reach their sockets and homes below this directory.
  chmod 755 "$WORK"
  POSTFIX_CONF=$WORK/postfix
  QUEUE=$WORK/spool
  DOVECOT_RUN=$WORK/dovecot-run
  mkdir -p "$POSTFIX_CONF" "$QUEUE" "$WORK/postfix-data" "$WORK/dovecot" "$WORK/dovecot-state" \
    "$WORK/log" "$WORK/tls" "$WORK/home"
  chown postfix "$WORK/postfix-data"
  chmod 1777 "$WORK/home"
  trap cleanup EXIT
  # On these signals, exit through the EXIT trap too, so that the daemons stop with the harness.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM

  make_certificate
  (cd "$ROOT" && node --import tsx test/e2e/dovecot-traffic.ts passwd-file) >"$WORK/dovecot/users"
  chgrp dovecot "$WORK/dovecot/users"
  chmod 640 "$WORK/dovecot/users"

  run_phase verbose
  run_phase default
  log "done in $((SECONDS - started))s: wrote $OUTDIR/verbose and $OUTDIR/default"
}

main "$@"
