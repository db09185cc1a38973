-- A tiny ReplicaSet controller: keeps spec.replicas pods, reports status.replicas.
-- It exercises the runtime: owns, cache reads, creates and deletes that suspend the reconcile,
-- expectations, status updates and events.
local kube = require("kube")

return {
  name = "replicas",
  primary = "apps/v1/replicasets",
  owns = { "v1/pods" },
  workers = 2,
  reconcile = function(ctx, key)
    local rs = ctx:get("apps/v1/replicasets", key)
    if not rs then return end
    if not ctx:satisfied() then return end
    local pods = ctx:list("v1/pods", { namespace = rs.metadata.namespace, owner = rs.metadata.uid })
    local want = rs.spec.replicas or 1
    local diff = want - #pods
    if diff > 0 then
      ctx:expect_creations(diff)
      for _ = 1, diff do
        local pod = {
          metadata = {
            generateName = rs.metadata.name .. "-",
            namespace = rs.metadata.namespace,
            labels = kube.copy(rs.spec.template.metadata.labels),
            ownerReferences = { {
              apiVersion = "apps/v1", kind = "ReplicaSet", name = rs.metadata.name,
              uid = rs.metadata.uid, controller = true, blockOwnerDeletion = true,
            } },
          },
          spec = kube.copy(rs.spec.template.spec),
        }
        local created, err = ctx:create("v1/pods", pod)
        if not created then return nil, err end
        ctx:event(rs, "Normal", "SuccessfulCreate", "Created pod: " .. created.metadata.name)
      end
    elseif diff < 0 then
      ctx:expect_deletions(-diff)
      for i = 1, -diff do
        local ok, err = ctx:delete("v1/pods", pods[i])
        if not ok then return nil, err end
        ctx:event(rs, "Normal", "SuccessfulDelete", "Deleted pod: " .. pods[i].metadata.name)
      end
    end
    if (rs.status and rs.status.replicas) ~= #pods then
      local st = kube.copy(rs)
      st.status = { replicas = #pods, observedGeneration = rs.metadata.generation }
      local _, err = ctx:update_status("apps/v1/replicasets", st)
      if err and err.conflict then return { requeue = true } end
      if err then return nil, err end
    end
  end,
}
