"""The environment Nomad's taskenv builder gives a task (client/taskenv/env.go)."""

from __future__ import annotations


from .node import DATACENTER

# command/agent/host/host.go DefaultEnvDenyList, the client's default `env.denylist`: what a host
# task (raw_exec, exec) never inherits of the agent's environment (task_dir_hook.go SetHostEnvvars).
ENV_DENYLIST = {
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "CONSUL_LICENSE_PATH",
    "NOMAD_LICENSE_PATH",
    "VAULT_LICENSE_PATH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_METADATA_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
}
# ...and, as an operator would add to that list, tapit's own settings (TAPIT_HOME says where the
# agent's token is): a task gets Nomad's task environment, nothing of tapit's.
ENV_DENY_PREFIX = "TAPIT_"


def inherited(name: str) -> bool:
    return name not in ENV_DENYLIST and not name.startswith(ENV_DENY_PREFIX)


def clean_env_var(name: str) -> str:
    """helper.CleanEnvVar: characters outside [A-Za-z0-9_.] become '_'."""
    return "".join(
        c if c in "_." or c.isascii() and (c.isalpha() or (i and c.isdigit())) else "_" for i, c in enumerate(name)
    )


def task_env(alloc: dict, task: dict, group: dict, base: dict[str, str], dirs: tuple[str, str, str]) -> dict[str, str]:
    """A host process inherits the agent's environment (`base`) and sees host paths; a container
    sees only Nomad's variables, with the paths its binds mount (/alloc, /local, /secrets): the
    driver says which (Driver.base_env, Driver.task_dirs)."""
    job = alloc["Job"]
    res = task["Resources"]
    env = dict(base)
    env.update(
        {
            "NOMAD_ALLOC_DIR": dirs[0],
            "NOMAD_TASK_DIR": dirs[1],
            "NOMAD_SECRETS_DIR": dirs[2],
            "NOMAD_MEMORY_LIMIT": str(res["MemoryMB"]),
            "NOMAD_CPU_LIMIT": str(res["CPU"]),
            "NOMAD_ALLOC_ID": alloc["ID"],
            "NOMAD_SHORT_ALLOC_ID": alloc["ID"][:8],
            "NOMAD_ALLOC_NAME": alloc["Name"],
            "NOMAD_GROUP_NAME": group["Name"],
            "NOMAD_ALLOC_INDEX": alloc["Name"].rsplit("[", 1)[1].rstrip("]"),
            "NOMAD_TASK_NAME": task["Name"],
            "NOMAD_JOB_ID": job["ID"],
            "NOMAD_JOB_NAME": job["Name"],
            "NOMAD_DC": DATACENTER,
            "NOMAD_NAMESPACE": job["Namespace"],
            "NOMAD_REGION": job["Region"],
        }
    )
    if res["MemoryMaxMB"]:
        env["NOMAD_MEMORY_MAX_LIMIT"] = str(res["MemoryMaxMB"])
    if res["Cores"]:
        env["NOMAD_CPU_CORES"] = ",".join(str(i) for i in range(res["Cores"]))
    if job["ParentID"]:
        env["NOMAD_JOB_PARENT_ID"] = job["ParentID"]
    # Job meta, overridden by group meta, overridden by task meta (Job.CombinedTaskMeta).
    meta = {**(job["Meta"] or {}), **(group["Meta"] or {}), **(task["Meta"] or {})}
    for key, value in meta.items():
        env[clean_env_var(f"NOMAD_META_{key.upper()}")] = value
        env[clean_env_var(f"NOMAD_META_{key}")] = value
    env.update(task["Env"] or {})
    return env
