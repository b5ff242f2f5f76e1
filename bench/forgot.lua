-- wrk script: POST /forgot-password, for bench/mail.sh.
--
-- Each request asks for a reset link for bench<N>@example.com, N random in 1..2×MEMBERS: half
-- the addresses belong to members (MEMBERS of them, bench1 … benchMEMBERS), half to no one,
-- as a flood of guesses would. CSRF_TOKEN is one valid anonymous pair (the `csrf` cookie holds
-- the form's token). At the end it prints one line per response status: "status CODE COUNT".

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  members = tonumber(os.getenv("MEMBERS") or "")
  local token = os.getenv("CSRF_TOKEN")
  if not (members and token) then
    error("forgot.lua needs MEMBERS and CSRF_TOKEN")
  end
  token_field = "csrf_token=" .. token
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrf=" .. token,
  }
  statuses = {}
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local n = math.random(1, 2 * members)
  local body = token_field .. "&email=bench" .. n .. "%40example.com"
  return wrk.format("POST", "/forgot-password", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for code, count in pairs(seen) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("status %d %d\n", code, count))
  end
end
