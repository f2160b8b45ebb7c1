"""What the TUI's events view says of each event stream event (tapit/translate/status.py)."""

from datetime import datetime, timezone

from tapit.translate.status import event_modified_at, event_summary

MODIFIED = 1_767_268_800_000_000_000  # 2026-01-01T12:00:00Z as UnixNano


def test_an_allocation_event_names_its_job_its_status_and_its_latest_task_event():
    event = {
        "Topic": "Allocation",
        "Type": "AllocationUpdated",
        "Key": "0b4f…",
        "Payload": {
            "Allocation": {
                "JobID": "tapit-1b2c3d4e",
                "Namespace": "ml",
                "ClientStatus": "running",
                "ModifyTime": MODIFIED,
                "TaskStates": {
                    "task": {
                        "Events": [
                            {"Type": "Received", "Time": 1, "DisplayMessage": "Task received by client"},
                            {"Type": "Started", "Time": 2, "DisplayMessage": "Task started by client"},
                        ]
                    }
                },
            }
        },
    }
    assert event_summary(event) == ("tapit-1b2c3d4e", "ml", "running: Started Task started by client")
    assert event_modified_at(event) == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def test_job_and_evaluation_events():
    job = {"Topic": "Job", "Type": "JobRegistered", "Key": "tapit-x", "Payload": {"Job": {"Status": "pending"}}}
    assert event_summary(job) == ("tapit-x", "", "pending")
    assert event_modified_at(job) is None  # a job's SubmitTime is its version's, not the event's
    evaluation = {
        "Topic": "Evaluation",
        "Type": "EvaluationUpdated",
        "Payload": {"Evaluation": {"JobID": "tapit-x", "Status": "complete", "TriggeredBy": "job-register"}},
    }
    assert event_summary(evaluation) == ("tapit-x", "", "complete (triggered by job-register)")
    assert event_modified_at(evaluation) is None
