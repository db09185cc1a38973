-- The bundled CronJob policy with a server that fails fresh reads (ctx:get with fresh = true) of
-- the objects named in FAIL with a 500, for fresh-read-error.yaml: the fake cluster of
-- `kubelua test` injects failures into writes only.
local policy = require("cronjob") -- a link to policies/cronjob.lua

local FAIL = { ["broken-29460120"] = true, unexpected = true }

local function failing(ctx)
  local proxy = {}
  function proxy.get(_, resource, ns, name, opts)
    local n = name
    if n and not opts and type(n) == "table" then opts, n = n, nil end
    if opts and opts.fresh and FAIL[n or ns:match("/(.*)$")] then
      return nil, setmetatable({ code = 500, reason = "InternalError", message = "etcd is down" },
        { __tostring = function(e) return e.message end })
    end
    return ctx:get(resource, ns, name, opts)
  end
  return setmetatable(proxy, {
    __index = function(_, k)
      local v = ctx[k]
      if type(v) == "function" then
        return function(_, ...) return v(ctx, ...) end
      end
      return v
    end,
  })
end

return {
  name = policy.name,
  primary = policy.primary,
  owns = policy.owns,
  workers = policy.workers,
  reconcile = function(ctx, key) return policy.reconcile(failing(ctx), key) end,
}
