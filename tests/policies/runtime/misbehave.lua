-- A policy that misbehaves on purpose, per object name: throws, returns an error, loops
-- forever, eats memory, writes to a cached object, yields where it cannot; the runtime must
-- survive each and keep reconciling the others.
local kube = require("kube")

return {
  name = "misbehave",
  primary = "v1/configmaps",
  watches = {
    -- A Secret named like a ConfigMap enqueues it.
    { resource = "v1/secrets", map = function(s) return { s.metadata.namespace .. "/" .. s.metadata.name } end },
  },
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm then return end
    local mode = cm.data and cm.data.mode
    if mode == "throw" then
      error("boom: " .. key)
    elseif mode == "return" then
      return nil, "refused " .. key
    elseif mode == "loop" then
      while true do end
    elseif mode == "memory" then
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 65536) .. i end
    elseif mode == "write" then
      cm.data.mode = "changed"
    elseif mode == "yield" then
      -- A host call that suspends cannot run inside a coroutine of the policy's own.
      coroutine.wrap(function() ctx:delete("v1/configmaps", cm.metadata.namespace, "x") end)()
    elseif mode == "later" then
      return { requeue_after = 30 }
    end
    local seen = kube.copy(cm)
    seen.metadata.annotations = seen.metadata.annotations or {}
    if seen.metadata.annotations.seen == "yes" then return end
    seen.metadata.annotations.seen = "yes"
    local _, err = ctx:update("v1/configmaps", seen)
    if err then return nil, err end
  end,
}
