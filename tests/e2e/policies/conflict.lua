-- Test policy for tests/e2e/run_controllers.sh: the first pass changes the ConfigMap behind its
-- own back and then updates the stale copy, which the server must refuse with a Conflict; the
-- retry (with backoff) reads the fresh copy and succeeds.
local kube = require("kube")

return {
  name = "conflict",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm or not cm.metadata.labels or cm.metadata.labels.conflict ~= "yes" then
      return
    end
    if cm.data and cm.data.updated == "true" then
      return
    end
    local stale = kube.copy(cm)
    if not (cm.metadata.annotations and cm.metadata.annotations["kubelua.test/bumped"]) then
      local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name,
        { metadata = { annotations = { ["kubelua.test/bumped"] = "yes" } } })
      if err then return nil, err.message end
    end
    stale.data = stale.data or {}
    stale.data.updated = "true"
    local _, err = ctx:update("v1/configmaps", stale)
    if err then
      ctx.log:info("update refused: " .. err.reason)
      error(err.reason .. ": " .. err.message)
    end
  end,
}
