-- Records a burst of events in one reconcile: one event twice (the repeat is an aggregation,
-- which must reach the server after the creation it patches), then 1,500 distinct ones; asked
-- again (data.again), it repeats one that was dropped, which must then be created.
return {
  name = "eventburst",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm then return end
    local data = cm.data or {}
    if data.again and not data.repeated then
      ctx:event(cm, "Normal", "Burst", "event number 1500")
      local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name,
        { data = { repeated = "yes" } })
      if err then return nil, err end
      return
    end
    if data.done then return end
    ctx:event(cm, "Normal", "Repeated", "the same message")
    ctx:event(cm, "Normal", "Repeated", "the same message")
    for i = 1, 1500 do
      ctx:event(cm, "Normal", "Burst", "event number " .. i)
    end
    local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name,
      { data = { done = "yes" } })
    if err then return nil, err end
  end,
}
