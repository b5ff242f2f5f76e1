-- wrk script: POST /login with valid credentials, for bench/run.sh.
--
-- Every request signs in a different account of SIGNIN_ACCOUNTS accounts named
-- SIGNIN_PREFIX0, SIGNIN_PREFIX1, ... (all with the password SIGNIN_PASSWORD, already
-- form-encoded). Each wrk thread walks its own share of the accounts, so an account has at
-- most one sign-in in flight as long as there are more accounts per thread than connections
-- per thread: the per-account throttle counts an attempt before the password is checked, and
-- many parallel sign-ins to one account would lock it.
--
-- The anonymous CSRF token is a signed double-submit pair that is not bound to anything, so
-- one pair fetched by the caller (CSRF_COOKIE: the `csrf` cookie's value, CSRF_TOKEN: the
-- form's hidden field) serves every request. WRK_THREADS must equal wrk's -t.
--
-- At the end it prints one line per response status: "status CODE COUNT".

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  prefix = os.getenv("SIGNIN_PREFIX") or "signin"
  accounts = tonumber(os.getenv("SIGNIN_ACCOUNTS") or "")
  step = tonumber(os.getenv("WRK_THREADS") or "")
  local password = os.getenv("SIGNIN_PASSWORD")
  local token = os.getenv("CSRF_TOKEN")
  local cookie = os.getenv("CSRF_COOKIE")
  if not (accounts and step and password and token and cookie) then
    error("signin.lua needs SIGNIN_ACCOUNTS, WRK_THREADS, SIGNIN_PASSWORD, CSRF_TOKEN, CSRF_COOKIE")
  end
  body_tail = "&password=" .. password .. "&csrf_token=" .. token
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrf=" .. cookie,
  }
  n = id
  statuses = {}
end

function request()
  local body = "username=" .. prefix .. n .. body_tail
  n = n + step
  if n >= accounts then
    n = id
  end
  return wrk.format("POST", "/login", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      totals[code] = (totals[code] or 0) + count
    end
  end
  for code, count in pairs(totals) do
    io.write(string.format("status %d %d\n", code, count))
  end
end
