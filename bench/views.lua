-- wrk script: signed-in GET / over many sessions, for bench/run.sh.
--
-- SESSIONS_FILE names a file with one session cookie value per line (the `sid` cookies of
-- SESSIONS members the caller signed in). Thread k of WRK_THREADS (which must equal wrk's -t)
-- takes lines k, k + WRK_THREADS, k + 2 × WRK_THREADS, … and sends each request with the next
-- cookie of its share, round and round. With at least as many sessions as connections, the
-- requests in flight at any moment are of different sessions: no two page views can share one
-- session read, as they would if every connection sent the same cookie.
--
-- The requests are built once, in init: request() only hands out the next one.

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path = os.getenv("SESSIONS_FILE")
  local step = tonumber(os.getenv("WRK_THREADS") or "")
  if not (path and step) then
    error("views.lua needs SESSIONS_FILE and WRK_THREADS")
  end
  local cookies = {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(cookies, line)
    end
  end
  requests = {}
  for i = id + 1, #cookies, step do
    table.insert(requests, wrk.format("GET", "/", { ["Cookie"] = "sid=" .. cookies[i] }))
  end
  if #requests == 0 then
    error("views.lua: fewer sessions in " .. path .. " than wrk threads")
  end
  n = 0
end

function request()
  n = n % #requests + 1
  return requests[n]
end
