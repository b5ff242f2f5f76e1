#!/usr/bin/env bash
# Instruction counts per signed-in page view, for docs/performance.md: the release binary of
# member-portal (STACK=portal) or of the actix-session Redis peer (STACK=actix) under
# `valgrind --tool=callgrind`, SESSIONS members signed in, a warm-up, the counters zeroed, then
# exactly REQUESTS signed-in GET / from bench/pageviews.py on CONNECTIONS keep-alive
# connections (each request the next session of its connection's share), and the counters
# dumped. Prints the total Ir of the page views ÷ REQUESTS and writes the callgrind file and
# callgrind_annotate's inclusive and exclusive listings to OUT (default bench/results/callgrind).
#
#   STACK=portal bench/profile.sh          REQUESTS (3000), CONNECTIONS (4), SESSIONS (8),
#   STACK=actix  bench/profile.sh          WARMUP_REQUESTS (300), PORT (18091)
#
# With PERF=1 it runs the same load natively under `perf record -g` instead (REQUESTS is then
# a count per round; the sampling rate is perf's default) and writes perf.data and a
# `perf report --no-children` summary to OUT.
#
# BIN names a binary to profile instead of building one (e.g. a copy of an earlier build, for a
# before/after). Needs what bench/run.sh needs (cargo, MariaDB on 127.0.0.1:3306 as root; Redis for the peer),
# plus valgrind (or perf) and python3. CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK="${STACK:-portal}"
REQUESTS="${REQUESTS:-3000}"
CONNECTIONS="${CONNECTIONS:-4}"
SESSIONS="${SESSIONS:-8}"
WARMUP_REQUESTS="${WARMUP_REQUESTS:-300}"
PORT="${PORT:-18091}"
PERF="${PERF:-0}"
OUT="${OUT:-bench/results/callgrind}"
MYSQL_HOST="${MYSQL_HOST:-127.0.0.1}"
MYSQL_PORT="${MYSQL_PORT:-3306}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
DB=bench_profile
DB_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
URL="http://127.0.0.1:${PORT}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'profile.sh: %s\n' "$*" >&2; exit 1; }
sql() { mysql -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root --batch --skip-column-names -e "$1"; }

if [ "$PERF" = 1 ]; then
  command -v perf >/dev/null || die "perf is not installed (Debian: apt-get install linux-perf)"
else
  command -v valgrind >/dev/null || die "valgrind is not installed (Debian: apt-get install valgrind)"
