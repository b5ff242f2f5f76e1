#!/usr/bin/env bash
# Compare member-portal with the seed tutorial's Node stack (express-session +
# express-mysql-session, bench/express/server.js) doing the same job: a signed-in member
# reloading the home page (session read + member JOIN author read + HTML), and anonymous
# visitors hitting the sign-in page (which must not create session rows).
#
# Needs: cargo, node + npm, curl, wrk, the mysql client, and MySQL/MariaDB on 127.0.0.1:3306
# as root without a password (override with MYSQL_HOST / MYSQL_PORT / MYSQL_USER).
#
# Tunables (env): DURATION (20s), WARMUP (5s), THREADS (2), CONNECTIONS (32),
# ANON_DURATION (5s), ANON_CONNECTIONS (8), OURS_PORT (18081), EXPRESS_PORT (18082),
# SEED_PORT (18083; the Express app with the seed's saveUninitialized: true, anonymous run only).
# CARGO_TARGET_DIR is honoured (the binary is taken from it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MYSQL_HOST="${MYSQL_HOST:-127.0.0.1}"
MYSQL_PORT="${MYSQL_PORT:-3306}"
MYSQL_USER="${MYSQL_USER:-root}"
DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-5s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
ANON_DURATION="${ANON_DURATION:-5s}"
ANON_CONNECTIONS="${ANON_CONNECTIONS:-8}"
OURS_PORT="${OURS_PORT:-18081}"
EXPRESS_PORT="${EXPRESS_PORT:-18082}"
SEED_PORT="${SEED_PORT:-18083}"

OURS_DB=bench_portal
EXPRESS_DB=bench_express
SEED_DB=bench_express_seed
OURS_URL="http://127.0.0.1:${OURS_PORT}"
EXPRESS_URL="http://127.0.0.1:${EXPRESS_PORT}"
SEED_URL="http://127.0.0.1:${SEED_PORT}"
DATABASE_URL="mysql://${MYSQL_USER}@${MYSQL_HOST}:${MYSQL_PORT}/${OURS_DB}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/member-portal"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

for tool in cargo node npm curl wrk mysql; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done

sql() { mysql -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u "$MYSQL_USER" --batch --skip-column-names -e "$1"; }
sql 'SELECT 1' >/dev/null || die "MySQL/MariaDB is not answering on ${MYSQL_HOST}:${MYSQL_PORT}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/member-portal-bench.XXXXXX")"
PIDS=()

drop_databases() {
  sql "DROP DATABASE IF EXISTS \`${OURS_DB}\`; DROP DATABASE IF EXISTS \`${EXPRESS_DB}\`; DROP DATABASE IF EXISTS \`${SEED_DB}\`" \
    >/dev/null 2>&1 || true
}

cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  drop_databases
  if [ "$status" -ne 0 ]; then
    say "failed (exit $status); server logs:"
    for log in "$WORK"/*.log; do
      [ -f "$log" ] || continue
      printf -- '--- %s (last 20 lines)\n' "$(basename "$log")" >&2
      tail -n 20 "$log" >&2 || true
    done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- build -----------------------------------------------------------------------------------
say "cargo build --release --bin member-portal"
cargo build --release --bin member-portal >&2
if [ ! -d bench/express/node_modules ]; then
  say "npm ci in bench/express"
  (cd bench/express && npm ci --no-audit --no-fund >&2)
fi

# --- start both apps on fresh databases --------------------------------------------------------
drop_databases
SESSION_KEY="$(head -c 64 /dev/urandom | base64 | tr -d '\n')"

say "starting member-portal on ${OURS_URL}"
DATABASE_URL="$DATABASE_URL" BIND="127.0.0.1:${OURS_PORT}" RUST_LOG=warn SESSION_KEY="$SESSION_KEY" \
  "$BIN" >"$WORK/member-portal.log" 2>&1 &
PIDS+=($!)
OURS_PID=$!

say "starting the Express app on ${EXPRESS_URL}"
(cd bench/express && PORT="$EXPRESS_PORT" DB_HOST="$MYSQL_HOST" DB_PORT="$MYSQL_PORT" DB_USER="$MYSQL_USER" \
  DB_NAME="$EXPRESS_DB" exec node server.js) >"$WORK/express.log" 2>&1 &
PIDS+=($!)
EXPRESS_PID=$!

wait_for() { # name pid url
  local name=$1 pid=$2 url=$3
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; then return 0; fi
    sleep 0.2
  done
  die "$name did not answer 200 on $url within 60 s"
}
wait_for member-portal "$OURS_PID" "${OURS_URL}/healthz"
wait_for express "$EXPRESS_PID" "${EXPRESS_URL}/login"

# --- a member in ours (Express seeds its own `bench` member at start) ---------------------------
if ! out="$(echo 'bench password' | DATABASE_URL="$DATABASE_URL" RUST_LOG=warn SESSION_KEY="$SESSION_KEY" \
  "$BIN" user add bench 2>&1)"; then
  grep -qi 'taken' <<<"$out" || die "member-portal user add failed: $out"
fi

# --- sign in, get the sid cookies ----------------------------------------------------------------
jar_sid() { awk '$6 == "sid" { v = $7 } END { print v }' "$1"; }

say "signing in to member-portal"
OURS_JAR="$WORK/ours.jar"
login_html="$(curl -sS -c "$OURS_JAR" -b "$OURS_JAR" "${OURS_URL}/login")"
csrf="$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$login_html" | head -n1 | sed 's/.*value="\([^"]*\)"/\1/')"
[ -n "$csrf" ] || die "no csrf_token in member-portal's GET /login"
code="$(curl -sS -o /dev/null -w '%{http_code}' -c "$OURS_JAR" -b "$OURS_JAR" \
  --data-urlencode "csrf_token=${csrf}" --data-urlencode 'username=bench' \
  --data-urlencode 'password=bench password' "${OURS_URL}/login")"
[ "$code" = 303 ] || die "member-portal POST /login answered $code, expected 303"
OURS_SID="$(jar_sid "$OURS_JAR")"
[ -n "$OURS_SID" ] || die "member-portal set no sid cookie"

say "signing in to Express"
EXPRESS_JAR="$WORK/express.jar"
code="$(curl -sS -o /dev/null -w '%{http_code}' -c "$EXPRESS_JAR" -b "$EXPRESS_JAR" \
  --data-urlencode 'username=bench' --data-urlencode 'password=bench password' "${EXPRESS_URL}/login")"
[ "$code" = 303 ] || die "Express POST /login answered $code, expected 303"
EXPRESS_SID="$(jar_sid "$EXPRESS_JAR")"
[ -n "$EXPRESS_SID" ] || die "Express set no sid cookie"

check_home() { # name url sid
  local body code
  body="$WORK/home.html"
  code="$(curl -sS -o "$body" -w '%{http_code}' -H "Cookie: sid=$3" "$2/")"
  [ "$code" = 200 ] || die "$1 GET / with the session cookie answered $code, expected 200"
  grep -q 'Welcome, bench' "$body" || die "$1 GET / has no greeting"
  printf '%s' "$(wc -c <"$body")"
}
OURS_BYTES="$(check_home member-portal "$OURS_URL" "$OURS_SID")"
EXPRESS_BYTES="$(check_home express "$EXPRESS_URL" "$EXPRESS_SID")"

# --- helpers for wrk and counters ------------------------------------------------------------
status_value() { sql "SHOW GLOBAL STATUS LIKE '$1'" | awk '{ print $2 }'; }
rows_changed() { # db table (MariaDB userstat; empty when unavailable)
  sql "SELECT COALESCE(SUM(ROWS_CHANGED), 0) FROM information_schema.TABLE_STATISTICS
       WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME = '$2'" 2>/dev/null || true
}
session_rows() { sql "SELECT COUNT(*) FROM \`$1\`.sessions"; }

wrk_field() { # file field -> value
  case "$2" in
    rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
    p50) awk '$1 == "50%" { print $2 }' "$1" ;;
    p99) awk '$1 == "99%" { print $2 }' "$1" ;;
    total) awk '/requests in/ { print $1 }' "$1" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" ;;
    errors) grep -o 'Socket errors:.*' "$1" || true ;;
  esac
}

declare -A R
bench_home() { # key name url sid
  local key=$1 name=$2 url=$3 sid=$4 out="$WORK/wrk-$1.txt"
  say "$name: warm-up ${WARMUP}"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "Cookie: sid=${sid}" "${url}/" >/dev/null
  local upd0 ins0 changed0
  upd0="$(status_value Com_update)"
  ins0="$(status_value Com_insert)"
  changed0="$(rows_changed "$5" sessions)"
  say "$name: wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency ${url}/"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: sid=${sid}" "${url}/" >"$out"
  cat "$out" >&2
  R[$key.rps]="$(wrk_field "$out" rps)"
  R[$key.p50]="$(wrk_field "$out" p50)"
  R[$key.p99]="$(wrk_field "$out" p99)"
  R[$key.total]="$(wrk_field "$out" total)"
  R[$key.non2xx]="$(wrk_field "$out" non2xx)"
  R[$key.errors]="$(wrk_field "$out" errors)"
  R[$key.upd]=$(($(status_value Com_update) - upd0))
  R[$key.ins]=$(($(status_value Com_insert) - ins0))
  local changed1
  changed1="$(rows_changed "$5" sessions)"
  if [ -n "$changed0" ] && [ -n "$changed1" ]; then
    R[$key.changed]=$((changed1 - changed0))
  else
    R[$key.changed]="n/a"
  fi
  [ -z "${R[$key.non2xx]}" ] || die "$name answered ${R[$key.non2xx]} non-2xx/3xx responses during the run"
  # wrk does not count a 303 to /login as an error: check the session is still signed in.
  check_home "$name" "$url" "$sid" >/dev/null
}

bench_anon() { # key name url db
  local key=$1 name=$2 url=$3 db=$4 ins0
  ins0="$(status_value Com_insert)"
  say "$name: anonymous wrk -t${THREADS} -c${ANON_CONNECTIONS} -d${ANON_DURATION} ${url}/login"
  wrk -t"$THREADS" -c"$ANON_CONNECTIONS" -d"$ANON_DURATION" "${url}/login" >"$WORK/anon-$key.txt"
  R[$key.anon_total]="$(wrk_field "$WORK/anon-$key.txt" total)"
  R[$key.anon_rps]="$(wrk_field "$WORK/anon-$key.txt" rps)"
  R[$key.anon_ins]=$(($(status_value Com_insert) - ins0))
  R[$key.anon_rows]="$(session_rows "$db")"
}

# --- environment ---------------------------------------------------------------------------------
LOAD_BEFORE="$(uptime)"

# --- signed-in home page -------------------------------------------------------------------------
bench_home ours member-portal "$OURS_URL" "$OURS_SID" "$OURS_DB"
bench_home express express "$EXPRESS_URL" "$EXPRESS_SID" "$EXPRESS_DB"
LOAD_AFTER_HOME="$(uptime)"

# --- anonymous sign-in page ------------------------------------------------------------------
bench_anon ours member-portal "$OURS_URL" "$OURS_DB"
bench_anon express express "$EXPRESS_URL" "$EXPRESS_DB"

# The seed tutorial's own setting (saveUninitialized: true), for comparison: anonymous run only.
say "starting the Express app with the seed's saveUninitialized: true on ${SEED_URL}"
(cd bench/express && PORT="$SEED_PORT" DB_HOST="$MYSQL_HOST" DB_PORT="$MYSQL_PORT" DB_USER="$MYSQL_USER" \
  DB_NAME="$SEED_DB" SAVE_UNINITIALIZED=1 exec node server.js) >"$WORK/express-seed.log" 2>&1 &
PIDS+=($!)
wait_for express-seed "$!" "${SEED_URL}/login"
SEED_ROWS_BEFORE="$(session_rows "$SEED_DB")"
bench_anon seed "express (seed: saveUninitialized true)" "$SEED_URL" "$SEED_DB"

# --- summary -------------------------------------------------------------------------------------
per_req() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

CPU_MODEL="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
[ -n "$CPU_MODEL" ] || CPU_MODEL="$(lscpu 2>/dev/null | awk -F': *' '/Model name/ { print $2; exit }')"

echo
echo "================ member-portal vs express-session + express-mysql-session ================"
echo "machine:   nproc=$(nproc), CPU: ${CPU_MODEL:-unknown}"
echo "database:  $(sql 'SELECT VERSION()') on ${MYSQL_HOST}:${MYSQL_PORT}"
echo "software:  $(node --version) (express $(node -p "require('./bench/express/node_modules/express/package.json').version"), express-session $(node -p "require('./bench/express/node_modules/express-session/package.json').version"), express-mysql-session $(node -p "require('./bench/express/node_modules/express-mysql-session/package.json').version"), mysql2 $(node -p "require('./bench/express/node_modules/mysql2/package.json').version")); $(rustc --version)"
echo "load:      before: ${LOAD_BEFORE##*load average: } | after signed-in runs: ${LOAD_AFTER_HOME##*load average: } | end: $(uptime | sed 's/.*load average: //')"
echo "run:       wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency (after a ${WARMUP} warm-up), GET / signed in"
echo
printf '%-16s %12s %10s %10s %10s %8s %12s %12s %14s\n' \
  "GET / signed in" "requests/s" "p50" "p99" "requests" "bytes" "Com_update" "upd/request" "rows changed"
for key in ours express; do
  name=member-portal; [ "$key" = express ] && name=express
  printf '%-16s %12s %10s %10s %10s %8s %12s %12s %14s\n' "$name" "${R[$key.rps]}" "${R[$key.p50]}" \
    "${R[$key.p99]}" "${R[$key.total]}" "$([ "$key" = ours ] && echo "$OURS_BYTES" || echo "$EXPRESS_BYTES")" \
    "${R[$key.upd]}" "$(per_req "${R[$key.upd]}" "${R[$key.total]}")" "${R[$key.changed]}"
done
echo "throughput member-portal / express: $(ratio "${R[ours.rps]}" "${R[express.rps]}")x"
for key in ours express; do
  [ -z "${R[$key.errors]}" ] || echo "wrk ($key): ${R[$key.errors]}"
done
echo
echo "anonymous GET /login, wrk -t${THREADS} -c${ANON_CONNECTIONS} -d${ANON_DURATION}, no cookie:"
printf '%-40s %10s %12s %12s %16s\n' "app" "requests" "requests/s" "Com_insert" "session rows after"
printf '%-40s %10s %12s %12s %16s\n' "member-portal" "${R[ours.anon_total]}" "${R[ours.anon_rps]}" "${R[ours.anon_ins]}" "${R[ours.anon_rows]}"
printf '%-40s %10s %12s %12s %16s\n' "express (saveUninitialized: false)" "${R[express.anon_total]}" "${R[express.anon_rps]}" "${R[express.anon_ins]}" "${R[express.anon_rows]}"
printf '%-40s %10s %12s %12s %16s\n' "express (seed: saveUninitialized: true)" "${R[seed.anon_total]}" "${R[seed.anon_rps]}" "${R[seed.anon_ins]}" "${R[seed.anon_rows]} (was ${SEED_ROWS_BEFORE})"
echo
echo "notes: Com_update/Com_insert are server-wide counters (other clients of this server count too);"
echo "       'sessions rows changed' is per table (MariaDB userstat), and skips UPDATEs that change nothing."
echo "       member-portal must keep 1 session row (the signed-in one) after anonymous traffic."
if [ "${R[ours.anon_rows]}" != 1 ]; then
  echo "FAIL: member-portal has ${R[ours.anon_rows]} session rows after anonymous traffic, expected 1"
  exit 1
fi
