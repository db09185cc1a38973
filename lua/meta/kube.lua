---@meta kube
-- LuaLS annotations for the `kube` module that policies get with `local kube = require("kube")`.
-- The module is implemented in C (runtime/script/l_kube.c, l_object.c, l_primitives*.c); this
-- file only describes it for editors and type checkers and is never run by kubelua.
--
-- Conventions:
--   * Objects from the cache are read-only proxies (kube.Object): index, #, pairs and ipairs work,
--     writes raise. kube.copy() gives a mutable table. Wherever an argument is an object, a proxy
--     or a plain table may be passed.
--   * Functions raise for programmer errors (wrong argument types) and return `nil, err` for
--     expected failures (a selector or quantity that does not parse, an unknown time zone).
--   * Times are Unix seconds (integers, or floats where fractions matter).
--   * Objects returned for sending to the API server are plain tables in kube.copy's form.

---@class kube
local kube = {}

-- ---------------------------------------------------------------------------------------------
-- Objects

---A read-only view of a cached Kubernetes object or of one of its members.
---Index it like a table; `#` gives an array's length; `pairs`/`ipairs` iterate it.
---Assigning to it raises an error pointing at kube.copy().
---@class kube.Object
---@field [string] any
---@field [integer] any

---Any value standing for a Kubernetes object: a read-only proxy or a plain table.
---@alias kube.ObjectLike kube.Object|table

---The JSON null sentinel (a light userdata). Proxies read JSON null as nil; kube.copy() and
---kube.json.decode() give kube.null, and encoding writes it back as null.
---@type lightuserdata
kube.null = nil

---Deep-copies a proxy (or a table) into mutable tables that remember whether they were JSON
---objects or arrays; JSON null becomes kube.null. Other values are returned as they are.
---@generic T
---@param v T
---@return T
function kube.copy(v) end

---Marks a table (a new one when none is given) as a JSON array, so that an empty one encodes as
---`[]`.
---@param t? table
---@return table
function kube.array(t) end

---Marks a table (a new one when none is given) as a JSON object, so that it encodes as `{}`
---even when it looks like an array.
---@param t? table
---@return table
function kube.object(t) end

---@param v any
---@return boolean # v is kube.null
function kube.is_null(v) end

---@param v any
---@return boolean # v is an array proxy or a table marked kube.array
function kube.is_array(v) end

---@param v any
---@return boolean # v is a read-only proxy
function kube.readonly(v) end

---@class kube.json
kube.json = {}

---Encodes a value as compact JSON. Object keys are sorted, so equal tables give equal text.
---Integers are written without a decimal point. Raises on values JSON cannot hold (functions,
---mixed tables, cycles, invalid UTF-8), naming the path.
---@param v any
---@return string
function kube.json.encode(v) end

---Decodes JSON into marked tables (null becomes kube.null).
---@param s string
---@return any|nil value
---@return string? err
function kube.json.decode(s) end

---@class kube.yaml
kube.yaml = {}

---Decodes a YAML stream ("---" separated) into an array of documents (marked tables).
---@param s string
---@return table[]|nil docs
---@return string? err # with line and column
function kube.yaml.decode(s) end

---@class kube.log
kube.log = {}

