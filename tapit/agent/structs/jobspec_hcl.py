"""An HCL2 jobspec read into an api.Job, as jobspec2.ParseWithConfig does (jobspec2/parse.go,
types.config.go, parse_job.go normalizeJob), with python-hcl2 as the parser.

Blocks map to api fields by the `hcl:"..."` tags of api/jobs.go, tasks.go, resources.go and
services.go. `var.NAME` references are evaluated from the `variable` blocks' defaults and the
request's variables-file content; any other reference is kept as `${...}` text, as
jobConfig.EvalContext's UndefinedVariable does for runtime interpolations (`${NOMAD_SECRETS_DIR}`).
A block this reader does not know is refused by name rather than dropped.
"""

from __future__ import annotations

import re
from typing import Any

import hcl2

from . import api
from .funcs import parse_duration_ns

PATH = "input.hcl"  # command/agent/job_endpoint.go JobsParseRequest's ParseConfig.Path


class ParseError(Exception):
    """An hcl.Diagnostics error: "<subject>: <summary>; <detail>" (hcl/diagnostic.go Error), its
    subject the file, and where the parser stopped the range "<file>:<line>,<column>-<end column>"
    (hcl/pos.go Range.String) of the one character it could not take."""

    def __init__(self, summary: str, detail: str, at: tuple[int, int] | None = None, context: str = ""):
        subject = f"{PATH}:{at[0]},{at[1]}-{at[1] + 1}" if at else PATH
        super().__init__(f"{context}{subject}: {summary}; {detail}")


S, N, B, D, SS, SMAP, ANY = "string", "int", "bool", "duration", "[]string", "map[string]string", "any"


class Block:
    """A nested block: its api struct's fields by hcl name, and whether it repeats / is labelled."""

    def __init__(
        self,
        fields: dict[str, tuple[str, Any]],
        many: bool = False,
        label: str | None = None,
        go=None,
        zeros: dict[str, Any] | None = None,
    ):
        self.fields, self.many, self.label = fields, many, label
        # The api struct whose every field Go encodes (nil pointers as null); None: only those set.
        self.go_fields = tuple(go.fields) if go is not None and go.fields else ()
        # Its fields of a value type rather than a pointer: unset, Go encodes their zero value.
        self.zeros = zeros or {}


def _go(struct_name: str, *path: str):
    """A struct in api.py's register-request types, found by its Go name."""
    found: dict[str, Any] = {}

    def walk(t, depth=0):
        if depth > 6 or not hasattr(t, "name"):
            return
        if getattr(t, "name", "") == struct_name:
            found["t"] = t
        for child in (getattr(t, "fields", None) or {}).values():
            walk(child, depth + 1)
        if hasattr(t, "elem"):
            walk(t.elem, depth + 1)

    walk(api.REGISTER_REQUEST)
    return found.get("t")


