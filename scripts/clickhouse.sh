#!/usr/bin/env bash
# Runs ClickHouse servers for tests and development, on 127.0.0.1 only and without systemd.
#
#   scripts/clickhouse.sh start           one server: HTTP 18123, native 19000
#   scripts/clickhouse.sh stop            stops that server by the pid this script recorded
#   scripts/clickhouse.sh status          prints whether /ping returns Ok. (exit 1 when not)
#   scripts/clickhouse.sh start-cluster   two servers, shards of the cluster sar_cluster:
#                                         HTTP 18124 and 18125, native 19001 and 19002
#   scripts/clickhouse.sh stop-cluster    stops both
#
# Environment:
#   SMTP_AUTH_REPORT_CLICKHOUSE_DIR        data, logs and configuration of every server
#                                          (default /tmp/smtp-auth-report-clickhouse)
#   SMTP_AUTH_REPORT_CLICKHOUSE_HTTP_PORT  HTTP port of the single server (default 18123)
#   SMTP_AUTH_REPORT_CLICKHOUSE_TCP_PORT   native port of the single server (default 19000)
#   SMTP_AUTH_REPORT_CLICKHOUSE_SHARD1_HTTP_PORT, SMTP_AUTH_REPORT_CLICKHOUSE_SHARD1_TCP_PORT,
#   SMTP_AUTH_REPORT_CLICKHOUSE_SHARD2_HTTP_PORT, SMTP_AUTH_REPORT_CLICKHOUSE_SHARD2_TCP_PORT
#                                          ports of the cluster's shards (defaults above)
#
# When clickhouse-server is missing, `start` installs Debian's package (18.16 on Debian 12),
# which needs root and apt-get. The server runs as the user who runs this script. Exit code 3
# means it could not be installed, so a test can skip with that reason.
set -euo pipefail

BASE_DIR="${SMTP_AUTH_REPORT_CLICKHOUSE_DIR:-/tmp/smtp-auth-report-clickhouse}"
HTTP_PORT="${SMTP_AUTH_REPORT_CLICKHOUSE_HTTP_PORT:-18123}"
TCP_PORT="${SMTP_AUTH_REPORT_CLICKHOUSE_TCP_PORT:-19000}"
CLUSTER_PORTS=(
  "${SMTP_AUTH_REPORT_CLICKHOUSE_SHARD1_HTTP_PORT:-18124} ${SMTP_AUTH_REPORT_CLICKHOUSE_SHARD1_TCP_PORT:-19001}"
  "${SMTP_AUTH_REPORT_CLICKHOUSE_SHARD2_HTTP_PORT:-18125} ${SMTP_AUTH_REPORT_CLICKHOUSE_SHARD2_TCP_PORT:-19002}"
)
START_TIMEOUT_S=60
STOP_TIMEOUT_S=30
INSTALL_TIMEOUT_S=600

SERVER_BIN=/usr/sbin/clickhouse-server
NO_INSTALL=3

log() {
  printf 'clickhouse.sh: %s\n' "$*" >&2
}

install_server() {
  if [[ -x "$SERVER_BIN" ]]; then
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    log "clickhouse-server is not installed and installing it needs root: run 'apt-get install clickhouse-server' as root"
    exit "$NO_INSTALL"
  fi
  if ! command -v apt-get >/dev/null; then
    log "clickhouse-server is not installed and there is no apt-get to install it: install ClickHouse 18.16 or later"
    exit "$NO_INSTALL"
  fi

  # Test files start their servers in parallel: one installs, the others wait for it.
  exec 8>/tmp/smtp-auth-report-clickhouse-install.lock
  flock -w "$INSTALL_TIMEOUT_S" 8
  if [[ ! -x "$SERVER_BIN" ]]; then
    log "installing Debian's clickhouse-server"
    # The package's postinst tries to start the service; without systemd it only warns.
    timeout "$INSTALL_TIMEOUT_S" apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive timeout "$INSTALL_TIMEOUT_S" \
      apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
      clickhouse-server >/dev/null
  fi
  exec 8>&-
}

# write_config DIR HTTP_PORT TCP_PORT [CLUSTER_XML]
write_config() {
  local dir="$1" http_port="$2" tcp_port="$3" cluster="${4:-}"
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log" "$dir/format_schemas"

  # Caches are sized for a test machine: the package's config.xml allows 8 GB + 5 GB.
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/clickhouse-server.log</log>
    <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>50</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <remote_servers>$cluster</remote_servers>
</yandex>
EOF

  # Two users: default without a password, and report with one, for URLs with credentials.
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
      <load_balancing>in_order</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <report>
      <password>report-secret</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </report>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
}