fi
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/member-portal-profile.XXXXXX")"
APP_PID=""
cleanup() {
  local status=$?
  if [ -n "$APP_PID" ]; then
    kill -TERM "$APP_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$APP_PID" 2>/dev/null || true
  fi
  sql "DROP DATABASE IF EXISTS \`$DB\`; DROP USER IF EXISTS '$DB'@'%'" >/dev/null 2>&1 || true
  [ "$status" -eq 0 ] || { say "failed; app log:"; tail -n 20 "$WORK/app.log" >&2 || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

case "$STACK" in
  portal)
    if [ -z "${BIN:-}" ]; then
      say "cargo build --release --bin member-portal"
      cargo build --release --bin member-portal >&2
      BIN="$TARGET/release/member-portal"
    fi
    sql "DROP DATABASE IF EXISTS \`$DB\`; DROP USER IF EXISTS '$DB'@'%';
         CREATE DATABASE \`$DB\`; CREATE USER '$DB'@'%' IDENTIFIED BY '$DB_PASSWORD';
         GRANT ALL ON \`$DB\`.* TO '$DB'@'%'"
    export DATABASE_URL="mysql://$DB:$DB_PASSWORD@$MYSQL_HOST:$MYSQL_PORT/$DB"
    export BIND="127.0.0.1:$PORT" RUST_LOG=warn LOGIN_IP_LIMIT=0
    SESSION_KEY="$(head -c 64 /dev/urandom | base64 | tr -d '\n')"
    export SESSION_KEY
    echo "bench password" | "$BIN" user add bench >/dev/null 2>&1 || die "user add failed"
    sql "INSERT INTO \`$DB\`.author (name, profile)
           WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $SESSIONS)
           SELECT CONCAT('view', i), NULL FROM n;
         INSERT INTO \`$DB\`.member (id, password_hash, author_id, created_at, password_changed_at)
           SELECT a.name, b.password_hash, a.id, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
           FROM \`$DB\`.author a JOIN \`$DB\`.member b ON b.id = 'bench' WHERE a.name LIKE 'view%'"
    KIND=portal USERS=view READY=/healthz
    ;;
  actix)
    if [ -z "${BIN:-}" ]; then
      say "cargo build --release --locked in bench/peers/actix-redis"
      (cd bench/peers/actix-redis && cargo build --release --locked >&2)
      BIN="${CARGO_TARGET_DIR:-$ROOT/bench/peers/actix-redis/target}/release/bench-actix-redis"
    fi
    [ "$(redis-cli PING 2>/dev/null)" = PONG ] || die "Redis is not answering on 127.0.0.1:6379"
    export PORT
    KIND=plain USERS=bench READY=/login
    ;;
  *) die "STACK must be portal or actix" ;;
esac

if [ "$PERF" = 1 ]; then
  "$BIN" >"$WORK/app.log" 2>&1 &
else
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$STACK.out" \
    "$BIN" >"$WORK/app.log" 2>&1 &
fi
APP_PID=$!
for _ in $(seq 600); do
  kill -0 "$APP_PID" 2>/dev/null || die "the app exited during start-up"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL$READY" || true)" != 200 ] || break
  sleep 0.5
done

say "signing in $SESSIONS sessions"
python3 bench/pageviews.py signin "$URL" "$KIND" "$USERS" "$SESSIONS" "$WORK/sessions"
say "warm-up: $WARMUP_REQUESTS page views"
python3 bench/pageviews.py views "$URL" "$WORK/sessions" "$WARMUP_REQUESTS" "$CONNECTIONS" >&2

if [ "$PERF" = 1 ]; then
  perf record -g -o "$OUT/perf.$STACK.data" -p "$APP_PID" 2>"$WORK/perf.log" &
  PERF_PID=$!
  sleep 1
  python3 bench/pageviews.py views "$URL" "$WORK/sessions" "$REQUESTS" "$CONNECTIONS"
  kill -INT "$PERF_PID"
  wait "$PERF_PID" || true
  perf report -i "$OUT/perf.$STACK.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    head -n 120 >"$OUT/perf.$STACK.txt"
  say "perf: $OUT/perf.$STACK.txt"
  exit 0
fi

callgrind_control -z "$APP_PID" >/dev/null
python3 bench/pageviews.py views "$URL" "$WORK/sessions" "$REQUESTS" "$CONNECTIONS"
callgrind_control -d "$APP_PID" >/dev/null
sleep 1
dump="$(ls -t "$OUT"/callgrind."$STACK".out.* 2>/dev/null | head -n1)"
[ -n "$dump" ] || die "no callgrind dump in $OUT"
mv "$dump" "$OUT/callgrind.$STACK.views"
rm -f "$OUT/callgrind.$STACK.out"*
callgrind_annotate --inclusive=yes --threshold=99.9 "$OUT/callgrind.$STACK.views" >"$OUT/$STACK.inclusive.txt" 2>/dev/null
callgrind_annotate --threshold=99 "$OUT/callgrind.$STACK.views" >"$OUT/$STACK.exclusive.txt" 2>/dev/null
total="$(awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1; exit }' "$OUT/$STACK.inclusive.txt")"
awk -v t="$total" -v n="$REQUESTS" -v s="$STACK" \
  'BEGIN { printf "%s: %d Ir over %d page views = %.0f Ir per page view\n", s, t, n, t / n }'
say "listings: $OUT/$STACK.inclusive.txt, $OUT/$STACK.exclusive.txt"
