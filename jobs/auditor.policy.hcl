# The ACL policy for an auditor: sees every tapit task, its record and its logs, and changes
# nothing (list tasks, show task, show logs, the TUI). Apply it and make a token:
#
#   nomad acl policy apply -description "tapit auditors" tapit-auditor jobs/auditor.policy.hcl
#   nomad acl token create -name audit -policy tapit-auditor
#
# Replace "default" with the app's namespace (or "*" for every namespace); every capability
# here exists in Nomad 1.x and 2.x (acl/policy.go).
namespace "default" {
  capabilities = [
    "list-jobs", # list tasks
    "read-job",  # show task, the TUI's live list (the event stream's Job and Allocation topics)
    "read-logs", # show logs, --follow
  ]
}

node {
  policy = "read"
}
