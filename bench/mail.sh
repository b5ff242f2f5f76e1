#!/usr/bin/env bash
# E-mail figures for the README, on the release build and a local SMTP server
# (crates/test-support's SmtpServer, run as the `smtp-sink` example):
#
#   1. forgot-password under load: wrk -t$THREADS -c$CONNECTIONS for $DURATION on
#      POST /forgot-password (bench/forgot.lua: half the addresses are $MEMBERS members'
#      verified addresses, half nobody's), with the sender delivering the reset mails the
#      requests cause at the same time; prints requests/s, p50/p99, the statuses, the app's
#      CPU µs per request and how many mails were queued;
#   2. the outbox's delivery rate: with the SMTP server down, one reset request for each of the
#      $MEMBERS members queues $MEMBERS mails; then the server starts, the rows are made due,
#      and the sink times the first to the last mail.
#
# The app runs with LOGIN_IP_LIMIT=0 (every request comes from 127.0.0.1) on a database of its
# own (dropped at the end). wrk, the app, MariaDB and the sink share the machine's cores.
#
# Usage: bench/mail.sh            (about a minute, plus the builds)
# Needs: cargo, curl, wrk, the mariadb (or mysql) client, and MariaDB/MySQL at $DB_HOST:$DB_PORT
# reachable as $DB_ADMIN without a password.
set -euo pipefail
cd "$(dirname "$0")/.."

MEMBERS="${MEMBERS:-2000}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-10s}"
DB_HOST="${DB_HOST:-127.0.0.1}"
DB_PORT="${DB_PORT:-3306}"
DB_ADMIN="${DB_ADMIN:-root}"
APP_PORT="${APP_PORT:-18480}"
SMTP_PORT="${SMTP_PORT:-18425}"
DB="mp_bench_mail"
WORK="$(mktemp -d)"
MYSQL=(mariadb -u"$DB_ADMIN" -h"$DB_HOST" -P"$DB_PORT")
command -v mariadb >/dev/null || MYSQL=(mysql -u"$DB_ADMIN" -h"$DB_HOST" -P"$DB_PORT")

die() { echo "mail.sh: $*" >&2; exit 1; }
for tool in cargo curl wrk "${MYSQL[0]}"; do
  command -v "$tool" >/dev/null || die "needs $tool"
done

APP_PID=""; SINK_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  "${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --locked --quiet --bin member-portal
cargo build --release --locked --quiet -p test-support --example smtp-sink
APP=target/release/member-portal
SINK=target/release/examples/smtp-sink

"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB"
start_app() {
  DATABASE_URL="mysql://$DB_ADMIN@$DB_HOST:$DB_PORT/$DB" BIND="127.0.0.1:$APP_PORT" \
    SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" LOGIN_IP_LIMIT=0 RUST_LOG="${APP_LOG:-warn}" \
    SESSION_KEY="$(head -c 64 /dev/zero | tr '\0' 'k' | base64 -w0)" \
    "$APP" >"$WORK/app.log" 2>&1 &
  APP_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$APP_PORT/healthz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "the app did not start: $(tail -n 3 "$WORK/app.log")"
}
start_app

# MEMBERS members with verified addresses, written directly (hashing a password for each would
# take minutes and measure nothing here). The hash is a placeholder that verifies nothing.
awk -v n="$MEMBERS" 'BEGIN {
  printf "INSERT INTO author (id, name) VALUES "
  for (i = 1; i <= n; i++) printf "%s(%d, \x27Bench %d\x27)", (i > 1 ? "," : ""), i, i
  print ";"
  printf "INSERT INTO member (id, password_hash, author_id, created_at, password_changed_at, email, email_key) VALUES "
  for (i = 1; i <= n; i++)
    printf "%s(\x27bench%d\x27, \x27$argon2id$placeholder\x27, %d, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), \x27bench%d@example.com\x27, \x27bench%d@example.com\x27)", (i > 1 ? "," : ""), i, i, i, i
  print ";"
}' >"$WORK/members.sql"
"${MYSQL[@]}" "$DB" <"$WORK/members.sql"

csrf_token() {
  local html
  html="$(curl -sS -c "$WORK/jar" "http://127.0.0.1:$APP_PORT/forgot-password")"
  grep -o 'name="csrf_token" value="[^"]*"' <<<"$html" | head -n1 | sed 's/.*value="\([^"]*\)"/\1/'
}
TOKEN="$(csrf_token)"
[ -n "$TOKEN" ] || die "no csrf_token on /forgot-password"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
queued() { "${MYSQL[@]}" -N -e "SELECT COUNT(*) FROM $DB.email_tokens WHERE purpose = 'reset'"; }

