# The batch job tapit registers for each task, as HCL for cluster admins.
# tapit sends the same job as JSON (tapit/translate/jobspec.py); a test checks that
# the two agree. To run a task by hand with Nomad's own CLI:
#
#   nomad job run -var task_id=1a2b3c4d -var 'command=rake db:migrate' \
#     -var image=registry.example.com/app:latest jobs/tapit-task.nomad.hcl

variable "task_id" {
  type        = string
  description = "tapit's task id; the job id is tapit-<task_id>"
}

variable "command" {
  type        = string
  description = "Run as /bin/sh -c '<command>'"
}

variable "image" {
  type        = string
  description = "The app image (or any image) the task runs in"
}

variable "driver" {
  type    = string
  default = "docker"
}

variable "initiated_by" {
  type    = string
  default = "admin"
}

variable "created_at" {
  type    = string
  default = ""
}

variable "tapit_version" {
  type    = string
  default = "0.1.0"
}

variable "namespace" {
  type    = string
  default = "default"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "memory_mb" {
  description = "memory=<GB> x 1024"
  type        = number
  default     = 512
}

variable "cpu_mhz" {
  description = "cpu=<vCPUs> x mhz_per_vcpu (1000 unless configured)"
  type        = number
  default     = 250
}

variable "disk_mb" {
  description = "ephemeral_storage_gb=<GB> x 1024"
  type        = number
  default     = 1024
}

variable "log_file_size_mb" {
  description = "a tenth of a quarter of disk_mb, at least Nomad's default of 10 (on a disk over 400 MB)"
  type        = number
  default     = 25
}

variable "kill_timeout" {
  type    = string
  default = "10s"
}

job "tapit-task" {
  id          = "tapit-${var.task_id}"
  # Who ran what, as Nomad's UI lists jobs and `nomad job status <id>` prints them (tapit
  # clips a name longer than 120 characters and joins its lines).
  name        = "tapit-${var.task_id} by ${var.initiated_by}: ${var.command}"
  type        = "batch"
  namespace   = var.namespace
  datacenters = var.datacenters
  priority    = 50

  meta {
    tapit_task_id      = var.task_id
    tapit_initiated_by = var.initiated_by
    tapit_command      = var.command
    tapit_kind         = "task"
    tapit_version      = var.tapit_version
    tapit_created_at   = var.created_at
  }

  group "task" {
    count = 1

    # A one-off task runs exactly once: no restart on its node...
    restart {
      attempts = 0
      mode     = "fail"
      interval = "24h"
      delay    = "15s"
    }

    # ...and no reschedule elsewhere.
    reschedule {
      attempts  = 0
      unlimited = false
    }

    ephemeral_disk {
      size = var.disk_mb
    }

    # With max_hours=<h>, tapit adds (Nomad >= 2.0.3):
    # max_run_duration = "<h>h"

    task "task" {
      driver = var.driver

      # init: tini is PID 1, so a stop's SIGTERM reaches the command (a `sh -c` as PID 1
      # ignores it). With docker_entrypoint = "replace" in tapit.toml, tapit sends
      # entrypoint = ["/bin/sh"] and args = ["-c", var.command] instead of command and args,
      # replacing the image's ENTRYPOINT; by default the image's entrypoint runs the command.
      config {
        image   = var.image
        init    = true
        command = "/bin/sh"
        args    = ["-c", var.command]
      }

      resources {
        cpu    = var.cpu_mhz
        memory = var.memory_mb
      }

      kill_signal  = "SIGTERM"
      kill_timeout = var.kill_timeout

      # A quarter of the disk, and at least Nomad's defaults (10 files of 10 MB), so that a
      # follower behind a fast writer loses nothing to rotation. On a disk under 200 MB tapit
      # gives the logs half of it instead (up to 10 files of at least 1 MB): Nomad refuses a
      # disk not larger than the logs.
      logs {
        max_files     = 10
        max_file_size = var.log_file_size_mb
      }
    }
  }
}
