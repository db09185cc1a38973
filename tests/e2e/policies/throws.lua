-- Test policy for tests/e2e/run_controllers.sh: fails on purpose for ConfigMaps labelled
-- throws=yes, so the process must log it, record a Warning Event and keep running.
return {
  name = "throws",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if cm and cm.metadata.labels and cm.metadata.labels.throws == "yes" then
      error("refusing " .. key .. " on purpose")
    end
  end,
}
