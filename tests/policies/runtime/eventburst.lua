-- Records a burst of events in one reconcile: one event twice (the repeat is an aggregation,
-- which must reach the server after the creation it patches), then 1,500 distinct ones.
return {
  name = "eventburst",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm or (cm.data and cm.data.done) then return end
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
