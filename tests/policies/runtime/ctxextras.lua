-- Exercises ctx extras: fresh reads from the server and the shared expectations record.
return {
  name = "ctxextras",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key, { fresh = true })
    if not cm then return end
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
