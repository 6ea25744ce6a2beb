#!/usr/bin/env bash
# Recounts a generated log with awk, independently of the generator, and compares the counts
# with its truth file. Exit status 0 when both agree exactly.
#
#   bench/verify-truth.sh bench/out/postfix-1m.log [bench/out/postfix-1m.truth.json]
#
# The awk program applies the counting rules on its own. A message counts once, at the first
# qmgr `from=` line of a queue id whose smtpd `client=` line had sasl_username. Its TLS version
# is the TLS line of that smtpd session (program name and pid, between connect and disconnect),
# or `none`, because the generated logs always have TLS lines and so TLS logging is on. Failed
# logins are the `SASL <mech> authentication failed` warnings, one per line.
set -euo pipefail

log=${1:?usage: verify-truth.sh LOG [TRUTH_JSON]}
truth=${2:-$(echo "$log" | sed -e 's/\.gz$//' -e 's/\.log$//').truth.json}
year=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).generator.year)' "$truth")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

reader=cat
case "$log" in *.gz) reader='gzip -dc' ;; esac

$reader "$log" | awk -v year="$year" -v messages="$work/awk-messages.tsv" -v failures="$work/awk-failures.tsv" '
BEGIN {
  split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", names, " ")
  for (i = 1; i <= 12; i++) month[names[i]] = sprintf("%02d", i)
}
{
  process = $5
  sub(/:$/, "", process)
  program = process
  sub(/\[.*/, "", program)
  rest = $0
  sub(/^[^]]*\]: /, "", rest)
}
program ~ /smtpd$/ && rest ~ /^connect from / { tls[process] = "none"; next }
program ~ /smtpd$/ && rest ~ /^disconnect from / { delete tls[process]; next }
program ~ /smtpd$/ && rest ~ /TLS connection established from / {
  version = rest
  sub(/.*\]: /, "", version)
  sub(/ with cipher.*/, "", version)
  tls[process] = version
  next
}
program ~ /smtpd$/ && rest ~ /^[0-9A-F]+: client=.*sasl_username=/ {
  queueId = rest
  sub(/:.*/, "", queueId)
  ip = rest
  sub(/^[^[]*\[/, "", ip)
  sub(/\].*/, "", ip)
  method = rest
  sub(/.*sasl_method=/, "", method)
  sub(/,.*/, "", method)
  user = rest
  sub(/.*sasl_username=/, "", user)
  session = (process in tls) ? tls[process] : "unknown"
  submitted[queueId] = user "\t" toupper(method) "\t" ip "\t" session
  next
}
program == "postfix/qmgr" && rest ~ /^[0-9A-F]+: from=<.*>, size=[0-9]+, nrcpt=[0-9]+ \(queue active\)$/ {
  queueId = rest
  sub(/:.*/, "", queueId)
  if (!(queueId in submitted) || (queueId in counted)) next
  counted[queueId] = 1
  sender = rest
  sub(/^[^<]*</, "", sender)
  sub(/>.*/, "", sender)
  recipients = rest
  sub(/.*nrcpt=/, "", recipients)
  sub(/ .*/, "", recipients)
  split(submitted[queueId], parts, "\t")
  day = sprintf("%s-%s-%02d", year, month[$1], $2)
  key = day "\t" parts[1] "\t" parts[2] "\t" sender "\t" parts[3] "\t" parts[4]
  count[key]++
  rcpt[key] += recipients
  next
}
program ~ /smtpd$/ && rest ~ /^warning: .*: SASL [A-Z0-9-]+ authentication failed: / {
  ip = rest
  sub(/^warning: [^[]*\[/, "", ip)
  sub(/\]: SASL .*/, "", ip)
  user = "null"
  if (rest ~ /, sasl_username=[^,]*$/) {
    user = rest
    sub(/.*, sasl_username=/, "", user)
  }
  failed[user "\t" ip]++
}
END {
  for (key in count) print key "\t" count[key] "\t" rcpt[key] > messages
  for (key in failed) print key "\t" failed[key] > failures
}'

node -e '
const fs = require("fs");
const truth = JSON.parse(fs.readFileSync(process.argv[1]));
const messages = truth.messages.map((r) =>
  [r.day, r.account, r.saslMechanism, r.senderAddress, r.clientIp, r.tlsProtocol, r.messages, r.recipients].join("\t"));
const failures = truth.failures.map((r) => [r.attemptedUsername ?? "null", r.clientIp, r.failures].join("\t"));
fs.writeFileSync(process.argv[2], messages.join("\n") + "\n");
fs.writeFileSync(process.argv[3], failures.join("\n") + "\n");
' "$truth" "$work/truth-messages.tsv" "$work/truth-failures.tsv"

status=0
for kind in messages failures; do
  LC_ALL=C sort "$work/awk-$kind.tsv" > "$work/awk-$kind.sorted"
  LC_ALL=C sort "$work/truth-$kind.tsv" > "$work/truth-$kind.sorted"
  rows=$(wc -l < "$work/truth-$kind.sorted")
  total=$(awk -F"\t" -v kind="$kind" '{ s += $(NF - (kind == "messages" ? 1 : 0)) } END { print s + 0 }' "$work/truth-$kind.sorted")
  if diff -q "$work/awk-$kind.sorted" "$work/truth-$kind.sorted" > /dev/null; then
    echo "$kind: awk recount equals the truth ($rows rows, $total counted)"
  else
    echo "$kind: awk recount differs from the truth (< awk, > truth):"
    diff "$work/awk-$kind.sorted" "$work/truth-$kind.sorted" | head -20
    status=1
  fi
done
exit $status