ping_ok() {
  local http_port="$1"
  [[ "$(curl -s --max-time 2 "http://127.0.0.1:$http_port/ping" 2>/dev/null)" == "Ok." ]]
}

pid_alive() {
  local pid_file="$1"
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

# start_server DIR HTTP_PORT TCP_PORT [CLUSTER_XML]
start_server() {
  local dir="$1" http_port="$2" tcp_port="$3" cluster="${4:-}"
  local pid_file="$dir/clickhouse-server.pid"

  if pid_alive "$pid_file" && ping_ok "$http_port"; then
    log "already running on 127.0.0.1:$http_port (pid $(cat "$pid_file"))"
    return 0
  fi
  if ping_ok "$http_port"; then
    log "port $http_port answers /ping but no server of $dir runs there: stop that server or set SMTP_AUTH_REPORT_CLICKHOUSE_HTTP_PORT"
    return 1
  fi

  write_config "$dir" "$http_port" "$tcp_port" "$cluster"
  setsid "$SERVER_BIN" --config-file="$dir/config.xml" \
    >"$dir/log/stdout.log" 2>"$dir/log/stderr.log" </dev/null &
  echo $! >"$pid_file"

  local deadline=$((SECONDS + START_TIMEOUT_S))
  until ping_ok "$http_port"; do
    if ! pid_alive "$pid_file"; then
      log "clickhouse-server exited at start; see $dir/log/stderr.log and $dir/log/clickhouse-server.err.log"
      tail -n 5 "$dir/log/stderr.log" >&2 || true
      rm -f "$pid_file"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "clickhouse-server did not answer /ping on port $http_port within ${START_TIMEOUT_S}s; stopping it"
      stop_server "$dir"
      return 1
    fi
    sleep 0.2
  done
  log "running on 127.0.0.1:$http_port (native $tcp_port, pid $(cat "$pid_file"), data in $dir)"
}

stop_server() {
  local dir="$1"
  local pid_file="$dir/clickhouse-server.pid"
  if ! pid_alive "$pid_file"; then
    rm -f "$pid_file"
    return 0
  fi

  local pid
  pid="$(cat "$pid_file")"
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid did not stop within ${STOP_TIMEOUT_S}s of SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pid_file"
  log "stopped pid $pid"
}

cluster_xml() {
  local shards=""
  for ports in "${CLUSTER_PORTS[@]}"; do
    local tcp_port="${ports#* }"
    shards+="<shard><replica><host>127.0.0.1</host><port>$tcp_port</port></replica></shard>"
  done
  echo "<sar_cluster>$shards</sar_cluster>"
}

# Starts run one at a time, so two tests that start the same server do not race.
with_lock() {
  mkdir -p "$BASE_DIR"
  exec 9>"$BASE_DIR/.lock"
  if ! flock -w "$((START_TIMEOUT_S * 3))" 9; then
    log "another clickhouse.sh holds $BASE_DIR/.lock; try again when it has finished"
    exit 1
  fi
}

main() {
  local command="${1:-}"
  case "$command" in
    start)
      with_lock
      install_server
      start_server "$BASE_DIR/single" "$HTTP_PORT" "$TCP_PORT"
      ;;
    stop)
      with_lock
      stop_server "$BASE_DIR/single"
      ;;
    status)
      if ping_ok "$HTTP_PORT"; then
        echo "running on 127.0.0.1:$HTTP_PORT"
      else
        echo "not running on 127.0.0.1:$HTTP_PORT"
        exit 1
      fi
      ;;
    start-cluster)
      with_lock
      install_server
      local cluster index=1
      cluster="$(cluster_xml)"
      for ports in "${CLUSTER_PORTS[@]}"; do
        start_server "$BASE_DIR/shard$index" "${ports% *}" "${ports#* }" "$cluster"
        index=$((index + 1))
      done
      ;;
    stop-cluster)
      with_lock
      stop_server "$BASE_DIR/shard1"
      stop_server "$BASE_DIR/shard2"
      ;;
    *)
      echo "usage: $0 start|stop|status|start-cluster|stop-cluster" >&2
      exit 2
      ;;
  esac
}

main "$@"
