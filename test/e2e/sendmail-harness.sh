#!/usr/bin/env bash
# Runs a private Sendmail 8.17 with Cyrus SASL (sasldb) and STARTTLS on 127.0.0.1, sends the
# scripted SMTP AUTH traffic of sendmail-traffic.ts, and writes the real Sendmail log with
# the truth computed from what was sent:
#
#   OUTDIR/maillog, OUTDIR/truth.json     LogLevel 9, Sendmail's default
#   OUTDIR/transcripts/                   for debugging
#
# Usage: sudo test/e2e/sendmail-harness.sh OUTDIR
# Needs root, the Debian packages m4, sasl2-bin, openssl, procps, util-linux and python3,
# and Node with this repository's dev dependencies (tsx). It also needs Debian's sendmail-bin
# unpacked under SENDMAIL_ROOT (default /opt/sendmail-e2e), which scripts/install-test-deps.sh
# does. sendmail-bin is not installed as a package because it conflicts with Postfix.
#
# Sendmail logs only through syslog(3) to /dev/log, and it reads /etc/sasldb2 and the host
# name from /etc/hosts. So it runs in a private mount namespace in which /dev/log is a
# socket of this harness and /etc/sasldb2 and /etc/hosts are files of this run. Nothing
# outside the namespace changes, and a running system Sendmail or syslog is left alone.
# Environment: E2E_PORT_BASE (default 11000) moves the listeners to 127.0.0.1 ports
# BASE+587 (STARTTLS), BASE+465 (implicit TLS) and BASE+25 (no TLS).
# E2E_KEEP_WORKDIR=1 keeps the work directory.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SENDMAIL_ROOT=${SENDMAIL_ROOT:-/opt/sendmail-e2e}
SENDMAIL=$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail
CF_DIR=$SENDMAIL_ROOT/usr/share/sendmail/cf
PORT_BASE=${E2E_PORT_BASE:-11000}
SUBMISSION_PORT=$((PORT_BASE + 587))
SMTPS_PORT=$((PORT_BASE + 465))
PLAIN_PORT=$((PORT_BASE + 25))
# Sendmail's SASL realm is its host name, and sasldb keys accounts without a domain by it.
HOSTNAME_FQDN=mx.e2e.example.com
# Sendmail checks that the directories above its files are writable by root only, so the
# work directory cannot be under /tmp.
WORK_PARENT=/var/lib/smtp-auth-report-e2e
WAIT_SECONDS=60
export PATH="$PATH:/usr/sbin:/sbin"

WORK=
SYSLOG_PID=
SENDMAIL_PID=

log() { printf 'sendmail-harness: %s\n' "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

require_prerequisites() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (Sendmail and mount namespaces need it), got uid $(id -u)"

  local tool
  for tool in m4 saslpasswd2 openssl python3 unshare mount node ps; do
    command -v "$tool" >/dev/null \
      || die "$tool not found; install the Debian packages m4 sasl2-bin openssl python3 util-linux procps"
  done
  [ -x "$SENDMAIL" ] \
    || die "$SENDMAIL not found; run scripts/install-test-deps.sh or set SENDMAIL_ROOT"
  [ -f "$CF_DIR/m4/cf.m4" ] || die "$CF_DIR/m4/cf.m4 not found; unpack sendmail-cf into $SENDMAIL_ROOT"
  # The namespace mounts this run's sasldb over the system one, so that file must exist.
  [ -f /etc/sasldb2 ] || die "/etc/sasldb2 not found; install sasl2-bin, which creates it"
  [ -d "$ROOT/node_modules/tsx" ] \
    || die "tsx not found in $ROOT/node_modules; run npm install in $ROOT"
}

# Prints "ADDRESS:PORT" in hex for each listening socket on PORT, from /proc/net/tcp.
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
      || die "Sendmail does not listen on 127.0.0.1:$missing after ${WAIT_SECONDS}s (see $WORK/maillog)"
    sleep 0.1
  done
}

make_certificate() {
  # RSA rather than ECDSA, so that TLSv1 and TLSv1.1 clients can use it too.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$HOSTNAME_FQDN" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >"$WORK/openssl.out" 2>&1 \
    || die "openssl req failed: $(cat "$WORK/openssl.out")"
  chmod 600 "$WORK/tls/key.pem"
}

make_sasldb() {
  local login password
  while IFS=$'\t' read -r login password; do
    printf '%s' "$password" | saslpasswd2 -p -c -f "$WORK/sasldb2" -u "$HOSTNAME_FQDN" "$login" \
      || die "saslpasswd2 failed for $login"
  done < <(cd "$ROOT" && node --import tsx test/e2e/sendmail-traffic.ts sasldb-users)
  chmod 600 "$WORK/sasldb2"
}

