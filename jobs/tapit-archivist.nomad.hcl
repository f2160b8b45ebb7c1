# The archivist as a Nomad service job: it keeps tapit's trail for the whole cluster (records in
# Nomad Variables, logs in the log store, usage, max_hours where the servers cannot enforce it).
#
#   nomad acl policy apply -namespace default -job tapit-archivist \
#     -description "tapit's archivist" tapit-archivist jobs/tapit-archivist.policy.hcl
#   nomad var put nomad/jobs/tapit-archivist aws_access_key_id=... aws_secret_access_key=...   # or an instance role
#   nomad job run -var image=registry.example.com/tapit:0.1.0 -var log_store=s3://team-logs/tapit \
#     jobs/tapit-archivist.nomad.hcl
#
# It reaches Nomad through the task API socket with its workload identity (the `identity` block's
# env = true puts its token in NOMAD_TOKEN: nomad/structs/workload_id.go WorkloadIdentity.Env; the
# socket is client/taskenv/env.go's NOMAD_UNIX_ADDR), and the policy above, attached to this job,
# is what that identity may do. Several instances (count
# above 1, or one per region) are safe: every write is check-and-set, so they never clobber each
# other, and a chunk of logs is created only once.

variable "image" {
  type        = string
  description = "The image built from this repository's Dockerfile"
}

variable "log_store" {
  type        = string
  description = "Where logs go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///shared/path"
}

variable "namespace" {
  type    = string
  default = "default"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "tapit-archivist" {
  type        = "service"
  namespace   = var.namespace
  datacenters = var.datacenters

  group "archivist" {
    count = 1

    restart {
      attempts = 10
      interval = "10m"
      delay    = "5s"
      mode     = "delay"
    }

    task "archivist" {
      driver = "docker"

      config {
        image = var.image
        args  = ["archivist"]
      }

      identity {
        env = true
      }

      env {
        NOMAD_ADDR      = "unix://${NOMAD_SECRETS_DIR}/api.sock"
        TAPIT_LOG_STORE = var.log_store
      }

      # Cloud credentials from the job's own variable (readable by its workload identity without
      # any policy), as each cloud's standard environment variables. With an instance role or
      # GKE/AKS workload identity, leave the variable empty: obstore finds those by itself.
      template {
        destination = "${NOMAD_SECRETS_DIR}/cloud.env"
        env         = true
        data        = <<-EOT
        {{- with nomadVar "nomad/jobs/tapit-archivist" -}}
        {{- range .Tuples }}{{ .K | toUpper }}={{ .V | toJSON }}
        {{ end -}}
        {{- end -}}
        EOT
      }

      resources {
        cpu    = 200
        memory = 256
      }

      kill_timeout = "20s"
    }
  }
}
