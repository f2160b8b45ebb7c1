# What tapit's archivist may do (acl/policy.go names every capability used here). Attach it to the
# archivist job's workload identity (see jobs/tapit-archivist.nomad.hcl), or give it to a token.
#
# Every namespace tapit runs tasks in: see the jobs and their allocations (read-job: also the Job
# and Allocation topics of the event stream and the allocations' stats), read the tasks' logs,
# stop a task past max_hours (deregister-job) and purge a console's job once its session is gone
# (purge-job). Nomad before 2.0 lacks these fine-grained job capabilities: grant "submit-job"
# instead of the last two there.
namespace "*" {
  capabilities = ["list-jobs", "read-job", "read-logs", "deregister-job", "purge-job"]

  # The trail: one record per task under tapit/task/, and the newest-first list under tapit/recent/.
  variables {
    path "tapit/*" {
      capabilities = ["list", "read", "write"]
    }
  }
}