write_sendmail_config() {
  printf '127.0.0.1 %s localhost %s\n' "$HOSTNAME_FQDN" "$(hostname)" >"$WORK/hosts"
  printf 'hosts files\naliases files\n' >"$WORK/service.switch"
  # The only mailer every recipient resolves to: it reads the message and drops it.
  printf '#!/bin/sh\ncat >/dev/null\n' >"$WORK/discard.sh"
  chmod 755 "$WORK/discard.sh"

  cat >"$WORK/sendmail.mc" <<EOF
divert(-1)dnl
divert(0)dnl
include(\`$CF_DIR/m4/cf.m4')dnl
VERSIONID(\`smtp-auth-report end-to-end test')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`$HOSTNAME_FQDN')dnl
define(\`QUEUE_DIR', \`$WORK/mqueue')dnl
define(\`STATUS_FILE', \`$WORK/statistics')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`confPID_FILE', \`$WORK/sendmail.pid')dnl
define(\`confSERVICE_SWITCH_FILE', \`$WORK/service.switch')dnl
define(\`confHOSTS_FILE', \`$WORK/hosts')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confTO_IDENT', \`0')dnl
dnl LogLevel 9 is Sendmail's default, and the reader must work with it.
define(\`confLOG_LEVEL', \`9')dnl
define(\`confSERVER_CERT', \`$WORK/tls/cert.pem')dnl
define(\`confSERVER_KEY', \`$WORK/tls/key.pem')dnl
define(\`confCACERT', \`$WORK/tls/cert.pem')dnl
define(\`confCACERT_PATH', \`$WORK/tls')dnl
define(\`confTLS_SRV_OPTIONS', \`V')dnl
dnl OpenSSL 3 needs security level 0 to offer TLSv1 and TLSv1.1.
define(\`confCIPHER_LIST', \`DEFAULT:@SECLEVEL=0')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
dnl Without the p flag Sendmail offers PLAIN and LOGIN on connections without TLS as well.
define(\`confAUTH_OPTIONS', \`A')dnl
define(\`confDELIVERY_MODE', \`background')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`accept_unqualified_senders')dnl
DAEMON_OPTIONS(\`Port=$SUBMISSION_PORT, Addr=127.0.0.1, Name=MSA, M=Ea')dnl
DAEMON_OPTIONS(\`Port=$SMTPS_PORT, Addr=127.0.0.1, Name=SMTPS, M=s')dnl
DAEMON_OPTIONS(\`Port=$PLAIN_PORT, Addr=127.0.0.1, Name=PLAIN, M=S')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
LOCAL_RULE_0
R\$* < @ \$* > \$*	\$#discard \$@ \$2 \$: \$1 < @ \$2 > \$3
MAILER_DEFINITIONS
Mdiscard,	P=$WORK/discard.sh, F=lsDFMqn, A=discard.sh \$u
EOF
  m4 "$WORK/sendmail.mc" >"$WORK/sendmail.cf" 2>"$WORK/m4.out" \
    || die "m4 failed on $WORK/sendmail.mc: $(cat "$WORK/m4.out")"
  [ ! -s "$WORK/m4.out" ] || die "m4 reported errors for $WORK/sendmail.mc: $(cat "$WORK/m4.out")"
}

# Written to a file and run by unshare, so that its mounts stay in the new namespace.
write_namespace_script() {
  cat >"$WORK/start-sendmail.sh" <<EOF
#!/bin/bash
set -euo pipefail
# A fresh /dev with the devices Sendmail opens, and /dev/log pointing at the harness socket.
mkdir -p "$WORK/host-dev"
mount --rbind /dev "$WORK/host-dev"
mount -t tmpfs -o mode=755 tmpfs /dev
for device in null zero random urandom full tty; do
  touch "/dev/\$device"
  mount --bind "$WORK/host-dev/\$device" "/dev/\$device"
done
umount -l "$WORK/host-dev"
ln -s "$WORK/syslog.sock" /dev/log
mount --bind "$WORK/sasldb2" /etc/sasldb2
mount --bind "$WORK/hosts" /etc/hosts
exec "$SENDMAIL" -C "$WORK/sendmail.cf" -bd
EOF
  chmod 700 "$WORK/start-sendmail.sh"
}

start_syslog() {
  python3 "$HERE/sendmail-syslog.py" "$WORK/syslog.sock" "$WORK/maillog" "$HOSTNAME_FQDN" \
    2>"$WORK/syslog.err" &
  SYSLOG_PID=$!
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ -S "$WORK/syslog.sock" ]; do
    kill -0 "$SYSLOG_PID" 2>/dev/null || die "the syslog receiver exited: $(cat "$WORK/syslog.err")"
    [ "$SECONDS" -lt "$deadline" ] || die "the syslog receiver made no socket in ${WAIT_SECONDS}s"
    sleep 0.1
  done
}

start_sendmail() {
  unshare --mount --propagation private "$WORK/start-sendmail.sh" >"$WORK/sendmail.out" 2>&1 \
    || die "Sendmail failed to start: $(cat "$WORK/sendmail.out") $(cat "$WORK/maillog")"

  # sendmail -bd forks the daemon and returns; the daemon writes its pid file.
  local deadline=$((SECONDS + WAIT_SECONDS))
  until [ -s "$WORK/sendmail.pid" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "Sendmail wrote no $WORK/sendmail.pid: $(cat "$WORK/maillog")"
    sleep 0.1
  done
  SENDMAIL_PID=$(head -n 1 "$WORK/sendmail.pid")
  wait_for_listeners
}

# Waits until every pid has exited, and kills those still running after WAIT_SECONDS.
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

stop_sendmail() {
  [ -n "$SENDMAIL_PID" ] || return 0
  # The daemon's children are connection and delivery processes of this run.
  local pids=("$SENDMAIL_PID") child
  for child in $(ps -o pid= --ppid "$SENDMAIL_PID"); do
    pids+=("$child")
  done
  kill "${pids[@]}" 2>/dev/null || true
  wait_for_exit "${pids[@]}"
  SENDMAIL_PID=
}

stop_syslog() {
  [ -n "$SYSLOG_PID" ] || return 0
  kill "$SYSLOG_PID" 2>/dev/null || true
  wait_for_exit "$SYSLOG_PID"
  SYSLOG_PID=
}

count_lines() {
  local count
  count=$(grep -cE "$2" "$1" 2>/dev/null) || true
  echo "${count:-0}"
}

# Queue ids with a delivery that ended in stat=Sent; one to= line can list several recipients.
count_delivered() {
  grep -E ' stat=Sent' "$1" 2>/dev/null | awk '{ print $6 }' | sort -u | wc -l
}

# Waits until the log holds every accepted message, failure and delivery.
wait_for_log() {
  local messages=$1 failures=$2 deadline=$((SECONDS + WAIT_SECONDS))
  local maillog=$WORK/maillog
  until [ "$(count_lines "$maillog" ': from=.*, msgid=')" -ge "$messages" ] \
    && [ "$(count_lines "$maillog" ': AUTH failure \(')" -ge "$failures" ] \
    && [ "$(count_delivered "$maillog")" -ge "$messages" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "after ${WAIT_SECONDS}s $maillog has $(count_lines "$maillog" ': from=.*, msgid=') of" \
        "$messages from= lines, $(count_lines "$maillog" ': AUTH failure \(') of $failures" \
        "AUTH failure lines and $(count_delivered "$maillog") of $messages delivered messages"
    fi
    sleep 0.1
  done
}

send_traffic() {
  log "sending traffic"
  (cd "$ROOT" && node --import tsx test/e2e/sendmail-traffic.ts run \
    --ports "$SUBMISSION_PORT,$SMTPS_PORT,$PLAIN_PORT" --truth "$OUTDIR/truth.json" \
    --expectations "$WORK/expectations" --transcripts "$OUTDIR/transcripts") \
    || die "traffic failed (transcripts in $OUTDIR/transcripts, log in $WORK/maillog)"

  local messages failures
  read -r messages failures <"$WORK/expectations"
  wait_for_log "$messages" "$failures"
  log "$messages messages and $failures failed logins logged"
}

cleanup() {
  local status=$?
  stop_sendmail
  stop_syslog
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

  mkdir -p "$WORK_PARENT"
  chmod 755 "$WORK_PARENT"
  WORK=$(mktemp -d "$WORK_PARENT/sendmail.XXXXXX")
  chmod 755 "$WORK"
  mkdir -p "$WORK/mqueue" "$WORK/tls"
  chmod 700 "$WORK/mqueue"
  trap cleanup EXIT
  # On these signals, exit through the EXIT trap too, so that the daemons stop with the harness.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM

  make_certificate
  make_sasldb
  write_sendmail_config
  write_namespace_script
  start_syslog
  start_sendmail
  send_traffic
  stop_sendmail
  # The receiver may still hold datagrams of the last processes.
  sleep 0.5
  stop_syslog

  cp "$WORK/maillog" "$OUTDIR/maillog"
  log "done in $((SECONDS - started))s: wrote $OUTDIR/maillog ($(wc -l <"$OUTDIR/maillog") lines)" \
    "and $OUTDIR/truth.json"
}

main "$@"
