-- A policy declaring its own time budget (0.3 s) above the spec's (0.1 s): a reconcile that
-- spins 0.2 s of CPU finishes; one that spins forever is still killed, at 0.3 s.
local kube = require("kube")

local function spin(seconds)
  local t0 = os.clock()
  while os.clock() - t0 < seconds do end
end

return {
  name = "budget",
  primary = "v1/configmaps",
  time_budget = 0.3,
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if cm == nil or (cm.metadata.annotations or {}).done then return end
    if cm.data.mode == "forever" then spin(1e9) end
    spin(0.2)
    local copy = kube.copy(cm)
    copy.metadata.annotations = { done = "yes" }
    local _, err = ctx:update("v1/configmaps", copy)
    return nil, err
  end,
}
