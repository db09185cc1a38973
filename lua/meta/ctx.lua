---@meta
-- LuaLS annotations for the policy contract and the `ctx` a reconcile receives
-- (runtime/controller/ctx.c). Point your editor's Lua language server at lua/meta/.

---@class kube.Policy
---@field name? string                 Controller name (logs, metrics, events); default: file name
---@field primary string               Reconciled resource, "group/version/plural" ("v1/pods" for core)
---@field owns? string[]               Resources whose objects enqueue their controller owner
---@field watches? kube.Watch[]        Other inputs mapped to primary keys
---@field workers? integer             Concurrent reconciles (default 5)
---@field resync? number               Seconds between re-enqueues of every primary object (0: never)
---@field time_budget? number          Seconds of Lua time one reconcile may use, over all its slices (default 1; at most 600)
---@field component? string            Events' source / reportingController (default "<name>-controller")
---@field reconcile fun(ctx: kube.Ctx, key: string): kube.Result?, (string|kube.Error)?

---@class kube.Watch
---@field resource string              "group/version/plural"
---@field map fun(obj: table, old: table?, change: "add"|"update"|"delete", cache: kube.Cache): string[]|string|nil  Primary keys ("ns/name") to enqueue; old is the previous state on updates; must not yield

---Read-only access to the controller's caches from a watch map function (never yields).
---@class kube.Cache
local Cache = {}
---@param resource string
---@param ns_or_key string|nil
---@param name? string
---@return table|nil
function Cache:get(resource, ns_or_key, name) end
---@param resource string
---@param opts? kube.ListOptions
---@return table[]
function Cache:list(resource, opts) end

---@class kube.Result
---@field requeue_after? number        Reconcile again after this many seconds
---@field requeue? boolean             Reconcile again with per-key backoff
---@field error? string                Treated like an error: backoff, Warning event, log

---@class kube.Error
---@field code integer                 HTTP status (0 for transport errors)
---@field reason string                "NotFound", "Conflict", "AlreadyExists", "Invalid", ...
---@field message string               The server's message (tostring(err) gives it too)
---@field not_found boolean
---@field conflict boolean             409 on a stale resourceVersion
---@field already_exists boolean
---@field invalid boolean              422

---@class kube.ListOptions
---@field namespace? string
---@field selector? table|string       {app="x"}, a metav1.LabelSelector table, or "app=x,tier!=db"
---@field owner? string                Controller owner reference uid
---@field node? string                 spec.nodeName (pods)
---@field fields? string               Field selector, e.g. "status.phase=Running"

---@class kube.PatchOptions
---@field type? "merge"|"json"|"strategic"|"apply"  Default "merge"
---@field subresource? string          e.g. "status"
---@field field_manager? string        Default "kubelua"
---@field force? boolean               Server-side apply: take ownership on conflicts
---@field dry_run? boolean

---@class kube.DeleteOptions
---@field propagation? "Background"|"Foreground"|"Orphan"
---@field grace_period? integer        Seconds
---@field uid? string                  Precondition
---@field resource_version? string     Precondition
---@field dry_run? boolean

---@class kube.Logger
local Logger = {}
function Logger:debug(...) end
function Logger:info(...) end
function Logger:warn(...) end
function Logger:error(...) end

---@class kube.Ctx
---@field key string                   The key being reconciled ("ns/name" or "name")
---@field namespace string?            Its namespace (nil for cluster-scoped)
---@field name string                  Its name
---@field now number                   Wall-clock time in Unix seconds (the fake cluster's clock in tests)
---@field controller string            The controller's name
---@field log kube.Logger              Logs tagged with controller and key
---@field expectations kube.Expectations The controller's shared record, keyed like ctx.key: creations and deletions are observed from informer events (set/raise/lower/satisfied)
local Ctx = {}

--- Reads one object from the cache (a read-only view), or nil. With a last argument
--- {fresh = true} it reads from the server instead (the call yields): nil when the object does
--- not exist, or nil, err when the read failed.
---@param resource string
---@param ns_or_key string|nil         Namespace, or a "ns/name" key when name is omitted
---@param name? string|{fresh: boolean}
---@param opts? {fresh: boolean}
---@return table|nil, kube.Error?
function Ctx:get(resource, ns_or_key, name, opts) end

--- Reads objects from the cache (read-only views), sorted by namespace/name.
---@param resource string
---@param opts? kube.ListOptions
---@return table[]
function Ctx:list(resource, opts) end

--- Creates an object; suspends the reconcile until the server answers. With a subresource the
--- object is POSTed to resource/NAME/subresource, NAME being obj.metadata.name (its namespace
--- obj.metadata.namespace): ctx:create("v1/pods", {apiVersion = "v1", kind = "Binding",
--- metadata = {name = pod, namespace = ns}, target = {apiVersion = "v1", kind = "Node",
--- name = node}}, {subresource = "binding"}) binds a pod (the answer is a Status; a pod
--- already bound or being deleted gives err.conflict).
---@param resource string
---@param obj table                    A plain table (kube.copy form) or a view
---@param opts? {dry_run?: boolean, subresource?: string}
---@return table|nil created, kube.Error|nil err
function Ctx:create(resource, obj, opts) end

--- Replaces an object (metadata.resourceVersion, when set, must be current: else err.conflict).
---@return table|nil updated, kube.Error|nil err
function Ctx:update(resource, obj, opts) end

--- Replaces an object's status (the status subresource).
---@return table|nil updated, kube.Error|nil err
function Ctx:update_status(resource, obj, opts) end

--- Patches an object.
---@param resource string
---@param ns string|nil
---@param name string
---@param patch table
---@param opts? kube.PatchOptions
---@return table|nil patched, kube.Error|nil err
function Ctx:patch(resource, ns, name, patch, opts) end

--- Deletes an object: ctx:delete(resource, ns, name [, opts]) or ctx:delete(resource, obj [, opts])
--- (the second form adds a uid precondition).
---@return boolean|table|nil ok, kube.Error|nil err
function Ctx:delete(resource, ...) end

--- Records a Kubernetes Event about obj; repeats within ten minutes bump its count.
---@param obj table
---@param type "Normal"|"Warning"
---@param reason string
---@param message string
function Ctx:event(obj, type, reason, message) end

--- Expectations: creations/deletions issued and not yet seen in the cache, for a key (default
--- the current one). Informer events lower them; they expire after five minutes.
---@param n integer
---@param key? string
function Ctx:expect_creations(n, key) end
---@param n_or_pods integer|table      A count, or the pods (views or "ns/name" keys) being deleted
---@param key? string
function Ctx:expect_deletions(n_or_pods, key) end
---@param key? string
---@return boolean
function Ctx:satisfied(key) end

--- Asks for another reconcile of this key after `seconds` (the smallest request wins).
---@param seconds number
function Ctx:requeue_after(seconds) end

--- Queues another key of this controller, now or after a delay (seconds).
---@param key string                   "namespace/name" or "name"
---@param after? number
function Ctx:enqueue(key, after) end
