/* controller/testrun.h - `kubelua test`: a policy run against the fake cluster, step by step.
 *
 * A spec is a YAML file:
 *
 *   policy: ../../policies/job.lua        # relative to the spec
 *   now: "2026-01-01T00:00:00Z"            # the fake clock's start (optional)
 *   budget_ms: 200                         # Lua time per reconcile (optional, default 1000)
 *   budget_instructions: 200000            # Lua VM instructions per reconcile (optional;
 *                                          # a kill point that does not depend on the machine)
 *   memory_mb: 16                          # Lua memory ceiling (optional, default 64)
 *   resources:                             # custom resources to declare (optional)
 *     - {resource: example.com/v1/widgets, kind: Widget, namespaced: true}
 *   objects: [ ... ]                       # the cluster before the first step
 *   steps:
 *     - run: {max: 1000}                   # reconcile until nothing is left to do
 *     - advance: 10s                       # move the clock (s, m, h), then run
 *     - put: [ ... ]                       # objects written by someone else, then run
 *     - status:                            # merge a status into matching objects, then run
 *         resource: v1/pods
 *         selector: {job-name: pi}         # or name: ..., namespace: ...
 *         status: {phase: Succeeded}
 *     - delete: [{resource: v1/pods, namespace: default, name: x}]
 *     - fail: [{op: create, resource: v1/pods, name: x, code: 500, reason: InternalError,
 *               message: "...", times: 1}]  # later matching writes fail (times -1: all);
 *                                           # "fail: []" removes every rule
 *     - budget: {ms: 50, instructions: 100000}  # the next reconciles' budgets (0 or absent:
 *                                           # the default)
 *     - expect:
 *         writes:                          # writes since the previous expect
 *           - {op: create, resource: v1/pods, count: 2}
 *           - {op: update, resource: batch/v1/jobs, subresource: status,
 *              body: {status: {active: 2}}}
 *         objects: [ ... ]                 # must exist and contain these fields
 *         absent: [{resource: v1/pods, namespace: default, name: x}]
 *         count: {v1/pods: 2}
 *         events: [{reason: SuccessfulCreate, type: Normal, count: 2}]
 *
 * Expected objects and bodies match as subsets: every field given must be present with an
 * equal value (lists element by element, same length). A write entry without `count` needs at
 * least one matching write. Write entries may also name: name, namespace, subresource,
 * patch_type, code (the answer's HTTP status) and propagation (a delete's policy, or "none").
 */
#ifndef KL_CONTROLLER_TESTRUN_H
#define KL_CONTROLLER_TESTRUN_H

#include <stdio.h>

#include "kubelua/error.h"

typedef struct kl_test_result {
    int steps;
    int failures;
} kl_test_result_t;

/* Runs one spec file; writes a report to out. Returns 0 when every expectation held,
 * KL_EINVAL when one failed, or another code for a spec that could not run (err says why). */
int kl_test_run_file(const char *path, FILE *out, kl_test_result_t *res, kl_errinfo_t *err);

#endif
