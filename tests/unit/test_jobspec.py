"""The Nomad job JSON for a task, checked against Nomad's api structs (api/jobs.go, api/tasks.go)."""

from tapit.config import AppConfig
from tapit.translate.jobspec import build_job, choose_driver
from tapit.params import build_spec

NS = 1_000_000_000


def job_for(words=None, config=None, driver="raw_exec", work_dir=None):
    config = config or AppConfig()
    spec = build_spec("echo 'hi there'", words or {}, config, "alice@host")
    return build_job(
        task_id="abcd1234",
        spec=spec,
        config=config,
        driver=driver,
        namespace="default",
        created_at="2026-11-28T00:00:00.000Z",
        work_dir=work_dir,
    )


def test_one_batch_group_and_task_run_exactly_once():
    job = job_for()
    assert job["ID"] == "tapit-abcd1234"
    assert job["Name"] == "tapit-abcd1234 by alice@host: echo 'hi there'"
    assert job["Type"] == "batch"
    (group,) = job["TaskGroups"]
    assert group["Count"] == 1
    assert group["RestartPolicy"]["Attempts"] == 0 and group["RestartPolicy"]["Mode"] == "fail"
    assert group["RestartPolicy"]["Interval"] >= 5 * NS  # Nomad refuses a shorter interval
    assert group["ReschedulePolicy"] == {"Attempts": 0, "Unlimited": False}
    assert "MaxRunDuration" not in group


def test_command_runs_under_sh_c():
    task = job_for()["TaskGroups"][0]["Tasks"][0]
    assert task["Config"] == {"command": "/bin/sh", "args": ["-c", "echo 'hi there'"]}


def test_a_host_task_starts_in_its_work_dir():
    task = job_for(work_dir="/home/alice/shop")["TaskGroups"][0]["Tasks"][0]
    assert task["Config"]["work_dir"] == "/home/alice/shop"
    assert "work_dir" not in job_for()["TaskGroups"][0]["Tasks"][0]["Config"]


def test_resources_in_nomad_units():
    config = AppConfig(mhz_per_vcpu=2400, kill_timeout_s=7)
    group = job_for({"memory": "1.5", "cpu": "0.5", "ephemeral_storage_gb": "2", "max_hours": "0.5"}, config)[
        "TaskGroups"
    ][0]
    task = group["Tasks"][0]
    assert task["Resources"] == {"CPU": 1200, "MemoryMB": 1536}
    assert group["EphemeralDisk"] == {"SizeMB": 2048}
    assert task["KillTimeout"] == 7 * NS
    assert group["MaxRunDuration"] == 1800 * NS


def test_meta_tells_an_admin_who_ran_what():
    meta = job_for()["Meta"]
    assert meta["tapit_task_id"] == "abcd1234"
    assert meta["tapit_initiated_by"] == "alice@host"
    assert meta["tapit_command"] == "echo 'hi there'"
    assert all(isinstance(v, str) for v in meta.values())  # Nomad's Meta is map[string]string


def test_docker_driver_runs_the_app_image_at_a_tag():
    config = AppConfig(image_repository="reg/app", docker_tag="stable")
    task = job_for({"docker_tag": "v9"}, config, driver="docker")["TaskGroups"][0]["Tasks"][0]
    assert task["Driver"] == "docker"
    assert task["Config"]["image"] == "reg/app:v9"
    task = job_for({}, config, driver="docker")["TaskGroups"][0]["Tasks"][0]
    assert task["Config"]["image"] == "reg/app:stable"


def test_driver_choice():
    config = AppConfig()
    plain = build_spec("x", {}, config, "a")
    imaged = build_spec("x", {"image": "ubuntu:24.04"}, config, "a")
    assert choose_driver(plain, config, embedded=True) == "raw_exec"
    assert choose_driver(imaged, config, embedded=True) == "docker"
    assert choose_driver(plain, config, embedded=False) == "docker"
    assert choose_driver(plain, AppConfig(driver="exec"), embedded=True) == "exec"


def test_docker_tasks_run_under_init_and_keep_the_images_entrypoint_by_default():
    config = AppConfig(image_repository="reg/app")
    task = job_for({}, config, driver="docker")["TaskGroups"][0]["Tasks"][0]
    assert task["Config"] == {
        "image": "reg/app:latest",
        "init": True,
        "command": "/bin/sh",
        "args": ["-c", "echo 'hi there'"],
    }


def test_docker_entrypoint_replace_runs_the_command_instead_of_the_images_entrypoint():
    config = AppConfig(image_repository="reg/app", docker_entrypoint="replace")
    task = job_for({}, config, driver="docker")["TaskGroups"][0]["Tasks"][0]
    assert task["Config"] == {
        "image": "reg/app:latest",
        "init": True,
        "entrypoint": ["/bin/sh"],
        "args": ["-c", "echo 'hi there'"],
    }


def test_log_storage_fits_small_disks_as_nomad_requires():
    # nomad/structs/structs.go LogConfig.Validate: the disk must be larger than files x size.
    for gb in ("0.01", "0.05", "0.1", "0.15", "0.19", "0.2", "1", "100"):
        group = job_for({"ephemeral_storage_gb": gb})["TaskGroups"][0]
        logs = group["Tasks"][0]["LogConfig"]
        assert logs["MaxFiles"] >= 1 and logs["MaxFileSizeMB"] >= 1
        assert group["EphemeralDisk"]["SizeMB"] > logs["MaxFiles"] * logs["MaxFileSizeMB"], gb
    assert job_for({"ephemeral_storage_gb": "0.05"})["TaskGroups"][0]["Tasks"][0]["LogConfig"] == {
        "MaxFiles": 10,
        "MaxFileSizeMB": 2,
    }
    assert job_for({"ephemeral_storage_gb": "0.4"})["TaskGroups"][0]["Tasks"][0]["LogConfig"] == {
        "MaxFiles": 10,
        "MaxFileSizeMB": 10,
    }
    # Beyond 400 MB the logs keep a quarter of the disk: 250 MB of tapit's default 1 GB, more than a
    # 200 MB --wait needs to stay byte-exact however far behind the follower falls.
    assert job_for()["TaskGroups"][0]["Tasks"][0]["LogConfig"] == {"MaxFiles": 10, "MaxFileSizeMB": 25}


def test_the_job_name_says_who_ran_what_on_one_line_of_a_ui_row():
    config = AppConfig()
    spec = build_spec("line one\nline two " + "x" * 300, {}, config, "alice@host")
    job = build_job(
        task_id="abcd1234", spec=spec, config=config, driver="raw_exec", namespace="default", created_at="now"
    )
    assert job["Name"].startswith("tapit-abcd1234 by alice@host: line one line two xxx")
    assert len(job["Name"]) == 120 and job["Name"].endswith("…")
    assert job["Meta"]["tapit_command"] == spec.command  # whole, for `nomad job inspect` and the UI's Meta
