-- What happens to the pods of a node that is not healthy:
--  * MarkPodsNotReady: when a node stops being Ready (and for pods bound to it while it is not),
--    the Ready condition of its pods becomes False, with a NodeNotReady warning on each pod;
--  * taint-based eviction (the taint eviction controller, 1.29+): a pod that does not tolerate
--    every NoExecute taint of its node is deleted at once; one that tolerates them for a while
--    (the smallest tolerationSeconds of the tolerations used) is deleted when that time has
--    passed since its eviction was first scheduled, unless the taints go or become tolerated
--    for ever first ("Cancelling deletion"). Before the delete the pod gets the condition
--    DisruptionTarget=True (DeletionByTaintManager). Pods already being deleted are left alone.
local kube = require("kube")

local M = {}

local PODS = "v1/pods"

-- Scheduled evictions: pod uid -> {due, key}.
local timers = {}
M.timers = timers

local function pod_key(pod)
  return pod.metadata.namespace .. "/" .. pod.metadata.name
end

function M.forget_pod(uid)
  timers[uid] = nil
end

local function cancel(ctx, pod)
  local uid = pod.metadata.uid
  if timers[uid] ~= nil then
    timers[uid] = nil
    ctx:event(pod, "Normal", "TaintManagerEviction", "Cancelling deletion of Pod " .. pod_key(pod))
  end
end

local function has_condition(pod, ctype, status, reason)
  local c = kube.condition(pod, ctype)
  return c ~= nil and c.status == status and (reason == nil or c.reason == reason)
end

local function evict(ctx, pod)
  timers[pod.metadata.uid] = nil
  local key = pod_key(pod)
  ctx:event(pod, "Normal", "TaintManagerEviction", "Marking for deletion Pod " .. key)
  if not has_condition(pod, "DisruptionTarget", "True", "DeletionByTaintManager") then
    local _, err = ctx:patch(PODS, pod.metadata.namespace, pod.metadata.name, {
      status = {
        conditions = {
          {
            type = "DisruptionTarget",
            status = "True",
            reason = "DeletionByTaintManager",
            message = "Taint manager: deleting due to NoExecute taint",
            lastTransitionTime = kube.time.format(ctx.now),
          },
        },
      },
    }, { type = "strategic", subresource = "status" })
    if err ~= nil then
      if err.not_found then return nil end
      return "marking " .. key .. " for deletion: " .. tostring(err)
    end
  end
  local _, err = ctx:delete(PODS, pod)
  if err ~= nil and not err.not_found then return "deleting " .. key .. ": " .. tostring(err) end
  return nil
end

local function noexecute_taints(node)
  local taints = node.spec and node.spec.taints
  if taints == nil then return false end
  for i = 1, #taints do
    if taints[i].effect == "NoExecute" then return true end
  end
  return false
end

-- Applies the NoExecute taints of node to the pods bound to it. Returns the earliest time an
-- eviction is due (nil: none pending), and the first error.
function M.process(ctx, node, pods, now)
  local tainted = noexecute_taints(node)
  local next_due, first_err
  for _, pod in ipairs(pods) do
    if pod.metadata.deletionTimestamp == nil then
      if not tainted then
        cancel(ctx, pod)
      else
        local tolerated, seconds = kube.nodes.noexecute_toleration(node, pod)
        local err
        if not tolerated then
          err = evict(ctx, pod)
        elseif seconds == nil then
          cancel(ctx, pod)
        else
          local uid = pod.metadata.uid
          local t = timers[uid]
          if t == nil then
            t = { due = now + seconds, key = pod_key(pod) }
            timers[uid] = t
          end
          if now >= t.due then
            err = evict(ctx, pod)
          elseif next_due == nil or t.due < next_due then
            next_due = t.due
          end
        end
        first_err = first_err or err
      end
    end
  end
  return next_due, first_err
end

-- MarkPodsNotReady: pods on the node whose Ready condition is True get False.
function M.mark_not_ready(ctx, pods, now)
  for _, pod in ipairs(pods) do
    local ready = kube.condition(pod, "Ready")
    if ready ~= nil and ready.status == "True" and not kube.pods.is_terminal(pod) then
      local p = kube.copy(pod)
      for _, c in ipairs(p.status.conditions) do
        if c.type == "Ready" then
          c.status = "False"
          c.lastTransitionTime = kube.time.format(now)
        end
      end
      local _, err = ctx:update_status(PODS, p)
      if err ~= nil then
        if not err.not_found then
          return "marking " .. pod_key(pod) .. " not ready: " .. tostring(err)
        end
      else
        ctx:event(pod, "Warning", "NodeNotReady", "Node is not ready")
      end
    end
  end
  return nil
end

return M
