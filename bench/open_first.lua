-- wrk script for `python -m bench.tail_compare`: hold back the first request
-- of each connection for a second, so that every connection is open and
-- accepted by the server before the first one is timed (wrk starts a
-- request's clock when it sends it). Its one argument: the connection count.
local connections = 0
local held = 0

function init(args)
  connections = tonumber(args[1])
end

function delay()
  if held < connections then
    held = held + 1
    return 1000
  end
  return 0
end
