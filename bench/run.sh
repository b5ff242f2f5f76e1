#!/usr/bin/env bash
# One benchmark run: member-portal side by side with the seed tutorial's Node stack
# (express-session + express-mysql-session, bench/express/server.js) and, for page views, two
# Rust peers written as tutorials write them (bench/peers, PEERS=0 leaves them out), with wrk:
#
#   1. page views        signed-in GET /, wrk -t$THREADS -c$CONNECTIONS (after a warm-up),
#                        over $SESSIONS sessions of as many members (bench/views.lua: each
#                        request takes the next session of its wrk thread's share, so the
#                        requests in flight are of different sessions and no two page views
#                        can share one session read)
#   2. sign-ins          POST /login with valid credentials, wrk -c$SIGNIN_CONNECTIONS
#                        (bench/signin.lua: a valid anonymous CSRF pair, a different account
#                        per request so the per-account throttle never locks one)
#   3. page views during a sign-in flood
#                        1. again, while a second wrk posts valid sign-ins on
#                        $FLOOD_CONNECTIONS connections for the same duration
#
# For each: requests/s, p50/p99 (wrk --latency), app CPU µs per request (utime+stime of the
# app process from /proc/PID/stat, before/after ÷ requests), database CPU µs per request
# (mariadbd's /proc/PID/stat the same way — the whole server, so other clients count too — and
# the CPU_TIME MariaDB's USER_STATISTICS gives the app's own database user), statements per
# request (the app's own database user in USER_STATISTICS: SELECT · write · other commands;
# on a server without USER_STATISTICS, the server-wide Com_* counters), and the app's peak RSS
# (VmHWM, reset before each phase through /proc/PID/clear_refs; for the flood also VmRSS a
# second after it). For member-portal it also times one hash (its hashing threads' CPU time over
# phase 2 ÷ the sign-ins of phase 2) and gives the sign-in rates of phases 2 and 3 as a share
# of the hashing capacity, cores ÷ that time. In phase 3 the CPU and statement figures are per
# request of both wrk runs together. A Markdown table is printed at the end. Each phase starts once the app is idle; the
# requests still in flight when wrk stops are not counted, so per-request figures are high by
# about latency ÷ duration (a few percent for sign-ins at the default 10 s).
#
# The peers (phase 1 only, the same warm-up and wrk command, after member-portal and Express are
# done and stopped, each started alone and stopped after its run):
# - bench/peers/actix-redis: actix-web + actix-session's RedisSessionStore on Redis
#   ($REDIS_HOST:$REDIS_PORT); store CPU is redis-server's /proc/PID/stat (the whole server,
#   other clients count too), statements are Redis commands (INFO's total_commands_processed);
# - bench/peers/axum-tower: axum + tower-sessions + tower-sessions-sqlx-store's MySqlStore, on
#   a database and user of its own like the two apps above;
# both with the seed's member in memory and no CSRF, throttle or extra headers: what a tutorial
# app does. A page view is one session read in each (Redis GET; SELECT of the session row); a
# second table gives member-portal ÷ each other stack for page views. Then an SVG chart of page
# views (requests/s and p99 per stack, this run) is drawn with gnuplot to $CHART.
#
# What is compared (bench/express/server.js has the details):
# - Both apps run as a database user of their own (created here, dropped at the end), on a
#   database of their own, on the same server.
# - Page views: member-portal reads its session row (the member snapshot travels in it);
#   Express reads its session row, then member JOIN author, and writes express-session's touch.
# - Sign-ins: both check a signed double-submit CSRF token, count the attempt with the same
#   per-account throttle upsert, read member JOIN author, verify argon2id m=19456 KiB, t=2,
#   p=1 (member-portal: the argon2 crate on its hashing threads; Express: the `argon2` npm
#   package on libuv's 4-thread pool), clear the throttle, and store a new session under a new
#   id. member-portal also caps sessions per member (the oldest of an account's sessions are
#   deleted beyond MAX_SESSIONS_PER_MEMBER) and, when its hashing queue is full, answers 503
#   at once instead of queueing without bound: sign-ins/s counts only the 303s.
# - member-portal runs with LOGIN_IP_LIMIT=0: every request comes from 127.0.0.1, and the
#   limit counts every sign-in attempt: it would turn the sign-in phases into 429s.
# - wrk, both apps and the database share this machine's cores: read the ratios more than the
#   absolute figures, and run it on a quiet machine.
#
# Usage: bench/run.sh            (3–4 minutes with the defaults, plus the builds)
#        PEERS=0 bench/run.sh    (member-portal and Express only, as before the peers)
# A part that cannot run here (Express without its modules, Redis not answering, a peer that
# does not build) is left out with a one-line note saying why, and the rest goes on.
# Needs: cargo, node + npm (npm ci runs in bench/express when its modules are missing), curl,
# wrk (Debian/Ubuntu: `apt-get install wrk`), the mysql client, and MariaDB (or MySQL, with
# server-wide statement counters) on 127.0.0.1:3306 as root without a password; for the peers
# also Redis and redis-cli (Debian: `apt-get install redis-server redis-tools`); for the chart
# gnuplot (Debian: `apt-get install gnuplot-nox`; without it the chart is skipped, with a note).
#
# Tunables (env): DURATION (10s; each measured phase), WARMUP (3s), THREADS (2),
# IDLE_SESSIONS (10000; live sessions of other visitors put in each MySQL stack's session table
# before its page views, a copy of a signed-in row each: a real site's table is not a few dozen
# rows, and with a few dozen MariaDB scans the table instead of reading by primary key; 0: none),
# CONNECTIONS (32; page views), SESSIONS (signed-in sessions the page views go round, one
# member each on the apps, all of `bench` on the peers; default CONNECTIONS; SESSIONS=1 is the
# old single-session benchmark, which flatters stores that share reads), SIGNIN_CONNECTIONS (32), FLOOD_CONNECTIONS (32),
# SIGNIN_TIMEOUT (10s; wrk's timeout for a sign-in, which queues behind the hashing),
# ACCOUNTS (sign-in accounts per app; 8 × the larger of the sign-in connection counts),
# OURS_PORT (18081), EXPRESS_PORT (18082), MYSQL_HOST / MYSQL_PORT / MYSQL_USER;
# PEERS (1; 0 skips building and running the peers), ACTIX_REDIS_PORT (18083),
# AXUM_TOWER_PORT (18084), REDIS_HOST / REDIS_PORT (127.0.0.1 / 6379);
# CHART (the SVG chart's path, relative to the current directory; default
# bench/results/pageviews.svg; empty: no chart).
# For a before/after of one change: PEERS can also name the peers to run (e.g.
# PEERS=actix-redis), EXPRESS=0 leaves Express out, VIEWS_ONLY=1 runs phase 1 only, and
# BASELINE_BIN names a second member-portal binary (e.g. a build of the commit before the
# change) that is measured in phase 1 right after member-portal, on the same port, database
# and sessions, as "member-portal (baseline)".
# CARGO_TARGET_DIR is honoured (the binaries are taken from it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_DIR="$PWD"
cd "$ROOT"