_TARGETS = {"LTarget": "", "RTarget": "", "Operand": ""}  # api.Constraint's and api.Affinity's strings
_CONSTRAINT = Block(
    {"attribute": ("LTarget", S), "value": ("RTarget", S), "operator": ("Operand", S)},
    many=True,
    go=_go("api.Constraint"),
    zeros=_TARGETS,
)
# api.Affinity and api.Spread (api/tasks.go): Weight a *int8, nil until canonicalized (50).
_AFFINITY = Block(
    {"attribute": ("LTarget", S), "value": ("RTarget", S), "operator": ("Operand", S), "weight": ("Weight", N)},
    many=True,
    go=_go("api.Affinity"),
    zeros=_TARGETS,
)
_SPREAD_TARGET = Block({"percent": ("Percent", N)}, many=True, label="Value", zeros={"Value": "", "Percent": 0})
_SPREAD = Block(
    {"attribute": ("Attribute", S), "weight": ("Weight", N), "target": ("SpreadTarget", _SPREAD_TARGET)},
    many=True,
    go=_go("api.Spread"),
    zeros={"Attribute": ""},
)
_RESTART = Block(
    {"interval": ("Interval", D), "attempts": ("Attempts", N), "delay": ("Delay", D), "mode": ("Mode", S)}
    | {"render_templates": ("RenderTemplates", B)},
    go=_go("api.RestartPolicy"),
)
_RESCHEDULE = Block(
    {"attempts": ("Attempts", N), "interval": ("Interval", D), "delay": ("Delay", D)}
    | {"delay_function": ("DelayFunction", S), "max_delay": ("MaxDelay", D), "unlimited": ("Unlimited", B)},
    go=_go("api.ReschedulePolicy"),
)
_UPDATE = Block(
    {"stagger": ("Stagger", D), "max_parallel": ("MaxParallel", N), "health_check": ("HealthCheck", S)}
    | {"min_healthy_time": ("MinHealthyTime", D), "healthy_deadline": ("HealthyDeadline", D)}
    | {"progress_deadline": ("ProgressDeadline", D), "canary": ("Canary", N), "auto_revert": ("AutoRevert", B)}
    | {"auto_promote": ("AutoPromote", B)},
    go=_go("api.UpdateStrategy"),
)
_MIGRATE = Block(
    {"max_parallel": ("MaxParallel", N), "health_check": ("HealthCheck", S)}
    | {"min_healthy_time": ("MinHealthyTime", D), "healthy_deadline": ("HealthyDeadline", D)},
    go=_go("api.MigrateStrategy"),
)
_PORT = Block(
    {"static": ("Value", N), "to": ("To", N), "host_network": ("HostNetwork", S)}
    | {"ignore_collision": ("IgnoreCollision", B)},
    many=True,
    label="Label",
    zeros={"Label": "", "Value": 0, "To": 0, "HostNetwork": "", "IgnoreCollision": False},  # api.Port
)
_NETWORK = Block(
    {"mode": ("Mode", S), "hostname": ("Hostname", S), "mbits": ("MBits", N), "port": ("DynamicPorts", _PORT)},
    many=True,
)
_SERVICE = Block(
    {"name": ("Name", S), "tags": ("Tags", SS), "port": ("PortLabel", S), "provider": ("Provider", S)}
    | {"task": ("TaskName", S), "address_mode": ("AddressMode", S), "meta": ("Meta", SMAP)},
    many=True,
)
_RESOURCES = Block(
    {"cpu": ("CPU", N), "cores": ("Cores", N), "memory": ("MemoryMB", N), "memory_max": ("MemoryMaxMB", N)}
    | {"disk": ("DiskMB", N), "secrets": ("SecretsMB", N), "iops": ("IOPS", N)},
    go=_go("api.Resources"),
)
_TEMPLATE = Block(
    {"source": ("SourcePath", S), "destination": ("DestPath", S), "data": ("EmbeddedTmpl", S)}
    | {"change_mode": ("ChangeMode", S), "change_signal": ("ChangeSignal", S), "once": ("Once", B)}
    | {"splay": ("Splay", D), "perms": ("Perms", S), "uid": ("Uid", N), "gid": ("Gid", N), "env": ("Envvars", B)}
    | {"left_delimiter": ("LeftDelim", S), "right_delimiter": ("RightDelim", S)}
    | {"error_on_missing_key": ("ErrMissingKey", B), "vault_grace": ("VaultGrace", D)},
    many=True,
)
_ARTIFACT = Block(
    {"source": ("GetterSource", S), "options": ("GetterOptions", SMAP), "headers": ("GetterHeaders", SMAP)}
    | {"mode": ("GetterMode", S), "insecure": ("GetterInsecure", B), "destination": ("RelativeDest", S)}
    | {"chown": ("Chown", B)},
    many=True,
)
_IDENTITY = Block(
    {"name": ("Name", S), "aud": ("Audience", SS), "change_mode": ("ChangeMode", S)}
    | {"change_signal": ("ChangeSignal", S), "env": ("Env", B), "file": ("File", B), "filepath": ("Filepath", S)}
    | {"service_name": ("ServiceName", S), "ttl": ("TTL", D)},
    many=True,
)
_TASK = Block(
    {
        "driver": ("Driver", S),
        "user": ("User", S),
        "config": ("Config", ANY),
        "constraint": ("Constraints", _CONSTRAINT),
        "affinity": ("Affinities", _AFFINITY),
    }
    | {"env": ("Env", SMAP), "service": ("Services", _SERVICE), "resources": ("Resources", _RESOURCES)}
    | {"restart": ("RestartPolicy", _RESTART), "meta": ("Meta", SMAP), "kill_timeout": ("KillTimeout", D)}
    | {
        "logs": (
            "LogConfig",
            Block(
                {"max_files": ("MaxFiles", N), "max_file_size": ("MaxFileSizeMB", N)}
                | {"enabled": ("Enabled", B), "disabled": ("Disabled", B)},
                go=_go("api.LogConfig"),
            ),
        )
    }
    | {"artifact": ("Artifacts", _ARTIFACT), "template": ("Templates", _TEMPLATE), "leader": ("Leader", B)}
    | {
        "lifecycle": (
            "Lifecycle",
            Block(
                {"hook": ("Hook", S), "sidecar": ("Sidecar", B)},
                go=_go("api.TaskLifecycle"),
                zeros={"Hook": "", "Sidecar": False},
            ),
        )
    }
    | {
        "dispatch_payload": (
            "DispatchPayload",
            Block({"file": ("File", S)}, go=_go("api.DispatchPayloadConfig"), zeros={"File": ""}),
        )
    }
    | {"shutdown_delay": ("ShutdownDelay", D), "kill_signal": ("KillSignal", S), "kind": ("Kind", S)}
    | {"identity": ("Identities", _IDENTITY)},
    many=True,
    label="Name",
    go=_go("api.Task"),
    zeros={"Name": "", "Driver": "", "User": "", "Leader": False, "ShutdownDelay": 0, "KillSignal": "", "Kind": ""},
)
_GROUP = Block(
    {"count": ("Count", N), "constraint": ("Constraints", _CONSTRAINT), "task": ("Tasks", _TASK)}
    | {"affinity": ("Affinities", _AFFINITY), "spread": ("Spreads", _SPREAD)}
    | {"restart": ("RestartPolicy", _RESTART), "reschedule": ("ReschedulePolicy", _RESCHEDULE)}
    | {
        "ephemeral_disk": (
            "EphemeralDisk",
            Block(
                {"sticky": ("Sticky", B), "migrate": ("Migrate", B)} | {"size": ("SizeMB", N)},
                go=_go("api.EphemeralDisk"),
            ),
        )
    }
    | {"update": ("Update", _UPDATE), "migrate": ("Migrate", _MIGRATE), "network": ("Networks", _NETWORK)}
    | {"meta": ("Meta", SMAP), "service": ("Services", _SERVICE), "shutdown_delay": ("ShutdownDelay", D)}
    | {"max_run_duration": ("MaxRunDuration", D), "stop_after_client_disconnect": ("StopAfterClientDisconnect", D)}
    | {"max_client_disconnect": ("MaxClientDisconnect", D)}
    | {"prevent_reschedule_on_lost": ("PreventRescheduleOnLost", B)},
    many=True,
    label="Name",
    go=_go("api.TaskGroup"),
)
_JOB = Block(
    {"region": ("Region", S), "namespace": ("Namespace", S), "id": ("ID", S), "name": ("Name", S)}
    | {"type": ("Type", S), "priority": ("Priority", N), "all_at_once": ("AllAtOnce", B)}
    | {"datacenters": ("Datacenters", SS), "node_pool": ("NodePool", S), "constraint": ("Constraints", _CONSTRAINT)}
    | {"affinity": ("Affinities", _AFFINITY), "spread": ("Spreads", _SPREAD)}
    | {"group": ("TaskGroups", _GROUP), "update": ("Update", _UPDATE), "migrate": ("Migrate", _MIGRATE)}
    | {
        "periodic": (
            "Periodic",
            Block(
                {"enabled": ("Enabled", B), "cron": ("Spec", S), "crons": ("Specs", SS)}
                | {"prohibit_overlap": ("ProhibitOverlap", B), "time_zone": ("TimeZone", S)},
                go=_go("api.PeriodicConfig"),
            ),
        )
    }
    | {
        "parameterized": (
            "ParameterizedJob",
            Block(
                {"payload": ("Payload", S), "meta_required": ("MetaRequired", SS)}
                | {"meta_optional": ("MetaOptional", SS)},
                go=_go("api.ParameterizedJobConfig"),
                zeros={"Payload": ""},
            ),
        )
    }
    | {"reschedule": ("Reschedule", _RESCHEDULE), "meta": ("Meta", SMAP)}
    | {
        "ui": (
            "UI",
            Block(
                {
                    "description": ("Description", S),
                    "link": (
                        "Links",
                        Block({"label": ("Label", S), "url": ("URL", S)}, many=True, zeros={"Label": "", "URL": ""}),
                    ),
                },
                zeros={"Description": "", "Links": None},  # api.JobUIConfig
            ),
        )
    },
    go=_go("api.Job"),
)
# Blocks jobspec2 reads into the api.Job that this reader does not: refused by name.
NOT_READ = ("multiregion", "vault", "consul", "volume", "volume_mount", "scaling", "secret") + (
    "dynamic",
    "task",
    "locals",
    "csi_plugin",
    "device",
    "numa",
    "disconnect",
    "action",
    "schedule",
    "check",
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_INTERP = re.compile(r"(\$\$\{)|\$\{\s*([^}]*?)\s*\}")
_VAR = re.compile(r"var\.([A-Za-z_][\w-]*)")


class _Reader:
    def __init__(self, variables: dict[str, Any]):
        self.vars = variables

    def expr(self, text: str) -> Any:
        """A bare expression: var.NAME, else kept as text (jobConfig.EvalContext UndefinedVariable)."""
        m = _VAR.fullmatch(text)
        if m:
            return self.vars[m.group(1)]
        if re.fullmatch(r"[A-Za-z_][\w.-]*", text) and not text.startswith(("var.", "local.")):
            return "${" + text + "}"
        raise ParseError("Unsupported expression", f"The agent's parser reads only var.NAME references, not {text!r}.")

    def template(self, text: str) -> str:
        def sub(m: re.Match) -> str:
            if m.group(1):
                return "$${"
            value = self.expr(m.group(2))
            return value if isinstance(value, str) else _to_string(value)

        return _INTERP.sub(sub, text).replace("$${", "${")

    def value(self, raw: Any) -> Any:
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if isinstance(raw, dict):
            return {_unquote_key(k): self.value(v) for k, v in raw.items() if not k.startswith("__")}
        if not isinstance(raw, str):
            return raw
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            inner = raw[1:-1]
            heredoc = re.fullmatch(r"<<(-?)(\w+)\n(.*?)\n?[ \t]*\2", inner, re.S)
            if heredoc:
                body = heredoc.group(3) + "\n"
                if heredoc.group(1):  # <<- : the lines' common leading spaces removed
                    lines = body.split("\n")
                    indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
                    body = "\n".join(ln[indent:] for ln in lines)
                return self.template(body)
            return self.template(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), inner))
        if raw.startswith("${") and raw.endswith("}"):
            return self.expr(raw[2:-1].strip())
        return raw

    def block(self, spec: Block, body: dict, where: str) -> dict:
        out: dict[str, Any] = dict.fromkeys(spec.go_fields) | spec.zeros
        for key, raw in body.items():
            if key.startswith("__"):
                continue
            if key not in spec.fields:
                is_block = isinstance(raw, list) and raw and isinstance(raw[0], dict) and raw[0].get("__is_block__")
                if key in NOT_READ and is_block:
                    raise ParseError("Unsupported block type", f'The agent does not parse "{key}" blocks ({where}).')
                if is_block:
                    raise ParseError("Unsupported block type", f'Blocks of type "{key}" are not expected here.')
                raise ParseError("Unsupported argument", f'An argument named "{key}" is not expected here.')
            field, kind = spec.fields[key]
            if isinstance(kind, Block):
                items = []
                for item in raw if isinstance(raw, list) else [raw]:
                    if kind.label:
                        ((label, inner),) = item.items()
                        items.append(self.block(kind, inner, key) | {kind.label: _unquote_key(label)})
                    else:
                        items.append(self.block(kind, item, key))
                out[field] = items if kind.many else items[-1]
            else:
                out[field] = self.typed(kind, raw, key)
        return out

    def typed(self, kind: str, raw: Any, key: str) -> Any:
        if kind in (SMAP, ANY) and isinstance(raw, list):  # `meta { ... }`: a block read as a map
            raw = {k: v for item in raw for k, v in item.items()}
        value = self.value(raw)
        if kind == D and isinstance(value, str):
            try:
                return parse_duration_ns(value)
            except ValueError as exc:
                raise ParseError("Unsuitable value type", f"{key}: {exc}") from exc
        if kind == SMAP:
            return {k: _to_string(v) for k, v in value.items()}
        if kind == S and not isinstance(value, str):
            return _to_string(value)
        return value


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unquote_key(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _load(text: str, context: str = "") -> dict:
    """The HCL read; `context` goes before the error, as jobspec2/parse.go says which text failed
    (the variables' content is "input.hcl" too)."""
    try:
        return hcl2.loads(text)
    except Exception as exc:  # lark's parse errors: the text is not HCL; most say where
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        at = (line, column) if isinstance(line, int) and isinstance(column, int) and line > 0 else None
        raise ParseError("Invalid HCL", str(exc).splitlines()[0], at, context) from exc


def parse(job_hcl: str, var_content: str = "") -> dict:
    """jobspec2.ParseWithConfig with AllowFS false: the api.Job, not canonicalized."""
    doc = _load(job_hcl)
    given = (
        {k: v for k, v in _load(var_content, "unable to parse var content: ").items() if not k.startswith("__")}
        if var_content
        else {}
    )
    plain = _Reader({})
    variables: dict[str, Any] = {}
    for item in doc.get("variable", []):
        ((name, body),) = item.items()
        name = _unquote_key(name)
        if name in given:
            variables[name] = plain.value(given[name])
        elif "default" in body:
            variables[name] = plain.value(body["default"])
        else:  # types.variables.go Variable.Value
            raise ParseError(
                f"Unset variable {name!r}".replace("'", '"'),
                "A used variable must be set or have a default value; see "
                "https://developer.hashicorp.com/nomad/docs/reference/hcl2/variables  for details.",
            )
    for key in doc:
        if key in NOT_READ:
            raise ParseError("Unsupported block type", f'The agent does not parse "{key}" blocks (top level).')
        if key not in ("variable", "job") and not key.startswith("__"):
            raise ParseError("Unsupported block type", f'Blocks of type "{key}" are not expected here.')
    jobs = doc.get("job", [])
    if not jobs:
        raise ParseError("Missing job block", "A job block is required")
    if len(jobs) > 1:
        raise ParseError("Duplicate job block", 'Only one block of type "job" is allowed.')
    ((label, body),) = jobs[0].items()
    job = _Reader(variables).block(_JOB, body, "job")
    job_id = _unquote_key(label)
    # parse_job.go normalizeJob
    job["Name"] = job["Name"] if job["Name"] is not None else job_id
    job["ID"] = job["ID"] if job["ID"] is not None else job_id
    if job["Periodic"] and (job["Periodic"].get("Spec") is not None or job["Periodic"].get("Specs") is not None):
        job["Periodic"]["SpecType"] = "cron"
    job["Dispatched"] = False  # a plain bool in api.Job
    for group in job["TaskGroups"] or []:
        for task in group.get("Tasks") or []:
            _default_identity(task)
    return job


def _default_identity(task: dict) -> None:
    """normalizeJob: the default identity (unnamed or "default") moves to Task.Identity."""
    for i, wid in enumerate(task.get("Identities") or []):
        if wid.get("Name") in (None, "", "default"):
            task["Identity"] = wid
            del task["Identities"][i]
            break
