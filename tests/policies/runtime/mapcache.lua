-- Watch map functions get (obj, old, change, cache): this one finds the ConfigMaps that name a
-- Secret in their "secret" label through the cache, and skips updates that changed nothing but
-- annotations.
return {
  name = "mapcache",
  primary = "v1/configmaps",
  watches = {
    {
      resource = "v1/secrets",
      map = function(secret, old, change, cache)
        if change == "update" and old.data and secret.data and old.data.v == secret.data.v then
          return nil
        end
        local keys = {}
        local users = cache:list("v1/configmaps", {
          namespace = secret.metadata.namespace, selector = { secret = secret.metadata.name },
        })
        for _, cm in ipairs(users) do
          keys[#keys + 1] = cm.metadata.namespace .. "/" .. cm.metadata.name
        end
        return keys
      end,
    },
  },
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm or not cm.metadata.labels or not cm.metadata.labels.secret then return end
    local secret = ctx:get("v1/secrets", cm.metadata.namespace, cm.metadata.labels.secret)
    local seen = secret and secret.data and secret.data.v or "none"
    if cm.data and cm.data.seen == seen then return end
    local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name,
      { data = { seen = seen } })
    if err then return nil, err end
  end,
}