# Phase 1: the sink up, counting everything (it exits after 10 × MEMBERS, i.e. never here).
"$SINK" "$SMTP_PORT" $((MEMBERS * 10)) >"$WORK/sink1.log" &
SINK_PID=$!
sleep 0.3
before=$(cpu_ticks "$APP_PID")
MEMBERS="$MEMBERS" CSRF_TOKEN="$TOKEN" \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/forgot.lua \
  "http://127.0.0.1:$APP_PORT" >"$WORK/wrk1.txt"
after=$(cpu_ticks "$APP_PID")
sleep 3
kill "$SINK_PID"; SINK_PID=""
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk1.txt")
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk1.txt")
p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk1.txt")
p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk1.txt")
hz=$(getconf CLK_TCK)
cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.0f", t / hz * 1e6 / n}')
mails1=$(queued)
echo "phase 1: POST /forgot-password, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, the sender delivering"
echo "  $rps requests/s, p50 $p50, p99 $p99, app CPU $cpu_us µs/request; $mails1 reset mails queued"
grep '^status' "$WORK/wrk1.txt" | sed 's/^/  /'

# Phase 2: every member's link again, queued while the SMTP server is down, then delivered.
# Two requests at a time: the lookups after the answers keep up (beyond 64 at once per
# instance a request gets its page and no mail, as in phase 1's flood).
kill "$APP_PID"; wait "$APP_PID" 2>/dev/null || true; APP_PID=""
"${MYSQL[@]}" "$DB" -e "DELETE FROM mail_outbox; DELETE FROM email_tokens; UPDATE member SET reset_mail_at = NULL"
start_app
TOKEN="$(csrf_token)"
# One request per member (curl's `next` starts each one's options afresh), 50 at a time, 0.2 s
# apart: the lookups after the answers share each worker's few database connections, and
# beyond 64 at once per instance a request gets its page and no mail (phase 1's flood shows it).
requests_for() {
  awk -v from="$1" -v to="$2" -v port="$APP_PORT" -v token="$TOKEN" 'BEGIN {
    for (i = from; i <= to; i++) {
      if (i > from) print "next"
      printf "url = \"http://127.0.0.1:%s/forgot-password\"\n", port
      printf "data = \"csrf_token=%s&email=bench%d%%40example.com\"\n", token, i
      printf "cookie = \"csrf=%s\"\n", token
      print "output = \"/dev/null\""
      print "write-out = \"%{http_code}\\n\""
    }
  }'
}
for ((from = 1; from <= MEMBERS; from += 50)); do
  to=$((from + 49 > MEMBERS ? MEMBERS : from + 49))
  requests_for "$from" "$to" >"$WORK/curl.cfg"
  curl -sS --no-progress-meter --parallel --parallel-max 4 -K "$WORK/curl.cfg"
  sleep 0.2
done | sort | uniq -c | sed "s/^ */  phase 2 requests: /"
for _ in $(seq 1 300); do
  [ "$("${MYSQL[@]}" -N -e "SELECT COUNT(*) FROM $DB.mail_outbox")" -ge "$MEMBERS" ] && break
  sleep 0.1
done
waiting=$("${MYSQL[@]}" -N -e "SELECT COUNT(*) FROM $DB.mail_outbox")
"$SINK" "$SMTP_PORT" "$waiting" >"$WORK/sink2.log" &
SINK_PID=$!
sleep 0.3
"${MYSQL[@]}" "$DB" -e "UPDATE mail_outbox SET next_attempt_at = UTC_TIMESTAMP(6)"
wait "$SINK_PID" || true; SINK_PID=""
echo "phase 2: the outbox delivering $waiting mails queued while the SMTP server was down"
echo "  $(cat "$WORK/sink2.log")"
cp "$WORK/app.log" /tmp/mail-bench-app.log 2>/dev/null || true
warnings=$(grep -c ' WARN ' "$WORK/app.log" || true)
if [ "$warnings" -gt 0 ]; then
  echo "the app warned $warnings times in phase 2; the most frequent:"
  sed 's/^[^ ]* *//' "$WORK/app.log" | grep WARN | sort | uniq -c | sort -rn | head -n 3
fi
