"""A one-group, one-task raw_exec batch job in the shape of api/jobs.go's Job (api/tasks.go TaskGroup
and Task), run exactly once (no restart, no reschedule).

Written by hand from Nomad's api structs, not by tapit's own job builder, so that tests of the agent and
of the client do not share tapit's idea of a job.
"""


def batch_job(job_id, command, driver="raw_exec", group=None, task=None):
    return {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Meta": {"managed-by": "tapit-tests"},
        "TaskGroups": [
            {
                "Name": "main",
                "Count": 1,
                "RestartPolicy": {"Attempts": 0, "Mode": "fail", "Interval": 86400000000000, "Delay": 15000000000},
                "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
                **(group or {}),
                "Tasks": [
                    {
                        "Name": "main",
                        "Driver": driver,
                        "Config": {"command": "/bin/sh", "args": ["-c", command]},
                        "Resources": {"CPU": 500, "MemoryMB": 256},
                        "KillTimeout": 1000000000,
                        **(task or {}),
                    }
                ],
            }
        ],
    }
