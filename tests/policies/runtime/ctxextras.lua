-- Exercises ctx extras: fresh reads from the server, the shared expectations record, and
-- ctx:enqueue of another key.
local visits = {}

return {
  name = "ctxextras",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key, { fresh = true })
    if not cm then return end
    visits[key] = (visits[key] or 0) + 1
    if cm.data and cm.data.poke then
      ctx:enqueue(cm.metadata.namespace .. "/" .. cm.data.poke, 5)
    end
    if key == "default/two" and visits[key] == 2 then
      local _, err = ctx:patch("v1/configmaps", "default", "two", { data = { twice = "yes" } })
      if err then return nil, err end
      return
    end
    local gone = ctx:get("v1/configmaps", ctx.namespace, "does-not-exist", { fresh = true })
    assert(gone == nil, "a missing object reads as nil")
    local e = ctx.expectations
    e:set(key, 2, 0)
    assert(not e:satisfied(key), "two creations pending")
    e:lower(key, 2, 0)
    assert(e:satisfied(key), "lowered to zero")
    if cm.data and cm.data.seen then return end
    local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name,
      { data = { seen = cm.metadata.resourceVersion } })
    if err then return nil, err end
  end,
}