MYSQL_HOST="${MYSQL_HOST:-127.0.0.1}"
MYSQL_PORT="${MYSQL_PORT:-3306}"
MYSQL_USER="${MYSQL_USER:-root}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
SESSIONS="${SESSIONS:-$CONNECTIONS}"
IDLE_SESSIONS="${IDLE_SESSIONS:-10000}"
SIGNIN_CONNECTIONS="${SIGNIN_CONNECTIONS:-32}"
FLOOD_CONNECTIONS="${FLOOD_CONNECTIONS:-32}"
SIGNIN_TIMEOUT="${SIGNIN_TIMEOUT:-10s}"
most_signin=$((SIGNIN_CONNECTIONS > FLOOD_CONNECTIONS ? SIGNIN_CONNECTIONS : FLOOD_CONNECTIONS))
ACCOUNTS="${ACCOUNTS:-$((8 * most_signin))}"
OURS_PORT="${OURS_PORT:-18081}"
EXPRESS_PORT="${EXPRESS_PORT:-18082}"
PEERS="${PEERS:-1}"
EXPRESS="${EXPRESS:-1}"
VIEWS_ONLY="${VIEWS_ONLY:-0}"
BASELINE_BIN="${BASELINE_BIN:-}"
ACTIX_REDIS_PORT="${ACTIX_REDIS_PORT:-18083}"
AXUM_TOWER_PORT="${AXUM_TOWER_PORT:-18084}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
CHART="${CHART-bench/results/pageviews.svg}"
case "$CHART" in "" | /*) ;; *) CHART="$CALLER_DIR/$CHART" ;; esac

PASSWORD='bench password'
PASSWORD_FORM='bench+password'
OURS_DB=bench_portal
EXPRESS_DB=bench_express
AXUM_DB=bench_axum
DB_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
OURS_URL="http://127.0.0.1:${OURS_PORT}"
EXPRESS_URL="http://127.0.0.1:${EXPRESS_PORT}"
DATABASE_URL="mysql://${OURS_DB}:${DB_PASSWORD}@${MYSQL_HOST}:${MYSQL_PORT}/${OURS_DB}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/member-portal"
peer_bin() { echo "${CARGO_TARGET_DIR:-$ROOT/bench/peers/$1/target}/release/bench-$1"; } # peer dir
CLK_TCK="$(getconf CLK_TCK)"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

for tool in cargo node npm curl mysql; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
command -v wrk >/dev/null || die "wrk is not installed (Debian/Ubuntu: apt-get install wrk)"
[ "$ACCOUNTS" -gt $((4 * most_signin)) ] || die "ACCOUNTS must be more than 4 × the sign-in connections"
[ "$SESSIONS" -ge "$THREADS" ] || die "SESSIONS must be at least THREADS (each wrk thread needs a session)"
case "$PEERS" in
  0 | 1 | actix-redis | axum-tower | "actix-redis axum-tower" | "axum-tower actix-redis") ;;
  *) die "PEERS must be 0, 1 or a list of peers (actix-redis axum-tower)" ;;
esac
[ -z "$BASELINE_BIN" ] || [ -x "$BASELINE_BIN" ] || die "BASELINE_BIN is not an executable: $BASELINE_BIN"

sql() { mysql -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u "$MYSQL_USER" --batch --skip-column-names -e "$1"; }
sql 'SELECT 1' >/dev/null || die "MySQL/MariaDB is not answering on ${MYSQL_HOST}:${MYSQL_PORT}"

# The database server's process, when it runs here (its CPU time is read from /proc).
DB_PID="$(pgrep -x mariadbd || pgrep -x mysqld || true)"
DB_PID="${DB_PID%%$'\n'*}"

# Redis, for the actix-session peer: its process (CPU time from /proc) and its command counter.
REDIS_PID=""
redis() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
# What is left out, and why: one line each, printed with the results.
NOTES=()
note() { say "$*"; NOTES+=("$*"); }
PEER_LIST=()
if [ "$PEERS" != 0 ]; then
  if [ "$PEERS" = 1 ]; then PEER_LIST=(actix-redis axum-tower); else read -r -a PEER_LIST <<<"$PEERS"; fi
  without_actix=()
  for peer in "${PEER_LIST[@]}"; do [ "$peer" = actix-redis ] || without_actix+=("$peer"); done
  if [ "${#without_actix[@]}" = "${#PEER_LIST[@]}" ]; then
    :
  elif ! command -v redis-cli >/dev/null; then
    note "actix-session peer left out: redis-cli is not installed (Debian: apt-get install redis-tools)"
    PEER_LIST=("${without_actix[@]}")
  elif [ "$(redis PING 2>/dev/null)" != PONG ]; then
    note "actix-session peer left out: Redis is not answering on ${REDIS_HOST}:${REDIS_PORT}"
    PEER_LIST=("${without_actix[@]}")
  else
    REDIS_PID="$(pgrep -x redis-server || true)"
    REDIS_PID="${REDIS_PID%%$'\n'*}"
  fi
fi

# Statements per request come from the app's own database user when the server keeps
# USER_STATISTICS (MariaDB with userstat), else from the server-wide counters.
USERSTAT=0
USERSTAT_WAS=""
if sql 'SELECT 1 FROM information_schema.USER_STATISTICS LIMIT 0' >/dev/null 2>&1; then
  USERSTAT=1
  USERSTAT_WAS="$(sql "SHOW GLOBAL VARIABLES LIKE 'userstat'" | awk '{ print $2 }')"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/member-portal-bench.XXXXXX")"
PIDS=()

drop_everything() {
  sql "DROP DATABASE IF EXISTS \`${OURS_DB}\`; DROP DATABASE IF EXISTS \`${EXPRESS_DB}\`;
       DROP DATABASE IF EXISTS \`${AXUM_DB}\`; DROP USER IF EXISTS '${OURS_DB}'@'%';
       DROP USER IF EXISTS '${EXPRESS_DB}'@'%'; DROP USER IF EXISTS '${AXUM_DB}'@'%'" \
    >/dev/null 2>&1 || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  drop_everything
  if [ "$USERSTAT_WAS" = OFF ]; then sql 'SET GLOBAL userstat = 0' >/dev/null 2>&1 || true; fi
  if [ "$status" -ne 0 ]; then
    say "failed (exit $status); server logs:"
    for log in "$WORK"/*.log; do
      [ -f "$log" ] || continue
      printf -- '--- %s (last 20 lines)\n' "$(basename "$log")" >&2
      tail -n 20 "$log" >&2 || true
    done
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build -----------------------------------------------------------------------------------
say "cargo build --release --bin member-portal"
cargo build --release --bin member-portal >&2
express_ready() { (cd bench/express && node -e "require('express-mysql-session'); require('argon2')") >/dev/null 2>&1; }
APPS=(ours express)
if [ "$EXPRESS" = 0 ]; then
  APPS=(ours)
elif ! express_ready; then
  say "npm ci in bench/express"
  (cd bench/express && npm ci --no-audit --no-fund >&2) || true
  if ! express_ready; then
    note "Express left out: its modules do not load after npm ci in bench/express (see the messages above)"
    APPS=(ours)
  fi
fi
built_peers=()
for peer in "${PEER_LIST[@]}"; do
  say "cargo build --release --locked in bench/peers/${peer}"
  if (cd "bench/peers/$peer" && cargo build --release --locked >&2); then
    built_peers+=("$peer")
  else
    note "peer ${peer} left out: cargo build --release --locked failed in bench/peers/${peer}"
  fi
done
PEER_LIST=("${built_peers[@]}")
has_app() { [[ " ${APPS[*]} " == *" $1 "* ]]; }

# --- databases, users, both apps ---------------------------------------------------------------
drop_everything
[ "$USERSTAT_WAS" != OFF ] || sql 'SET GLOBAL userstat = 1'
dbs=("$OURS_DB")
! has_app express || dbs+=("$EXPRESS_DB")
[[ " ${PEER_LIST[*]} " != *" axum-tower "* ]] || dbs+=("$AXUM_DB")
for db in "${dbs[@]}"; do
  sql "CREATE DATABASE \`${db}\`; CREATE USER '${db}'@'%' IDENTIFIED BY '${DB_PASSWORD}';
       GRANT ALL ON \`${db}\`.* TO '${db}'@'%'"
done
SESSION_KEY="$(head -c 64 /dev/urandom | base64 | tr -d '\n')"

say "starting member-portal on ${OURS_URL}"
DATABASE_URL="$DATABASE_URL" BIND="127.0.0.1:${OURS_PORT}" RUST_LOG=warn SESSION_KEY="$SESSION_KEY" \
  LOGIN_IP_LIMIT=0 "$BIN" >"$WORK/member-portal.log" 2>&1 &
PIDS+=($!)
OURS_PID=$!

EXPRESS_PID=""
if has_app express; then
  say "starting the Express app on ${EXPRESS_URL}"
  (cd bench/express && PORT="$EXPRESS_PORT" DB_HOST="$MYSQL_HOST" DB_PORT="$MYSQL_PORT" DB_USER="$EXPRESS_DB" \
    DB_PASSWORD="$DB_PASSWORD" DB_NAME="$EXPRESS_DB" exec node server.js) >"$WORK/express.log" 2>&1 &
  PIDS+=($!)
  EXPRESS_PID=$!
fi

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
[ -z "$EXPRESS_PID" ] || wait_for express "$EXPRESS_PID" "${EXPRESS_URL}/login"

# --- members: view0… for page views, signin0… for sign-ins ----------------------------------------
# member-portal's `bench` comes from its CLI; Express seeds its own at start. The page-view
# members (one session each: member-portal caps sessions per member) and the sign-in accounts
# copy `bench`'s password hash (hashing each would take most of a minute).
out="$(echo "$PASSWORD" | DATABASE_URL="$DATABASE_URL" RUST_LOG=warn SESSION_KEY="$SESSION_KEY" \
  "$BIN" user add bench 2>&1)" || die "member-portal user add failed: $out"

copy_members() { # db password-column prefix count
  local cte="WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $4)"
  local extra_cols="" extra_vals=""
  if [ "$2" = password_hash ]; then
    extra_cols=", created_at, password_changed_at" extra_vals=", UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)"
  fi
  sql "INSERT INTO \`$1\`.author (name, profile) ${cte} SELECT CONCAT('$3', i), NULL FROM n;
       INSERT INTO \`$1\`.member (id, $2, author_id${extra_cols})
         SELECT a.name, b.$2, a.id${extra_vals}
         FROM \`$1\`.author a JOIN \`$1\`.member b ON b.id = 'bench'
         WHERE a.name REGEXP '^$3[0-9]+\$'"
}
copy_members "$OURS_DB" password_hash signin "$ACCOUNTS"
copy_members "$OURS_DB" password_hash view "$SESSIONS"
if has_app express; then
  copy_members "$EXPRESS_DB" password signin "$ACCOUNTS"
  copy_members "$EXPRESS_DB" password view "$SESSIONS"
fi

# --- CSRF pairs, sign-in checks, the page-view sessions ------------------------------------------
jar_cookie() { awk -v name="$2" '$6 == name { v = $7 } END { print v }' "$1"; }

# Fetch GET /login into a fresh jar; prints the form's csrf_token.
login_form() { # name url jar
  local html token
  html="$(curl -sS -c "$3" -b "$3" "$2/login")"
  token="$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$html" | head -n1 | sed 's/.*value="\([^"]*\)"/\1/')"
  [ -n "$token" ] || die "no csrf_token in $1's GET /login"
  [ "$(jar_cookie "$3" csrf)" = "$token" ] || die "$1's csrf cookie does not match its form token"
  printf '%s' "$token"
}

sign_in() { # name url jar username -> sid
  local token code
  token="$(login_form "$1" "$2" "$3")"
  code="$(curl -sS -o /dev/null -w '%{http_code}' -c "$3" -b "$3" --data-urlencode "csrf_token=${token}" \
    --data-urlencode "username=$4" --data-urlencode "password=${PASSWORD}" "$2/login")"
  [ "$code" = 303 ] || die "$1 POST /login as $4 answered $code, expected 303"
  local sid
  sid="$(jar_cookie "$3" sid)"
  [ -n "$sid" ] || die "$1 set no sid cookie"
  printf '%s' "$sid"
}

check_home() { # name url sid [member]
  local body="$WORK/home.html" code
  code="$(curl -sS -o "$body" -w '%{http_code}' -H "Cookie: sid=$3" "$2/")"
  [ "$code" = 200 ] || die "$1 GET / with the session cookie answered $code, expected 200"
  grep -q "Welcome, ${4:-bench}<" "$body" || die "$1 GET / has no greeting for ${4:-bench}"
}

# Every page-view session of a stack still serves its member's page (a session that died
# during a phase would have been answered with a 303, which wrk does not count as an error).
check_sessions() { # key name url
  local i=0 sid
  while IFS= read -r sid; do
    check_home "$2" "$3" "$sid" "${R[$1.member_prefix]:-}${R[$1.member_prefix]:+$i}"
    i=$((i + 1))
  done <"$WORK/$1.sessions"
}

# IDLE_SESSIONS rows of other visitors in a stack's session table, each a copy of one of the
# stack's own signed-in rows under another id (and user), so the page views read a table of a
# realistic size with the plan it gets in production. A failure is a note, not the end of the run.
DIGITS='(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)'
NUMBERS="(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS n
  FROM $DIGITS a, $DIGITS b, $DIGITS c, $DIGITS e, $DIGITS f, $DIGITS g) numbers"
fill_idle_sessions() { # key name
  [ "$IDLE_SESSIONS" -gt 0 ] || return 0
  local statement
  case "$1" in
    ours) statement="INSERT INTO \`$OURS_DB\`.sessions
        (id, user_id, data, expires_at, created_at, last_seen_at, ttl_seconds)
      SELECT UNHEX(SHA2(CONCAT('idle', n), 256)), CONCAT('idle', n), s.data, s.expires_at,
        s.created_at, s.last_seen_at, s.ttl_seconds
      FROM $NUMBERS, (SELECT * FROM \`$OURS_DB\`.sessions WHERE user_id IS NOT NULL LIMIT 1) s
      WHERE n < $IDLE_SESSIONS" ;;
    express) statement="INSERT INTO \`$EXPRESS_DB\`.sessions (session_id, expires, data)
      SELECT CONCAT('idle', n), s.expires, s.data
      FROM $NUMBERS, (SELECT * FROM \`$EXPRESS_DB\`.sessions LIMIT 1) s WHERE n < $IDLE_SESSIONS" ;;
    axum) statement="INSERT INTO \`$AXUM_DB\`.session (id, data, expiry_date)
      SELECT LPAD(CONCAT('idle', n), 22, '0'), s.data, s.expiry_date
      FROM $NUMBERS, (SELECT * FROM \`$AXUM_DB\`.session LIMIT 1) s WHERE n < $IDLE_SESSIONS" ;;
    *) return 0 ;;
  esac
  if sql "$statement" 2>"$WORK/$1.idle.err"; then
    say "$2: $IDLE_SESSIONS idle sessions of other visitors in its session table"
  else
    say "note: $2: no idle sessions added ($(head -n1 "$WORK/$1.idle.err"))"
  fi
}

declare -A R
for key in "${APPS[@]}"; do
  if [ "$key" = ours ]; then name=member-portal url=$OURS_URL; else name=express url=$EXPRESS_URL; fi
  say "signing in to $name: ${SESSIONS} page-view sessions (view0…)"
  R[$key.member_prefix]=view
  : >"$WORK/$key.sessions"
  for ((i = 0; i < SESSIONS; i++)); do
    sign_in "$name" "$url" "$WORK/$key-view.jar" "view$i" >>"$WORK/$key.sessions"
    echo >>"$WORK/$key.sessions"
    rm -f "$WORK/$key-view.jar"
  done
  R[$key.sid]="$(head -n1 "$WORK/$key.sessions")"
  check_sessions "$key" "$name" "$url"
  fill_idle_sessions "$key" "$name"
  # The last account, so the throttle has seen every name before the measured runs do.
  sign_in "$name" "$url" "$WORK/$key-check.jar" "signin$((ACCOUNTS - 1))" >/dev/null
  R[$key.csrf_token]="$(login_form "$name" "$url" "$WORK/$key-anon.jar")"
done

# --- counters ----------------------------------------------------------------------------------
proc_ticks() { # pid -> utime + stime, in clock ticks (fields 14 and 15, after the comm field)
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
  else
    echo -
  fi
}
proc_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; } # pid field -> KiB
# utime + stime of member-portal's hashing threads (named password-hash-N), in clock ticks; 0 for
# a process without them (Express hashes on libuv's pool, which is not told apart).
hash_ticks() { # pid
  local t total=0
  for t in /proc/"$1"/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in
      password-hash-*) total=$((total + $(sed 's/^.*) //' "$t/stat" | awk '{ print $12 + $13 }'))) ;;
    esac
  done
  echo "$total"
}
# Wait (up to 15 s) until the app stops using CPU, so work queued by the previous phase (sign-ins
# still waiting for a hash) is not counted in the next one.
settle() { # pid
  local a b
  a="$(proc_ticks "$1")"
  for _ in $(seq 30); do
    sleep 0.5
    b="$(proc_ticks "$1")"
    [ $((b - a)) -gt 2 ] || return 0
    a=$b
  done
}
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || R[peak_note]=1; }

# "selects writes other cpu_seconds" for a database user (or server-wide, without userstat).
db_counts() { # user
  if [ "$USERSTAT" = 1 ]; then
    sql "SELECT COALESCE(SUM(SELECT_COMMANDS), 0), COALESCE(SUM(UPDATE_COMMANDS), 0),
                COALESCE(SUM(OTHER_COMMANDS), 0), COALESCE(SUM(CPU_TIME), 0)
         FROM information_schema.USER_STATISTICS WHERE USER = '$1'" | tr '\t' ' '
  else
    sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_insert', 'Com_update', 'Com_delete')" |
      awk '{ v[$1] = $2 } END { print v["Com_select"], v["Com_insert"] + v["Com_update"] + v["Com_delete"], 0, 0 }'
  fi
}

# Redis: "commands 0 0 0" (every client's; the INFO that reads it is one more).
redis_counts() {
  redis INFO stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2, 0, 0, 0 }'
}

# The store is the database server unless told (the Redis peer: redis-server's pid and "redis").
snapshot() { # key pid user [store_pid store] -> "app_ticks store_ticks selects writes other cpu_seconds"
  local store_pid=${4-$DB_PID} counts
  if [ "${5:-}" = redis ]; then counts="$(redis_counts)"; else counts="$(db_counts "$3")"; fi
  printf '%s %s %s\n' "$(proc_ticks "$2")" "$(proc_ticks "$store_pid")" "$counts"
}

wrk_field() { # file field -> value
  case "$2" in
    rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
    p50) awk '$1 == "50%" { print $2 }' "$1" ;;
    p99) awk '$1 == "99%" { print $2 }' "$1" ;;
    total) awk '/requests in/ { print $1 }' "$1" ;;
    seconds) awk '/requests in/ { d = $4; sub(/,$/, "", d); if (d ~ /ms$/) { sub(/ms$/, "", d); d /= 1000 }
                                  else if (d ~ /m$/) { sub(/m$/, "", d); d *= 60 } else sub(/s$/, "", d); print d }' "$1" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1" ;;
    errors) grep -o 'Socket errors:.*' "$1" || true ;;
    statuses) awk '$1 == "status" { printf "%s%s×%s", sep, $2, $3; sep = ", " } END { if (!sep) printf "none" }' "$1" ;;
    ok303) awk '$1 == "status" && $2 == 303 { print $3 }' "$1" ;;
  esac
}

# Per-request figures of a phase from two snapshots and a request count.
account() { # phase before after requests [store]
  local phase=$1 requests=$4 store=${5:-}
  read -r a0 d0 s0 w0 o0 c0 <<<"$2"
  read -r a1 d1 s1 w1 o1 c1 <<<"$3"
  R[$phase.app_us]="$(awk -v a="$a0" -v b="$a1" -v n="$requests" -v t="$CLK_TCK" \
    'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / t / n; else print "n/a" }')"
  if [ "$d0" != - ] && [ "$d1" != - ]; then
    R[$phase.db_us]="$(awk -v a="$d0" -v b="$d1" -v n="$requests" -v t="$CLK_TCK" \
      'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / t / n; else print "n/a" }')"
  else
    R[$phase.db_us]="n/a"
  fi
  if [ "$store" = redis ]; then
    R[$phase.db_own_us]="n/a"
  elif [ "$USERSTAT" = 1 ]; then
    R[$phase.db_own_us]="$(awk -v a="$c0" -v b="$c1" -v n="$requests" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / n; else print "n/a" }')"
  else
    R[$phase.db_own_us]="n/a"
  fi
  if [ "$store" = redis ]; then
    R[$phase.stmts]="$(awk -v c="$((s1 - s0 - 1))" -v n="$requests" \
      'BEGIN { if (n > 0) printf "%.2f Redis commands", c / n; else print "n/a" }')"
  else
    R[$phase.stmts]="$(awk -v s="$((s1 - s0))" -v w="$((w1 - w0))" -v o="$((o1 - o0))" -v n="$requests" \
      'BEGIN { if (n > 0) printf "%.2f · %.2f · %.2f", s / n, w / n, o / n; else print "n/a" }')"
  fi
}

wrk_results() { # phase file
  R[$1.rps]="$(wrk_field "$2" rps)"
  R[$1.p50]="$(wrk_field "$2" p50)"
  R[$1.p99]="$(wrk_field "$2" p99)"
  R[$1.total]="$(wrk_field "$2" total)"
  R[$1.errors]="$(wrk_field "$2" errors)"
}

# wrk posting sign-ins (bench/signin.lua); both apps' csrf cookie holds the form's token.
signin_wrk() { # key connections url
  env SIGNIN_ACCOUNTS="$ACCOUNTS" SIGNIN_PASSWORD="$PASSWORD_FORM" WRK_THREADS="$THREADS" \
    CSRF_TOKEN="${R[$1.csrf_token]}" CSRF_COOKIE="${R[$1.csrf_token]}" \
    wrk -t"$THREADS" -c"$2" -d"$DURATION" --timeout "$SIGNIN_TIMEOUT" --latency -s bench/signin.lua "$3/login"
}

signin_results() { # phase file
  wrk_results "$1" "$2"
  R[$1.statuses]="$(wrk_field "$2" statuses)"
  R[$1.ok]="$(wrk_field "$2" ok303)"
  R[$1.ok_rps]="$(awk -v n="${R[$1.ok]:-0}" -v s="$(wrk_field "$2" seconds)" 'BEGIN { printf "%.1f", n / s }')"
}

# --- the three phases, one app after the other ----------------------------------------------------
# Phase 1 (also the peers' only phase).
# wrk's signed-in GET / over the stack's page-view sessions (bench/views.lua).
views_wrk() { # key duration url [--latency]
  SESSIONS_FILE="$WORK/$1.sessions" WRK_THREADS="$THREADS" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" ${4:-} -s bench/views.lua "$3/"
}

views_phase() { # key name url pid dbuser [store_pid store]
  local key=$1 name=$2 url=$3 pid=$4 user=$5 before after
  local store_pid=${6-$DB_PID} store=${7:-}

  say "$name: page views, warm-up ${WARMUP}"
  views_wrk "$key" "$WARMUP" "$url" >/dev/null
  settle "$pid"
  reset_peak "$pid"
  before="$(snapshot "$key" "$pid" "$user" "$store_pid" "$store")"
  say "$name: page views, wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency -s bench/views.lua GET / (${SESSIONS} sessions)"
  views_wrk "$key" "$DURATION" "$url" --latency >"$WORK/$key-views.txt"
  after="$(snapshot "$key" "$pid" "$user" "$store_pid" "$store")"
  wrk_results "$key.views" "$WORK/$key-views.txt"
  account "$key.views" "$before" "$after" "${R[$key.views.total]}" "$store"
  R[$key.views.peak]="$(proc_kib "$pid" VmHWM)"
  [ -z "$(wrk_field "$WORK/$key-views.txt" non2xx)" ] || die "$name answered non-2xx/3xx responses to page views"
  check_sessions "$key" "$name" "$url"
}

run_app() { # key name url pid dbuser
  local key=$1 name=$2 url=$3 pid=$4 user=$5 before after

  views_phase "$@"

  settle "$pid"
  reset_peak "$pid"
  before="$(snapshot "$key" "$pid" "$user")"
  local hash0 hash1
  hash0="$(hash_ticks "$pid")"
  say "$name: sign-ins, wrk -t${THREADS} -c${SIGNIN_CONNECTIONS} -d${DURATION} --latency -s bench/signin.lua POST /login"
  signin_wrk "$key" "$SIGNIN_CONNECTIONS" "$url" >"$WORK/$key-signins.txt"
  after="$(snapshot "$key" "$pid" "$user")"
  hash1="$(hash_ticks "$pid")"
  signin_results "$key.signins" "$WORK/$key-signins.txt"
  R[$key.signins.hash_ticks]=$((hash1 - hash0))
  account "$key.signins" "$before" "$after" "${R[$key.signins.total]}"
  R[$key.signins.peak]="$(proc_kib "$pid" VmHWM)"
  # Responses but no 303: the sign-in itself is broken (CSRF, credentials), not slow.
  if [ "${R[$key.signins.ok]:-0}" -eq 0 ] && [ "${R[$key.signins.total]}" -gt 0 ]; then
    die "$name signed nobody in: ${R[$key.signins.statuses]}"
  fi

  settle "$pid"
  reset_peak "$pid"
  before="$(snapshot "$key" "$pid" "$user")"
  say "$name: page views during a sign-in flood on ${FLOOD_CONNECTIONS} connections, ${DURATION}"
  hash0="$(hash_ticks "$pid")"
  signin_wrk "$key" "$FLOOD_CONNECTIONS" "$url" >"$WORK/$key-flood.txt" &
  local flood=$!
  PIDS+=("$flood")
  views_wrk "$key" "$DURATION" "$url" --latency >"$WORK/$key-flooded.txt"
  wait "$flood"
  after="$(snapshot "$key" "$pid" "$user")"
  wrk_results "$key.flooded" "$WORK/$key-flooded.txt"
  hash1="$(hash_ticks "$pid")"
  signin_results "$key.flood" "$WORK/$key-flood.txt"
  R[$key.flood.hash_ticks]=$((hash1 - hash0))
  account "$key.flooded" "$before" "$after" "$((${R[$key.flooded.total]} + ${R[$key.flood.total]}))"
  R[$key.flooded.peak]="$(proc_kib "$pid" VmHWM)"
  sleep 1
  R[$key.flooded.after]="$(proc_kib "$pid" VmRSS)"
  [ -z "$(wrk_field "$WORK/$key-flooded.txt" non2xx)" ] || die "$name answered non-2xx/3xx responses to page views during the flood"
  check_sessions "$key" "$name" "$url"
}

stop_server() { # pid: TERM, then KILL after 5 s; no longer cleaned up at exit
  local keep=() p
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

LOAD_BEFORE="$(uptime)"
STARTED=$SECONDS
if [ "$VIEWS_ONLY" = 1 ]; then
  views_phase ours member-portal "$OURS_URL" "$OURS_PID" "$OURS_DB"
else
  run_app ours member-portal "$OURS_URL" "$OURS_PID" "$OURS_DB"
fi
if [ -n "$BASELINE_BIN" ]; then
  say "member-portal (baseline): $BASELINE_BIN on the same port, database and sessions"
  stop_server "$OURS_PID"
  DATABASE_URL="$DATABASE_URL" BIND="127.0.0.1:${OURS_PORT}" RUST_LOG=warn SESSION_KEY="$SESSION_KEY" \
    LOGIN_IP_LIMIT=0 "$BASELINE_BIN" >"$WORK/member-portal-baseline.log" 2>&1 &
  PIDS+=($!)
  OURS_PID=$!
  wait_for "member-portal (baseline)" "$OURS_PID" "${OURS_URL}/healthz"
  cp "$WORK/ours.sessions" "$WORK/base.sessions"
  R[base.member_prefix]=view
  views_phase base "member-portal (baseline)" "$OURS_URL" "$OURS_PID" "$OURS_DB"
fi
if has_app express; then
  if [ "$VIEWS_ONLY" = 1 ]; then
    views_phase express express "$EXPRESS_URL" "$EXPRESS_PID" "$EXPRESS_DB"
  else
    run_app express express "$EXPRESS_URL" "$EXPRESS_PID" "$EXPRESS_DB"
  fi
fi

# --- the peers: page views, each alone ---------------------------------------------------------

# The peers sign in through a plain form (no CSRF token).
peer_sign_in() { # name url jar -> sid
  local code sid
  code="$(curl -sS -o /dev/null -w '%{http_code}' -c "$3" -b "$3" --data-urlencode "username=bench" \
    --data-urlencode "password=${PASSWORD}" "$2/login")"
  [ "$code" = 303 ] || die "$1 POST /login as bench answered $code, expected 303"
  sid="$(jar_cookie "$3" sid)"
  [ -n "$sid" ] || die "$1 set no sid cookie"
  printf '%s' "$sid"
}

run_peer() { # key name port store_pid store dbuser env…
  local key=$1 name=$2 port=$3 store_pid=$4 store=$5 user=$6 url="http://127.0.0.1:$3" pid
  shift 6
  say "starting $name on $url"
  env PORT="$port" "$@" "$(peer_bin "$name")" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for "$name" "$pid" "$url/login"
  say "signing in to $name: ${SESSIONS} page-view sessions (all of bench)"
  : >"$WORK/$key.sessions"
  for ((i = 0; i < SESSIONS; i++)); do
    peer_sign_in "$name" "$url" "$WORK/$key.jar" >>"$WORK/$key.sessions"
    echo >>"$WORK/$key.sessions"
    rm -f "$WORK/$key.jar"
  done
  R[$key.sid]="$(head -n1 "$WORK/$key.sessions")"
  check_sessions "$key" "$name" "$url"
  fill_idle_sessions "$key" "$name"
  views_phase "$key" "$name" "$url" "$pid" "$user" "$store_pid" "$store"
  stop_server "$pid"
}

STACKS=(ours)
[ -z "$BASELINE_BIN" ] || STACKS+=(base)
! has_app express || STACKS+=(express)
if [ "${#PEER_LIST[@]}" -gt 0 ]; then
  say "stopping member-portal and Express: each peer runs alone"
  stop_server "$OURS_PID"
  [ -z "$EXPRESS_PID" ] || stop_server "$EXPRESS_PID"
fi
for peer in "${PEER_LIST[@]}"; do
  case "$peer" in
    actix-redis)
      run_peer actix actix-redis "$ACTIX_REDIS_PORT" "$REDIS_PID" redis "" \
        REDIS_URL="redis://${REDIS_HOST}:${REDIS_PORT}"
      STACKS+=(actix) ;;
    axum-tower)
      run_peer axum axum-tower "$AXUM_TOWER_PORT" "$DB_PID" mysql "$AXUM_DB" \
        DATABASE_URL="mysql://${AXUM_DB}:${DB_PASSWORD}@${MYSQL_HOST}:${MYSQL_PORT}/${AXUM_DB}" SESSION_SCHEMA="$AXUM_DB"
      STACKS+=(axum) ;;
  esac
done
has_stack() { [[ " ${STACKS[*]} " == *" $1 "* ]]; }
ELAPSED=$((SECONDS - STARTED))

# The stacks that ran phases 2 and 3.
PHASED=()
[ "$VIEWS_ONLY" = 1 ] || PHASED=("${APPS[@]}")

# --- summary -------------------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { # wrk duration (e.g. 950.00us, 12.3ms, 1.2s) -> milliseconds
  awk -v d="$1" 'BEGIN { if (d ~ /us$/) { sub(/us$/, "", d); print d / 1000 } else if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 }
                         else if (d ~ /m$/) { sub(/m$/, "", d); print d * 60000 } else { sub(/s$/, "", d); print d * 1000 } }'
}

CPU_MODEL="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
stack_name() {
  case "$1" in
    ours) echo "**member-portal**" ;;
    base) echo "member-portal (baseline)" ;;
    express) echo "express-session + express-mysql-session" ;;
    actix) echo "actix-session RedisSessionStore (Redis)" ;;
    axum) echo "axum + tower-sessions MySqlStore" ;;
  esac
}
# A crate's version in a Cargo.lock.
locked() { awk -v n="$2" '$1 == "name" && $3 == "\"" n "\"" { getline; gsub(/"/, "", $3); print $3; exit }' "$1"; }

echo
others=()
for key in "${STACKS[@]}"; do [ "$key" = ours ] || others+=("$(stack_name "$key")"); done
echo "## member-portal vs $(printf '%s, ' "${others[@]}" | sed 's/, $//')"
echo
echo "- machine: nproc=$(nproc), ${CPU_MODEL:-unknown CPU}; load average before: ${LOAD_BEFORE##*load average: }, after: $(uptime | sed 's/.*load average: //')"
echo "- database: $(sql 'SELECT VERSION()') on ${MYSQL_HOST}:${MYSQL_PORT}"
if has_app express; then
  node_versions="; node $(node --version) (express $(node -p "require('./bench/express/node_modules/express/package.json').version"), express-session $(node -p "require('./bench/express/node_modules/express-session/package.json').version"), express-mysql-session $(node -p "require('./bench/express/node_modules/express-mysql-session/package.json').version"), argon2 $(node -p "require('./bench/express/node_modules/argon2/package.json').version"))"
else
  node_versions=""
fi
echo "- software: $(rustc --version | awk '{ print $1, $2 }')${node_versions}"
al=bench/peers/actix-redis/Cargo.lock tl=bench/peers/axum-tower/Cargo.lock
! has_stack actix || echo "- peer: actix-web $(locked "$al" actix-web), actix-session $(locked "$al" actix-session), redis $(locked "$al" redis) on Redis $(redis INFO server | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')"
! has_stack axum || echo "- peer: axum $(locked "$tl" axum), tower-sessions $(locked "$tl" tower-sessions), tower-sessions-sqlx-store $(locked "$tl" tower-sessions-sqlx-store), sqlx $(locked "$tl" sqlx)"
for line in "${NOTES[@]}"; do echo "- $line"; done
echo "- wrk -t${THREADS}, ${DURATION} per phase; page views on ${CONNECTIONS} connections (after a ${WARMUP} warm-up), sign-ins on ${SIGNIN_CONNECTIONS}, the flood on ${FLOOD_CONNECTIONS}; page views go round ${SESSIONS} signed-in sessions (bench/views.lua), with ${IDLE_SESSIONS} idle sessions of other visitors in each MySQL session table; ${ACCOUNTS} sign-in accounts per app; measured in ${ELAPSED} s"
echo
echo "| phase | stack | requests/s | p50 | p99 | app CPU µs/req | store CPU µs/req (mariadbd or redis-server · own DB user) | statements/req (select · write · other) | app peak RSS |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
row() { # label key phase rps-text rss-text
  printf '| %s | %s | %s | %s | %s | %s | %s · %s | %s | %s |\n' "$1" "$(stack_name "$2")" "$4" \
    "${R[$2.$3.p50]}" "${R[$2.$3.p99]}" "${R[$2.$3.app_us]}" "${R[$2.$3.db_us]}" "${R[$2.$3.db_own_us]}" \
    "${R[$2.$3.stmts]}" "$5"
}
for key in "${STACKS[@]}"; do
  row "page views: \`GET /\` signed in" "$key" views "${R[$key.views.rps]}" "$(mib "${R[$key.views.peak]}")"
done
for key in "${PHASED[@]}"; do
  row "sign-ins: \`POST /login\`" "$key" signins "${R[$key.signins.rps]} (${R[$key.signins.ok_rps]} signed in)" \
    "$(mib "${R[$key.signins.peak]}")"
done
for key in "${PHASED[@]}"; do
  row "page views during a sign-in flood †" "$key" flooded "${R[$key.flooded.rps]}" \
    "$(mib "${R[$key.flooded.peak]}"); $(mib "${R[$key.flooded.after]}") after"
  printf '| … the flood itself | %s | %s (%s signed in) | %s | %s | † | † | † | |\n' "$(stack_name "$key")" \
    "${R[$key.flood.rps]}" "${R[$key.flood.ok_rps]}" "${R[$key.flood.p50]}" "${R[$key.flood.p99]}"
done
echo
[ "${#PHASED[@]}" = 0 ] || { echo "† CPU and statements per request of both wrk runs together (page views + sign-ins)."; echo; }
echo "Page views, member-portal ÷ each other stack (requests/s above 1: member-portal serves more; latency and CPU below 1: member-portal takes less):"
echo
echo "| member-portal ÷ | requests/s | p50 | p99 | app CPU/view | store CPU/view |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for key in "${STACKS[@]}"; do
  [ "$key" != ours ] || continue
  printf '| %s | %s | %s | %s | %s | %s |\n' "$(stack_name "$key")" \
    "$(ratio "${R[ours.views.rps]}" "${R[$key.views.rps]}")" \
    "$(ratio "$(ms "${R[ours.views.p50]}")" "$(ms "${R[$key.views.p50]}")")" \
    "$(ratio "$(ms "${R[ours.views.p99]}")" "$(ms "${R[$key.views.p99]}")")" \
    "$(ratio "${R[ours.views.app_us]}" "${R[$key.views.app_us]}")" \
    "$(ratio "${R[ours.views.db_us]}" "${R[$key.views.db_us]}")"
done
echo
for key in "${PHASED[@]}"; do
  echo "- $(stack_name "$key"), page views during the flood vs without: $(ratio "${R[$key.flooded.rps]}" "${R[$key.views.rps]}")× the requests/s, p99 $(ratio "$(ms "${R[$key.flooded.p99]}")" "$(ms "${R[$key.views.p99]}")")×"
done
for key in "${PHASED[@]}"; do
  echo "- $(stack_name "$key") sign-in responses: ${R[$key.signins.statuses]}; during the flood: ${R[$key.flood.statuses]}"
  case "${R[$key.signins.statuses]}/${R[$key.flood.statuses]}" in
    none/* | */none) echo "- $(stack_name "$key"): no sign-in finished in time: raise DURATION or SIGNIN_TIMEOUT" ;;
  esac
  for phase in views signins flooded flood; do
    [ -z "${R[$key.$phase.errors]}" ] || echo "- $(stack_name "$key") $phase: wrk ${R[$key.$phase.errors]}"
  done