---Logs the arguments joined with spaces (tostring'ed), tagged with the policy name.
---@param ... any
function kube.log.debug(...) end

---@param ... any
function kube.log.info(...) end

---@param ... any
function kube.log.warn(...) end

---@param ... any
function kube.log.error(...) end

---The element of obj.status.conditions whose `type` is `type` (the element itself: a proxy for
---a proxy, the table for a table), or nil.
---@param obj kube.ObjectLike
---@param type string
---@return kube.ObjectLike|nil
function kube.condition(obj, type) end

-- ---------------------------------------------------------------------------------------------
-- Label and field selectors (k8s.io/apimachinery semantics)

---@class kube.labels
kube.labels = {}

---A compiled label selector.
---@class kube.Selector
local Selector = {}

---@param labels table<string, string>|kube.Object|nil # a labels map (nil: no labels)
---@return boolean
function Selector:matches(labels) end

---The canonical string form, requirements sorted by key ("app=web,tier in (a,b)"); "" for the
---empty and the nothing selector.
---@return string
function Selector:string() end

---@return boolean # matches everything
function Selector:empty() end

---@return boolean # matches nothing (a nil selector)
function Selector:nothing() end

---The value the selector pins key to (key=value or key in (value)), or nil.
---@param key string
---@return string|nil
function Selector:exact(key) end

---A metav1.LabelSelector table ({matchLabels, matchExpressions}) or its string form
---("app=web,tier notin (db),!canary"). nil or kube.null give the selector that matches nothing
---(LabelSelectorAsSelector(nil)); {} and "" match everything.
---@alias kube.SelectorSpec string|table|kube.Object|nil

---Compiles a selector. A table with fields other than matchLabels and matchExpressions is refused
---(a map of labels given by mistake would otherwise match everything; see from_set).
---@param spec kube.SelectorSpec
---@return kube.Selector|nil
---@return string? err # upstream's message
function kube.labels.selector(spec) end

---labels.SelectorFromSet: key=value for every label of the map.
---@param labels table<string, string>|kube.Object
---@return kube.Selector|nil
---@return string? err
function kube.labels.from_set(labels) end

---Matches labels against a selector (compiled, string or table form).
---@param selector kube.Selector|kube.SelectorSpec
---@param labels table<string, string>|kube.Object|nil
---@return boolean|nil matches # nil when the selector does not parse
---@return string? err
function kube.labels.match(selector, labels) end

---@class kube.fields
kube.fields = {}

---A compiled field selector ("metadata.name=x,status.phase!=Running").
---@class kube.FieldSelector
local FieldSelector = {}

---@param fields table<string, string>|kube.ObjectLike # field path -> value, or the object itself (read at the paths); absent fields read as ""
---@return boolean
function FieldSelector:matches(fields) end

---@return string # canonical form: sorted terms
function FieldSelector:string() end

---@param field string
---@return string|nil # the value a term pins field to with = or ==
function FieldSelector:exact(field) end

---@return boolean
function FieldSelector:empty() end

---@param s string
---@return kube.FieldSelector|nil
---@return string? err
function kube.fields.selector(s) end

-- ---------------------------------------------------------------------------------------------
-- Time, time zones and cron schedules

---@class kube.time
---@field utc kube.Zone # the UTC zone
kube.time = {}

---An IANA time zone, read from the system tz database.
---@class kube.Zone
local Zone = {}

---@return string # the name it was loaded with
function Zone:name() end

---@param t? number # Unix seconds (default: now)
---@return integer # offset from UTC in seconds, east positive
function Zone:offset(t) end

---@param t? number # Unix seconds (default: now)
---@return kube.Civil
function Zone:civil(t) end

---Broken-down civil time.
---@class kube.Civil
---@field year integer
---@field month integer # 1..12
---@field day integer # 1..31
---@field hour integer
---@field minute integer
---@field second integer
---@field weekday integer # 0 = Sunday
---@field offset integer # seconds east of UTC

---A zone argument: a kube.Zone, a zone name, or nil for UTC. Unknown names raise.
---@alias kube.ZoneArg kube.Zone|string|nil

---@return number # Unix seconds with millisecond resolution (a float)
function kube.time.now() end

---@return integer # Unix milliseconds
function kube.time.now_ms() end

---Parses RFC 3339 as metav1.Time does ("2024-05-14T09:21:37Z", "...37.5+02:00").
---@param s string
---@return number|nil seconds # an integer, or a float when s has a fraction
---@return string? err
function kube.time.parse(s) end

---Formats as metav1.Time ("2024-05-14T09:21:37Z", fractions dropped), or, with a zone, as RFC
---3339 in that zone ("2024-05-14T11:21:37+02:00"), as the CronJob scheduled-timestamp
---annotation is written.
---@param t number
---@param tz? kube.ZoneArg
---@return string
function kube.time.format(t, tz) end

---Formats as metav1.MicroTime ("2024-05-14T09:21:37.250000Z").
---@param t number
---@return string
function kube.time.format_micro(t) end

---Loads a zone ("Europe/Berlin", "UTC"; "" or "Local" is the process's local zone).
---@param name string
---@return kube.Zone|nil
---@return string? err # "unknown time zone X"
function kube.time.zone(name) end

---Go's time.ParseDuration ("1h30m", "1.5s", "-2m").
---@param s string
---@return number|nil seconds # an integer when whole
---@return string? err
function kube.time.parse_duration(s) end

---kubectl's short age format ("5m30s", "3h4m", "2d3h").
---@param seconds number
---@return string
function kube.time.human_duration(seconds) end

---@param t number
---@param tz? kube.ZoneArg
---@return kube.Civil
function kube.time.civil(t, tz) end

---The instant of a civil time in a zone (Go's time.Date normalisation for out-of-range fields
---and daylight-saving gaps).
---@param fields {year?: integer, month?: integer, day?: integer, hour?: integer, minute?: integer, second?: integer}
---@param tz? kube.ZoneArg
---@return integer seconds
function kube.time.from_civil(fields, tz) end

---@class kube.cron
kube.cron = {}

---A parsed cron schedule (robfig/cron v3 ParseStandard, as the CronJob controller reads it).
---@class kube.Cron
local Cron = {}

---The first activation strictly after t, evaluated in tz (a TZ=/CRON_TZ= prefix wins).
---@param t number
---@param tz? kube.ZoneArg
---@return integer|nil # nil when there is none within five years (e.g. "0 0 30 2 *")
function Cron:next(t, tz) end

---The controller's mostRecentScheduleTime for the interval (earliest, now].
---@param earliest number # lastScheduleTime or creationTimestamp (raised to now - startingDeadlineSeconds when that applies)
---@param now number
---@param tz? kube.ZoneArg
---@return {latest: integer|nil, missed: integer}|nil # missed > 100 is upstream's "too many"
---@return string? err # the schedule has no two activations at least a second apart (InvalidSchedule)
function Cron:most_recent(earliest, now, tz) end

---@return string|nil # the zone of a TZ=/CRON_TZ= prefix
function Cron:tz() end

---@param spec string # "*/15 * * * *", "@hourly", "CRON_TZ=Europe/Berlin 0 2 * * *"
---@return kube.Cron|nil
---@return string? err # upstream's message
function kube.cron.parse(spec) end

-- ---------------------------------------------------------------------------------------------
-- Nodes: eligibility, taints and tolerations, readiness, resources

---@class kube.nodes
kube.nodes = {}

---A pod-like argument: a Pod, a pod template ({metadata, spec}), a workload whose pod template
---is spec.template (DaemonSet, Job), or a PodSpec itself.
---@alias kube.PodLike kube.ObjectLike

---@param node kube.ObjectLike
---@return boolean # the Ready condition is True
function kube.nodes.is_ready(node) end

---@param node kube.ObjectLike
---@return boolean # spec.unschedulable (cordoned)
function kube.nodes.is_unschedulable(node) end

---GetRequiredNodeAffinity(pod).Match(node): spec.nodeSelector and the required node affinity
---(terms ORed; matchExpressions on labels and matchFields on metadata.name ANDed; an empty term
---matches nothing). A term that does not parse does not match; its error is returned too.
---@param node kube.ObjectLike
---@param pod kube.PodLike
---@return boolean
---@return string? parse_err
function kube.nodes.matches_affinity(node, pod) end

---Matches a v1.NodeSelector ({nodeSelectorTerms = {...}}) against a node.
---@param node kube.ObjectLike
---@param node_selector kube.ObjectLike
---@return boolean
---@return string? parse_err
function kube.nodes.matches_selector_terms(node, node_selector) end

---Toleration.ToleratesTaint: effect empty or equal, key empty or equal, and "Exists" or equal
---values ("Equal", the default operator). An empty key with "Exists" tolerates everything.
---@param toleration kube.ObjectLike
---@param taint kube.ObjectLike
---@return boolean
function kube.nodes.tolerates(toleration, taint) end

---Taint effects to consider: one name, a list, or nil for {"NoSchedule", "NoExecute"}.
---@alias kube.Effects "NoSchedule"|"PreferNoSchedule"|"NoExecute"|string[]|nil

---FindMatchingUntoleratedTaint: the first taint with one of the effects that no toleration
---tolerates.
---@param node kube.ObjectLike|kube.ObjectLike[] # a node (its spec.taints) or a list of taints
---@param tolerations kube.PodLike|kube.ObjectLike[]|nil # a pod-like (its tolerations) or a list
---@param effects? kube.Effects
---@return kube.Object|nil taint # read-only
---@return integer? index # 1-based, in the node's taints
function kube.nodes.untolerated_taint(node, tolerations, effects) end

---How long a pod may stay given the NoExecute taints (the taint eviction controller's rule).
---@param node kube.ObjectLike|kube.ObjectLike[]
---@param tolerations kube.PodLike|kube.ObjectLike[]|nil
---@return boolean tolerated # false: evict now
---@return integer? seconds # nil: forever; else the smallest tolerationSeconds used (0 when <= 0)
function kube.nodes.noexecute_toleration(node, tolerations) end

---NodeShouldRunDaemonPod: the DaemonSet placement predicate, with the tolerations the controller
---adds (not-ready/unreachable NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule,
---network-unavailable NoSchedule with hostNetwork). Readiness, cordoning, resources and
---PreferNoSchedule taints do not matter.
---@param node kube.ObjectLike
---@param ds kube.PodLike # the DaemonSet, its template, or the template's spec
---@return boolean should_run # a daemon pod should be created
---@return boolean should_continue_running # an existing daemon pod may stay
---@return "nodeName"|"affinity"|"taint"|nil reason # why should_run is false
---@return kube.Object? taint # the first untolerated NoSchedule/NoExecute taint (read-only)
function kube.nodes.should_run_daemon_pod(node, ds) end

---The tolerations the DaemonSet controller adds to its pods, as tables ready for
---kube.pods.from_template's `tolerations` option.
---@param host_network boolean|kube.PodLike|nil # a flag, or the DaemonSet (reads spec.hostNetwork)
---@return table[]
function kube.nodes.daemonset_tolerations(host_network) end

---Resource amounts in the scheduler's units: "cpu" in millicores, everything else (memory and
---ephemeral-storage in bytes, pods, hugepages-*, extended resources) in whole units rounded up.
---@alias kube.Resources table<string, integer>

---What the scheduler charges for a pod (resourcehelper.PodRequests): containers summed, raised to
---the largest init container (sidecars count towards both), plus spec.overhead; a request
---defaults to its limit.
---@param pod kube.PodLike
---@return kube.Resources|nil
---@return string? err # a bad quantity, naming the field
function kube.nodes.pod_requests(pod) end

---node.status.allocatable (capacity when absent).
---@param node kube.ObjectLike
---@return kube.Resources|nil
---@return string? err
function kube.nodes.allocatable(node) end

---One failed check of kube.nodes.fits_resources.
---@class kube.Insufficient
---@field resource string
---@field reason string # "Too many pods", "Insufficient cpu", ...
---@field requested integer
---@field used integer
---@field capacity integer

---The scheduler's fitsRequest: pods_on_node + 1 against allocatable pods, then (unless the
---request is all zero) cpu, memory, ephemeral-storage and extended resources against
---allocatable - used.
---@param node kube.ObjectLike|kube.Resources # a node or its allocatable amounts
---@param request kube.Resources|kube.PodLike # amounts or a pod
---@param used? kube.Resources # what the pods already on the node request
---@param pods_on_node? integer
---@return boolean fits
---@return kube.Insufficient[] insufficient
function kube.nodes.fits_resources(node, request, used, pods_on_node) end

---@class kube.quantity
kube.quantity = {}

---Parses a resource quantity exactly as resource.ParseQuantity ("100m", "1.5Gi", "2e3").
---@param q string|number
---@return integer|nil value # Value(): whole units rounded up away from zero
---@return integer|string milli_or_err # MilliValue() (thousandths, rounded up), or the error
function kube.quantity.parse(q) end

---@param a string|number
---@param b string|number
---@return integer|nil # -1, 0 or 1
---@return string? err
function kube.quantity.cmp(a, b) end

-- ---------------------------------------------------------------------------------------------
-- Pods

---@class kube.pods
kube.pods = {}

---Options of kube.pods.from_template.
---@class kube.PodTemplateOpts
---@field api_version? string # the owner's apiVersion when the owner object has none
---@field kind? string # the owner's kind when the owner object has none
---@field namespace? string # default: the owner's metadata.namespace
---@field generate_name? string # default: "<owner name>-"
---@field name? string # metadata.name instead of generateName
---@field labels? table<string, string> # set over the template's
---@field annotations? table<string, string> # set over the template's
---@field finalizers? string[] # appended unless present
---@field node_name? string # spec.nodeName
---@field pin_node? string # DaemonSet pinning: required node affinity = metadata.name In [pin_node]
---@field tolerations? table[] # added with AddOrUpdateTolerationInPodSpec semantics
---@field allow_no_labels? boolean # upstream refuses pods without labels

---GetPodFromTemplate: a Pod table with the template's labels, annotations and finalizers, a
---deep copy of its spec, and one controller ownerReference {apiVersion, kind, name, uid,
---controller = true, blockOwnerDeletion = true} to owner.
---@param template kube.ObjectLike # a v1.PodTemplateSpec ({metadata, spec})
---@param owner kube.ObjectLike # the controller object
---@param opts? kube.PodTemplateOpts
---@return table|nil pod # a plain table, ready for ctx:create
---@return string? err # e.g. "unable to create pods, no labels"
function kube.pods.from_template(template, owner, opts) end

---GetTargetNodeName: spec.nodeName, else the pinned metadata.name of the required node affinity.
---@param pod kube.ObjectLike
---@return string|nil
function kube.pods.target_node(pod) end

---@param pod kube.ObjectLike
---@return string|nil # status.phase
function kube.pods.phase(pod) end

---The pod's class: phase Succeeded, phase Failed, being deleted, else active.
---@param pod kube.ObjectLike
---@return "active"|"terminating"|"succeeded"|"failed"
function kube.pods.class(pod) end

---controller.IsPodActive: not Succeeded/Failed and no deletionTimestamp.
---@param pod kube.ObjectLike
---@return boolean
function kube.pods.is_active(pod) end

---deletionTimestamp set and not Succeeded/Failed.
---@param pod kube.ObjectLike
---@return boolean
function kube.pods.is_terminating(pod) end

---Phase Succeeded or Failed.
---@param pod kube.ObjectLike
---@return boolean
function kube.pods.is_terminal(pod) end

---deletionTimestamp set.
---@param pod kube.ObjectLike
---@return boolean
function kube.pods.is_deleted(pod) end

---The Ready condition is True.
---@param pod kube.ObjectLike
---@return boolean
function kube.pods.is_ready(pod) end

---podutil.IsPodAvailable: ready, and min_ready_seconds is 0 or the Ready condition's
---lastTransitionTime + min_ready_seconds is strictly before now.
---@param pod kube.ObjectLike
---@param min_ready_seconds? integer
---@param now? number # default: the clock
---@return boolean
function kube.pods.is_available(pod, min_ready_seconds, now) end

---@param pod kube.ObjectLike
---@return integer # the highest restartCount of the containers
function kube.pods.max_restarts(pod) end

---Terminated containers (containerStatuses, then initContainerStatuses).
---@param pod kube.ObjectLike
---@return {name: string, exit_code: integer, init: boolean}[]
function kube.pods.exit_codes(pod) end

---Same as kube.condition.
---@param pod kube.ObjectLike
---@param type string
---@return kube.ObjectLike|nil
function kube.pods.condition(pod, type) end

---Pods sorted into classes (the elements themselves, in input order).
---@class kube.PodClasses
---@field active kube.ObjectLike[]
---@field terminating kube.ObjectLike[]
---@field succeeded kube.ObjectLike[]
---@field failed kube.ObjectLike[]
---@field ready integer # active pods that are ready
---@field available integer # active pods that are available

---@param pods kube.ObjectLike[]|kube.Object|nil # a list, or an array proxy
---@param opts? {min_ready_seconds?: integer, now?: number}
---@return kube.PodClasses
function kube.pods.classify(pods, opts) end

---The controller.ActivePods order, pods to delete first first: unscheduled, then Pending <
---Unknown < Running, not ready, ready more recently, more restarts, newer. Stable. Returns a new
---list of the same elements.
---@param pods kube.ObjectLike[]|kube.Object|nil
---@return kube.ObjectLike[]
function kube.pods.rank(pods) end

---@param a kube.ObjectLike
---@param b kube.ObjectLike
---@return integer # -1 when a is deleted before b, 1 after, 0 when they rank the same
function kube.pods.compare(a, b) end

-- ---------------------------------------------------------------------------------------------
-- Revisions, batching, expectations

---A stable short hash of a value for revision labels (controller-revision-hash): FNV-1a 32 of its
---canonical JSON (sorted keys), plus the collision count when given, rendered in upstream's
---alphabet ("6d4f9c7b5"). Key order does not matter; proxies and tables hash alike.
---@param v any
---@param collision_count? integer # status.collisionCount
---@return string
function kube.hash(v, collision_count) end

---slowStartBatch: calls fn(1) ... fn(n) in batches of initial (1), 2, 4, 8, ... (the last one
---holding the rest). Every call of a batch is made; after a batch with a failure the rest is not
---attempted. A call fails when it returns false or a non-nil second value (`nil, err`); errors
---it raises propagate. fn may yield (API calls through ctx).
---@param n integer
---@param fn fun(i: integer): any, any
---@param initial? integer # first batch size (default 1)
---@return integer successes
---@return any err # the first failure's error (or "item N failed"), nil when none failed
---@return integer attempted # calls made; n - attempted were skipped
function kube.slow_start(n, fn, initial) end

---@class kube.expectations
kube.expectations = {}

---Creations and deletions a controller issued and has not yet seen in its cache, per controller
---key ("namespace/name"), as kube-controller-manager's ControllerExpectations.
---@class kube.Expectations
local Expectations = {}

---SetExpectations: replaces the record of key and stamps it. With a list of pod keys, the
---deletions are tracked per pod (each counted once when observed).
---@param key string
---@param adds integer
---@param dels integer|string[]
function Expectations:set(key, adds, dels) end

---@param key string
---@param n integer
function Expectations:expect_creations(key, n) end

---@param key string
---@param dels integer|string[]
function Expectations:expect_deletions(key, dels) end

---@param key string
---@param adds? integer
---@param dels? integer
function Expectations:raise(key, adds, dels) end

---LowerExpectations (a failed or skipped call).
---@param key string
---@param adds? integer
---@param dels? integer
function Expectations:lower(key, adds, dels) end

---@param key string
function Expectations:creation_observed(key) end

---@param key string
---@param pod_key? string # required for a record with tracked pod keys
function Expectations:deletion_observed(key, pod_key) end

---SatisfiedExpectations: no record, both counters <= 0, or the record is older than the TTL.
---@param key string
---@return boolean
function Expectations:satisfied(key) end

---Drops the record (the owner is gone).
---@param key string
function Expectations:delete(key) end

---@param key string
---@return integer|nil adds # nil when there is no record
---@return integer dels
---@return number age_seconds
---@return boolean expired
function Expectations:get(key) end

---@param key string
---@param pod_key string
---@return boolean
function Expectations:pending_deletion(key, pod_key) end

---@return integer # number of records
function Expectations:count() end

---Drops satisfied records; returns how many.
---@return integer
function Expectations:gc() end

---@param ttl_seconds? number # default 300 (upstream's ExpectationsTimeout)
---@return kube.Expectations
function kube.expectations.new(ttl_seconds) end

return kube
