-- Test policy for tests/e2e/run_*.sh: stamps ConfigMaps labelled stamp=yes with an annotation
-- naming the policy version. The tests rewrite VERSION to check hot reload.
local VERSION = "v1"

return {
  name = "stamp",
  primary = "v1/configmaps",
  workers = 2,
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm or not cm.metadata.labels or cm.metadata.labels.stamp ~= "yes" then
      return
    end
    local annotations = cm.metadata.annotations or {}
    if annotations["kubelua.test/stamp"] == VERSION then
      return
    end
    local patch = { metadata = { annotations = { ["kubelua.test/stamp"] = VERSION } } }
    local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name, patch)
    if err then
      return nil, err.message
    end
    ctx:event(cm, "Normal", "Stamped", "stamped " .. VERSION)
  end,
}