done
# Hashing capacity: cores ÷ one hash's time, the hash timed as the hashing threads' CPU time over
# the sign-in phase ÷ the sign-ins it verified (each successful sign-in is one verification).
if [ "${R[ours.signins.hash_ticks]:-0}" -gt 0 ] && [ "${R[ours.signins.ok]:-0}" -gt 0 ]; then
  awk -v t="${R[ours.signins.hash_ticks]}" -v hz="$CLK_TCK" -v n="${R[ours.signins.ok]}" -v cores="$(nproc)" \
      -v alone="${R[ours.signins.ok_rps]}" -v flood="${R[ours.flood.ok_rps]}" 'BEGIN {
    hash = t / hz / n; capacity = cores / hash
    printf "- **member-portal** hashing: %.1f ms of CPU per hash (the hashing threads'"'"' CPU ÷ sign-ins), so a capacity of %d cores ÷ %.1f ms = %.0f sign-ins/s; sign-ins alone reached %.1f/s = %.0f %% of it, during the page-view flood %.1f/s = %.0f %% (the hashing threads run below the HTTP workers'"'"' priority)\n",
      hash * 1000, cores, hash * 1000, capacity, alone, 100 * alone / capacity, flood, 100 * flood / capacity }'
fi
[ -z "${R[peak_note]:-}" ] || echo "- /proc/PID/clear_refs could not be written: peak RSS is since the app started"
[ "$USERSTAT" = 1 ] || echo "- no USER_STATISTICS on this server: statements are the server-wide Com_* counters (selects · inserts+updates+deletes)"
[ -n "$DB_PID" ] || echo "- the database server does not run on this machine: no mariadbd CPU figure"
if [ "${#PEER_LIST[@]}" -gt 0 ]; then
  ! has_stack actix || [ -n "$REDIS_PID" ] || echo "- Redis does not run on this machine: no redis-server CPU figure"
  echo "- the peers were measured alone (member-portal and Express stopped), page views only; redis-server CPU and commands are the whole server's (other clients count too)"
  for key in actix axum; do
    has_stack "$key" || continue
    [ -z "${R[$key.views.errors]}" ] || echo "- $(stack_name "$key") views: wrk ${R[$key.views.errors]}"
  done
