# The ACL policy for people who run tapit tasks and consoles (create, run, list, show, logs,
# stop, delete). Apply it and make a token:
#
#   nomad acl policy apply -description "tapit operators" tapit-operator jobs/operator.policy.hcl
#   nomad acl token create -name alice -policy tapit-operator
#
# Replace "default" with the app's namespace (tapit.toml namespace, or NOMAD_NAMESPACE); a
# block per namespace when tasks run in several. Every capability here exists in Nomad 1.x and
# 2.x (acl/policy.go); on Nomad >= 2.0 "register-job", "deregister-job" and "purge-job" may
# replace "submit-job" (which also lets a token dispatch, revert and scale jobs).
namespace "default" {
  capabilities = [
    "list-jobs",       # list tasks (the tapit-* jobs teammates started)
    "read-job",        # show task, --wait, --follow, stop: the job, its allocations and evaluations
    "submit-job",      # create task, run (register); stop task (deregister); delete task (purge)
    "read-logs",       # show logs, --wait, --follow, and archiving a task's output when it ends
    "alloc-exec",      # run: the console's exec session
    "alloc-node-exec", # run on a driver without filesystem isolation (raw_exec)
  ]
}

# cpu=<vCPUs>: tapit reads the nodes' CPU attributes to turn vCPUs into MHz (without it a vCPU
# is 1000 MHz).
node {
  policy = "read"
}