fi
echo "- mariadbd CPU is the whole server's (other clients count too); \"own user\" is USER_STATISTICS CPU_TIME of the app's database user"

# --- the chart: page views of this run, requests/s and p99 per stack ------------------------------
# gnuplot's svg terminal without `mouse` writes a standalone SVG (no script, no linked file).
chart_label() {
  case "$1" in
    ours) echo 'member-portal\n(MariaDB)' ;;
    base) echo 'member-portal\nbaseline' ;;
    express) echo 'Express\n(MariaDB)' ;;
    actix) echo 'actix-session\n(Redis)' ;;
    axum) echo 'tower-sessions\n(MariaDB)' ;;
  esac
}
chart_colour() { [ "$1" = ours ] && echo 0xc0392b || echo 0x5d6d7e; }

write_chart() {
  if [ -z "$CHART" ]; then return 0; fi
  if ! command -v gnuplot >/dev/null; then
    echo "- no chart: gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
    return 0
  fi
  local data="$WORK/chart.dat" script="$WORK/chart.gp" i=0 tics="" key max_rps max_p99
  : >"$data"
  for key in "${STACKS[@]}"; do
    printf '%d %s %s %d\n' "$i" "${R[$key.views.rps]}" "$(ms "${R[$key.views.p99]}")" "$(($(chart_colour "$key")))" >>"$data"
    tics+="${tics:+, }\"$(chart_label "$key")\" $i"
    i=$((i + 1))
  done
  max_rps="$(awk 'm < $2 { m = $2 } END { print m * 1.15 }' "$data")"
  max_p99="$(awk 'm < $3 { m = $3 } END { print m * 1.15 }' "$data")"
  mkdir -p "$(dirname "$CHART")"
  cat >"$script" <<GNUPLOT
set terminal svg size 1000,500 fixed noenhanced font "sans,12" background rgb "white"
set output "$CHART"
set multiplot layout 1,2 title "Signed-in page views (GET /): wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}, one run on $(date -u +%Y-%m-%d), nproc=$(nproc)\nwrk, the app and its store share the machine's cores"
set style fill solid 0.9 noborder
set boxwidth 0.6
set grid ytics lc rgb "#dddddd"
set border 3
set bmargin 4
set xtics nomirror scale 0 (${tics}) font "sans,10"
set ytics nomirror
set xrange [-0.6:$((i - 1)).6]
set title "requests/s (higher is better)"
set yrange [0:${max_rps}]
plot "$data" using 1:2:4 with boxes lc rgb variable notitle, \
     "" using 1:2:(sprintf("%.0f", \$2)) with labels offset 0,0.8 notitle
set title "p99 latency, ms (lower is better)"
set yrange [0:${max_p99}]
plot "$data" using 1:3:4 with boxes lc rgb variable notitle, \
     "" using 1:3:(sprintf("%.2f", \$3)) with labels offset 0,0.8 notitle
unset multiplot
GNUPLOT
  if ! gnuplot "$script" 2>"$WORK/gnuplot.log"; then
    echo "- no chart: gnuplot failed ($(head -n 3 "$WORK/gnuplot.log" | tr '\n' ' '))"
    return 0
  fi
  if grep -qE "<script|<image|href=[\"'][^#]|@import" "$CHART"; then
    echo "- chart: $CHART (it refers to something outside itself: check gnuplot's svg options)"
  else
    echo "- chart: $CHART (page views, requests/s and p99 per stack)"
  fi
}
write_chart
