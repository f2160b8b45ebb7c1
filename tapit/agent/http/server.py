"""HTTP routes of the embedded agent, in Nomad's wire format (command/agent/http.go and the
*_endpoint.go files): auth, plain-text errors, blocking queries, gzip and ?pretty."""

from __future__ import annotations

import asyncio
import gzip
import hmac
import json
import logging
import random
import re
import zlib
from pathlib import Path

from aiohttp import web

from tapit.gostrconv import parse_bool

from . import engine, events, execsession, gojson, logstream, wire
from .cgroups import Cgroups
from .filters import FilterError, compile_filter
from .node import DATACENTER, VERSION, Node
from .runner import Runner
from .scheduler import Scheduler
from .state import Store
from .stats import StatsTracker

log = logging.getLogger("tapit.agent")
MAX_WAIT = 300.0  # structs.MaxBlockingRPCQueryTime
EVENT_HEARTBEAT = 30.0  # stream.NewJsonStream(ctx, 30*time.Second)
EVENT_WRITE_TIMEOUT = 40.0  # command/agent/event_endpoint.go writeTimeout
# A body this large is decoded off the event loop, which keeps answering other requests meanwhile.
DECODE_IN_THREAD_BYTES = 256 * 1024
GO_DEFAULT_COMPRESSION = 6  # compress/flate DefaultCompression is level 6
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class HTTPError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def parse_duration(text: str) -> float:
    """time.ParseDuration, in seconds."""
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(text)
    return total


def query_bool(request: web.Request, name: str, default: bool, code: int = 400, prefix: str = "") -> bool:
    """A bool query parameter as Nomad's handlers read it: absent or empty means the default
    (url.Values.Get returns "" for both); an invalid value is an error with the handler's own
    wording and status (query_bool_lax where the handler drops the error)."""
    value = request.query.get(name, "")
    if not value:
        return default
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise HTTPError(code, f"{prefix}{exc}") from exc


def query_bool_lax(request: web.Request, name: str) -> bool:
    """`v, _ := strconv.ParseBool(q.Get(name))`: anything that is not a Go bool is false."""
    try:
        return parse_bool(request.query.get(name, ""))
    except ValueError:
        return False


def parse_bool_param(request: web.Request, name: str, default: bool) -> bool:
    """http.go parseBool: an uncoded error, so a 500."""
    value = request.query.get(name, "")
    return query_bool(
        request, name, default, code=500, prefix=f"Failed to parse value of {json.dumps(name)} ({value}) as a bool: "
    )


def encode(request: web.Request, body, status: int = 200, headers: dict | None = None) -> web.Response:
    pretty = request.query.get("pretty")
    if pretty is not None and pretty != "0":
        text = json.dumps(body, indent=4, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    headers = dict(headers or {})
    data = compress(request, text.encode(), headers)
    return web.Response(body=data, status=status, content_type="application/json", headers=headers)


def compress(request: web.Request, data: bytes, headers: dict) -> bytes:
    """gorilla/handlers CompressHandler, which command/agent/http.go wraps the mux in: always
    `Vary: Accept-Encoding`; the first of gzip or deflate (raw DEFLATE, Go's compress/flate) that
    the client lists, at the default level.  Done here in one call, not by aiohttp: aiohttp prefers
    deflate whatever the client's order, and compresses bodies over 4 KiB in its thread pool, so a
    burst of requests held thousands of 256 KiB zlib states at once and left the memory in the
    threads' malloc arenas."""
    headers["Vary"] = "Accept-Encoding"
    for coding in request.headers.get("Accept-Encoding", "").split(","):
        coding = coding.strip()
        if coding in ("gzip", "deflate"):
            headers["Content-Encoding"] = coding
            if coding == "gzip":
                return gzip.compress(data, compresslevel=GO_DEFAULT_COMPRESSION, mtime=0)
            deflate = zlib.compressobj(GO_DEFAULT_COMPRESSION, wbits=-zlib.MAX_WBITS)
            return deflate.compress(data) + deflate.flush()
    return data


class Agent:
    def __init__(self, root: Path, token: str):
        self.root = root
        self.token = token
        self.store = Store(root)
        self.cgroups = Cgroups()
        node_id = self.store.meta.get("NodeID") or wire.new_id()
        self.node = Node(node_id, self.cgroups.unenforced(), self.cgroups.version, str(root), "http://127.0.0.1:0")
        self.store.set_meta("NodeID", node_id)
        self.runner = Runner(self.store, self.node, self.cgroups, root)
        self.scheduler = Scheduler(self.store, self.node, self.runner)
        self.stats = StatsTracker(self.node.mhz_per_core)
        # Kept: a task nobody holds may be collected.
        self._engine_version: asyncio.Task | None = None
        self._engine_watch: asyncio.Task | None = None

    async def find_engine(self) -> None:
        """Offer the docker driver while a Docker or Podman engine answers; look again every
        FINGERPRINT_PERIOD, as Nomad's docker driver does, so that an engine started (or
        stopped) after the agent is noticed."""
        await self._fingerprint_engine()
        self._engine_watch = asyncio.get_running_loop().create_task(self._watch_engine())

    async def _watch_engine(self) -> None:
        while True:
            await asyncio.sleep(engine.FINGERPRINT_PERIOD_S)
            await self._fingerprint_engine()

    async def _fingerprint_engine(self) -> None:
        url = engine.engine_url()
        found = await engine.fingerprint(url) if url else None
        if found and (found != self.node.engine or not self.node.drivers["docker"]):
            self.node.add_docker(found)
            # The release number is slow to come from Podman: fetched while the agent serves.
            self._engine_version = asyncio.get_running_loop().create_task(self._fetch_engine_version(found))
        elif not found and self.node.drivers["docker"]:
            log.warning("the container engine at %s stopped answering", self.node.engine.url)
            self.node.lose_docker()

    async def _fetch_engine_version(self, found: engine.Engine) -> None:
        try:
            self.node.set_docker_version(await found.version())
        except Exception:
            log.warning("the container engine at %s did not say its version", found.url)

    def set_address(self, address: str) -> None:
        self.node.http_addr = address
        self.node.attributes["nomad.advertise.address"] = address.partition("://")[2]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/v1/agent/self", self.agent_self)
        r.add_get("/v1/status/leader", self.leader)
        r.add_get("/v1/nodes", self.nodes)
        r.add_get("/v1/node/{node_id}", self.node_get)
        r.add_route("*", "/v1/jobs", self.jobs)
        r.add_route("*", "/v1/job/{rest:.+}", self.job_specific)
        r.add_get("/v1/allocations", self.allocations)
        r.add_get("/v1/allocation/{alloc_id}", self.allocation)
        r.add_get("/v1/evaluations", self.evaluations)
        r.add_get("/v1/evaluation/{eval_id}", self.evaluation)
        r.add_get("/v1/evaluation/{eval_id}/allocations", self.evaluation_allocs)
        r.add_get("/v1/client/fs/logs/{alloc_id}", self.logs)
        r.add_get("/v1/client/allocation/{alloc_id}/stats", self.alloc_stats)
        r.add_get("/v1/client/allocation/{alloc_id}/exec", self.exec)
        r.add_get("/v1/event/stream", self.event_stream)
        return app

    # --- cross-cutting -------------------------------------------------------------------

    def _token(self, request: web.Request) -> str:
        """parseToken: X-Nomad-Token wins over Authorization: Bearer."""
        token = request.headers.get("X-Nomad-Token", "")
        if not token:
            parts = request.headers.get("Authorization", "").split()
            if len(parts) >= 2 and parts[0].lower() == "bearer":
                token = parts[1]
        return token

    def _check_token(self, token: str) -> None:
        if not token:
            raise HTTPError(403, "Permission denied")
        if not hmac.compare_digest(token, self.token):
            raise HTTPError(403, "ACL token not found")

    def _authenticates_in_first_frame(self, request: web.Request) -> bool:
        """Only the exec websocket may carry its token in its first frame instead of a header
        (command/agent/alloc_endpoint.go allocExec -> readWsHandshake, ws_handshake=true), and only
        as a websocket upgrade of that route: the handler checks the token before it starts
        anything.  Every other request, whatever its path ends with, needs the token up front."""
        return (
            request.match_info.route.handler == self.exec
            and not self._token(request)
            and request.method == "GET"
            and request.headers.get("Upgrade", "").lower() == "websocket"
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        try:
            if request.path != "/v1/status/leader" and not self._authenticates_in_first_frame(request):
                self._check_token(self._token(request))
            return await handler(request)
        except HTTPError as err:
            return web.Response(text=str(err), status=err.code, content_type="text/plain", charset="utf-8")
        except web.HTTPMethodNotAllowed:
            return web.Response(text="Invalid method", status=405, content_type="text/plain", charset="utf-8")
        except web.HTTPNotFound:
            return web.Response(text="404 page not found\n", status=404, content_type="text/plain", charset="utf-8")

    def namespace(self, request: web.Request) -> str:
        return request.query.get("namespace") or "default"

    async def blocking(self, request: web.Request, tables: tuple[str, ...]) -> dict:
        """Honour ?index=&wait= (blocking query) and return the read's meta headers."""
        try:
            min_index = int(request.query.get("index", "0"))
        except ValueError as exc:
            raise HTTPError(400, "Invalid index") from exc
        wait = MAX_WAIT
        if "wait" in request.query:
            try:
                wait = min(parse_duration(request.query["wait"]), MAX_WAIT)
            except ValueError as exc:
                raise HTTPError(400, "Invalid wait time") from exc
        if min_index:
            await self.store.wait(tables, min_index, wait + random.uniform(0, wait / 16))
        return self.meta_headers(tables)

    def meta_headers(self, tables: tuple[str, ...]) -> dict:
        return {
            "X-Nomad-Index": str(self.store.query_index(tables)),
            "X-Nomad-LastContact": "0",
            "X-Nomad-KnownLeader": "true",
        }

    def _filter(self, request: web.Request, items):
        text = request.query.get("filter")
        if not text:
            return list(items)
        try:
            predicate = compile_filter(text)
        except FilterError as exc:
            raise HTTPError(400, str(exc)) from exc
        return [item for item in items if predicate(item)]

    def _in_namespace(self, request: web.Request, obj: dict) -> bool:
        ns = self.namespace(request)
        return ns == "*" or obj["Namespace"] == ns

    # --- agent, status, nodes ------------------------------------------------------------

    async def agent_self(self, request: web.Request) -> web.Response:
        port = int(self.node.http_addr.rsplit(":", 1)[1])
        config = {
            "Region": "global",
            "Datacenter": DATACENTER,
            "NodeName": self.node.name,
            "DataDir": str(self.root),
            "BindAddr": "127.0.0.1",
            "Ports": {"HTTP": port, "RPC": 0, "Serf": 0},
            "Addresses": {"HTTP": "127.0.0.1", "RPC": "", "Serf": ""},
            "Client": {"Enabled": True, "NodeClass": "", "NodePool": "default", "MaxKillTimeout": "30s"},
            "Server": {"Enabled": True, "BootstrapExpect": 1},
            "ACL": {"Enabled": True},
            "Version": {
                "BuildDate": "0001-01-01T00:00:00Z",
                "Revision": "",
                "Version": VERSION,
                "VersionPrerelease": "",
                "VersionMetadata": "",
            },
        }
        member = {
            "Name": f"{self.node.name}.global",
            "Addr": "127.0.0.1",
            "Port": 0,
            "Tags": {"region": "global", "dc": DATACENTER, "build": VERSION, "role": "nomad"},
            "Status": "alive",
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4,
        }
        running = sum(1 for a in self.store.allocs() if a["ClientStatus"] in ("pending", "running"))
        stats = {
            "client": {
                "node_id": self.node.id,
                "known_servers": "127.0.0.1:0",
                "num_allocations": str(running),
                "last_heartbeat": "0",
                "heartbeat_ttl": "0",
            },
            "nomad": {
                "server": "true",
                "leader": "true",
                "bootstrap": "true",
                "known_regions": "1",
                "leader_addr": "127.0.0.1:0",
            },
        }
        return encode(request, {"config": config, "member": member, "stats": stats})

    async def leader(self, request: web.Request) -> web.Response:
        return encode(request, "127.0.0.1:4647")

    async def nodes(self, request: web.Request) -> web.Response:
        headers = await self.blocking(request, ("nodes",))
        return encode(request, [self.node.stub(self.store.index)], headers=headers)

    async def node_get(self, request: web.Request) -> web.Response:
        if request.match_info["node_id"] != self.node.id:
            raise HTTPError(404, "node not found")
        headers = await self.blocking(request, ("nodes",))
        return encode(request, self.node.as_dict(self.store.index), headers=headers)

    # --- jobs ----------------------------------------------------------------------------

    async def jobs(self, request: web.Request) -> web.Response:
        if request.method in ("PUT", "POST"):
            return await self.register(request, None)
        if request.method != "GET":
            raise HTTPError(405, "Invalid method")
        headers = await self.blocking(request, ("jobs", "job_summary"))
        with_meta = parse_bool_param(request, "meta", False)
        prefix = request.query.get("prefix", "")
        jobs = [j for j in self.store.jobs() if self._in_namespace(request, j) and j["ID"].startswith(prefix)]
        jobs = self._filter(request, sorted(jobs, key=lambda j: (j["Namespace"], j["ID"])))
        stubs = [
            wire.job_stub(j, self.store.summary(self.store.bucket(j["Namespace"], j["ID"])), with_meta) for j in jobs
        ]
        return encode(request, stubs, headers=headers)

    async def register(self, request: web.Request, path_id: str | None) -> web.Response:
        """command/agent/job_endpoint.go jobUpdate: decodeBody's error and the handler's own checks
        are CodedError(400); what the server's Job.Register refuses reaches http.go wrap as an
        uncoded error, so a 500."""
        if not request.body_exists:  # http.go decodeBody: req.Body == http.NoBody
            raise HTTPError(400, "Request body is empty")
        raw = await request.read()
        try:
            if len(raw) > DECODE_IN_THREAD_BYTES:
                body = await asyncio.to_thread(gojson.decode, raw, wire.REGISTER_REQUEST)
            else:
                body = gojson.decode(raw, wire.REGISTER_REQUEST)
        except gojson.JSONError as exc:
            raise HTTPError(400, str(exc)) from exc
        job = body.get("Job")
        if job is None:
            raise HTTPError(400, "Job must be specified")
        if job.get("ID") is None:
            raise HTTPError(400, "Job ID hasn't been provided")
        if path_id is not None and job["ID"] != path_id:
            raise HTTPError(400, "Job ID does not match name")
        priority = body.get("EvalPriority") or 0
        if priority and not 1 <= priority <= 100:
            raise HTTPError(400, "Eval priority must be between 1 and 100 inclusively")
        job["Namespace"] = request.query.get("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
        region = request.query.get("region") or body.get("Region") or job.get("Region") or "global"
        job["Region"] = region
        job = wire.canonicalize_job(job)
        try:
            wire.validate_job(job)
        except wire.ValidationError as exc:
            raise HTTPError(500, str(exc)) from exc
        existing = self.store.job(job["Namespace"], job["ID"])
        if body.get("EnforceIndex"):
            want = body.get("JobModifyIndex") or 0
            if want == 0 and existing:
                raise HTTPError(500, "Enforcing job modify index 0: job already exists")
            if want and not existing:
                raise HTTPError(500, f"Enforcing job modify index {want}: job does not exist")
            if want and existing and existing["JobModifyIndex"] != want:
                raise HTTPError(
                    500,
                    f"Enforcing job modify index {want}: job exists with conflicting job "
                    f"modify index: {existing['JobModifyIndex']}",
                )
        reply, index = self.scheduler.register(job)
        reply.update(Index=index, LastContact=0, KnownLeader=False, NextToken="")
        return encode(request, reply, headers={"X-Nomad-Index": str(index)})

    async def job_specific(self, request: web.Request) -> web.Response:
        rest = request.match_info["rest"]
        for suffix, handler in (
            ("/allocations", self.job_allocs),
            ("/evaluations", self.job_evals),
            ("/summary", self.job_summary),
        ):
            if rest.endswith(suffix):
                if request.method != "GET":
                    raise HTTPError(405, "Invalid method")
                return await handler(request, rest[: -len(suffix)])
        if request.method in ("PUT", "POST"):
            return await self.register(request, rest)
        if request.method == "DELETE":
            return await self.deregister(request, rest)
        if request.method != "GET":
            raise HTTPError(405, "Invalid method")
        headers = await self.blocking(request, ("jobs",))
        job = self.store.job(self.namespace(request), rest)
        if job is None:
            raise HTTPError(404, "job not found")
        return encode(request, job, headers=headers)

    async def deregister(self, request: web.Request, job_id: str) -> web.Response:
        # job_endpoint.go jobDelete parses these itself, with the same wording as parseBool, uncoded
        # (500); its no_shutdown_delay message really has the stray q of its %qq verb.
        purge = parse_bool_param(request, "purge", False)
        parse_bool_param(request, "global", False)
        value = request.query.get("no_shutdown_delay", "")
        query_bool(
            request,
            "no_shutdown_delay",
            False,
            code=500,
            prefix=f'Failed to parse value of "no_shutdown_delay"q ({value}) as a bool: ',
        )
        reply, index = self.scheduler.deregister(self.namespace(request), job_id, purge)
        reply.update(Index=index, LastContact=0, KnownLeader=False, NextToken="")
        return encode(request, reply, headers={"X-Nomad-Index": str(index)})

    async def job_allocs(self, request: web.Request, job_id: str) -> web.Response:
        headers = await self.blocking(request, ("allocs",))
        bucket = self.store.bucket(self.namespace(request), job_id)
        allocs = []
        if bucket:
            show_all = query_bool_lax(request, "all")
            allocs = (
                list(bucket.allocs.values()) if show_all or bucket.job is None else self.store.current_allocs(bucket)
            )
        allocs.sort(key=lambda a: a["CreateIndex"], reverse=True)
        return encode(request, [wire.alloc_stub(a) for a in allocs], headers=headers)

    async def job_evals(self, request: web.Request, job_id: str) -> web.Response:
        headers = await self.blocking(request, ("evals",))
        bucket = self.store.bucket(self.namespace(request), job_id)
        evals = sorted(bucket.evals.values(), key=lambda e: e["CreateIndex"], reverse=True) if bucket else []
        return encode(request, [wire.omit_empty(e) for e in evals], headers=headers)

    async def job_summary(self, request: web.Request, job_id: str) -> web.Response:
        headers = await self.blocking(request, ("job_summary",))
        bucket = self.store.bucket(self.namespace(request), job_id)
        if bucket is None or bucket.job is None:
            raise HTTPError(404, "job not found")
        return encode(request, self.store.summary(bucket), headers=headers)

    # --- allocations and evaluations -----------------------------------------------------

    async def allocations(self, request: web.Request) -> web.Response:
        headers = await self.blocking(request, ("allocs",))
        prefix = request.query.get("prefix", "")
        resources = parse_bool_param(request, "resources", False)
        task_states = parse_bool_param(request, "task_states", True)
        allocs = [a for a in self.store.allocs() if self._in_namespace(request, a) and a["ID"].startswith(prefix)]
        allocs = self._filter(
            request, sorted(allocs, key=lambda a: a["ID"], reverse=request.query.get("reverse") == "true")
        )
        return encode(request, [wire.alloc_stub(a, resources, task_states) for a in allocs], headers=headers)

    def _alloc(self, alloc_id: str) -> dict:
        alloc = self.store.alloc(alloc_id)
        if alloc is None:
            raise HTTPError(404, "alloc not found")
        return alloc

    async def allocation(self, request: web.Request) -> web.Response:
        headers = await self.blocking(request, ("allocs",))
        return encode(request, wire.omit_empty(self._alloc(request.match_info["alloc_id"])), headers=headers)

    async def evaluations(self, request: web.Request) -> web.Response:
        headers = await self.blocking(request, ("evals",))
        q = request.query
        evals = [
            e
            for e in self.store.evals()
            if self._in_namespace(request, e)
            and e["ID"].startswith(q.get("prefix", ""))
            and (not q.get("job") or e["JobID"] == q["job"])
            and (not q.get("status") or e["Status"] == q["status"])
        ]
        evals = self._filter(request, sorted(evals, key=lambda e: e["ID"]))
        return encode(request, [wire.omit_empty(e) for e in evals], headers=headers)

    async def evaluation(self, request: web.Request) -> web.Response:
        headers = await self.blocking(request, ("evals",))
        ev = self.store.eval(request.match_info["eval_id"])
        if ev is None:
            raise HTTPError(404, "eval not found")
        if request.query.get("related") == "true":
            bucket = self.store.eval_bucket[ev["ID"]]
            stub_keys = (
                "ID",
                "Namespace",
                "Priority",
                "Type",
                "TriggeredBy",
                "JobID",
                "NodeID",
                "DeploymentID",
                "Status",
                "StatusDescription",
                "WaitUntil",
                "NextEval",
                "PreviousEval",
                "BlockedEval",
                "CreateIndex",
                "ModifyIndex",
                "CreateTime",
                "ModifyTime",
            )
            related = [{k: e[k] for k in stub_keys} for e in bucket.evals.values() if e["ID"] != ev["ID"]]
            ev = {**ev, "RelatedEvals": related}
        return encode(request, wire.omit_empty(ev), headers=headers)

    async def evaluation_allocs(self, request: web.Request) -> web.Response:
        headers = await self.blocking(request, ("allocs",))
        eval_id = request.match_info["eval_id"]
        bucket = self.store.eval_bucket.get(eval_id)
        allocs = [a for a in bucket.allocs.values() if a["EvalID"] == eval_id] if bucket else []
        return encode(request, [wire.alloc_stub(a) for a in allocs], headers=headers)

    # --- client endpoints ----------------------------------------------------------------

    def _task(self, alloc: dict, task: str) -> dict:
        if task not in alloc["TaskStates"]:
            raise HTTPError(400, f'unknown task name "{task}"')
        return alloc["TaskStates"][task]

    async def logs(self, request: web.Request) -> web.StreamResponse:
        """command/agent/fs_endpoint.go Logs, then client/fs_endpoint.go logs, in their order."""
        q = request.query
        task = q.get("task", "")
        if not task:
            raise HTTPError(400, "must provide task name")
        follow = query_bool(request, "follow", False, prefix="failed to parse follow field to boolean: ")
        plain = query_bool(request, "plain", False, prefix="failed to parse plain field to boolean: ")
        log_type = q.get("type", "")
        if log_type not in ("stdout", "stderr"):
            raise HTTPError(400, "must provide log type (stdout/stderr)")
        try:
            offset = int(q.get("offset", "0"))
        except ValueError as exc:
            raise HTTPError(
                400, f'error parsing offset: strconv.ParseInt: parsing "{q["offset"]}": invalid syntax'
            ) from exc
        origin = q.get("origin", "start")
        if origin not in ("start", "end"):
            raise HTTPError(400, "origin must be start or end")
        alloc_id = request.match_info["alloc_id"]
        alloc = self.store.alloc(alloc_id)
        if alloc is None:
            raise HTTPError(404, f'Unknown allocation "{alloc_id}"')
        alloc_dir = self.runner.alloc_dir(alloc_id)
        if not alloc_dir.exists():
            raise HTTPError(404, f"state for allocation {alloc_id} not found on client")
        state = self._task(alloc, task)
        if state["StartedAt"] == wire.ZERO_TIME:  # client/fs_endpoint.go: taskState.StartedAt.IsZero()
            raise HTTPError(404, f'task "{task}" not started yet. No logs available')
        try:
            return await logstream.stream(request, alloc_dir, task, log_type, follow, offset, origin, plain)
        except logstream.LogError as err:
            raise HTTPError(err.code, str(err)) from err

    async def alloc_stats(self, request: web.Request) -> web.Response:
        alloc_id = request.match_info["alloc_id"]
        alloc = self.store.alloc(alloc_id)
        if alloc is None:
            raise HTTPError(404, f'Unknown allocation "{alloc_id}"')
        # client/alloc_endpoint.go Stats -> allocRunner.LatestAllocStats: an alloc the client still
        # has answers, running or not; tasks that are not running contribute their last sample.
        running = {
            name: handle
            for name, handle in self.runner.handles.get(alloc_id, {}).items()
            if alloc["TaskStates"][name]["State"] == "running"
        }
        return encode(request, self.stats.alloc_usage(alloc, running, request.query.get("task", "")))

    async def exec(self, request: web.Request) -> web.WebSocketResponse:
        """In Nomad >= 2.0.3 the upgrade comes first; every later error is a close frame."""
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        try:
            argv, tty, handle = await self._exec_setup(request, ws)
            if handle.task["Driver"] == "docker":
                await execsession.run_in_container(
                    ws, argv, tty, self.node.engine, engine.container_name(handle.name, handle.alloc_id)
                )
            else:
                if handle.task["Driver"] == "exec":
                    try:
                        argv = self.runner.in_task_namespaces(handle, argv)
                    except ProcessLookupError as err:
                        raise execsession.ExecError(500, str(err)) from err
                await execsession.run(
                    ws, argv, tty, handle.env, handle.cwd, handle.cgroup.procs if handle.cgroup else []
                )
        except HTTPError as err:
            await execsession.close_with_error(ws, execsession.ExecError(err.code, str(err)))
        except execsession.ExecError as err:
            await execsession.close_with_error(ws, err)
        # Nomad drops the connection after `exited` without a close frame.
        if not ws.closed and request.transport:
            request.transport.close()
        return ws

    async def _exec_setup(self, request: web.Request, ws: web.WebSocketResponse):
        q = request.query
        header_token = self._token(request)
        token = header_token
        # websockets.go readWsHandshake: a bad value is an uncoded error, sent with toWsCode(400).
        if query_bool(request, "ws_handshake", False, prefix="ws_handshake value is not a boolean: "):
            msg = await ws.receive_json()
            if msg.get("version") != 1:
                raise HTTPError(400, f"unexpected handshake value: {msg.get('version')}")
            if header_token and msg.get("auth_token", "") != header_token:
                raise HTTPError(400, "handshake auth token mismatched auth header token")
            token = header_token or msg.get("auth_token", "")
        self._check_token(token)
        # alloc_endpoint.go allocExec: the command first, then tty (uncoded, so 500).
        try:
            argv = json.loads(q.get("command", ""))
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ValueError("json: cannot unmarshal into Go value of type []string")
        except ValueError as exc:
            raise HTTPError(500, f"failed to marshal command into json: {exc}") from exc
        tty = query_bool(request, "tty", False, code=500, prefix="tty value is not a boolean: ")
        if not argv:
            raise HTTPError(400, "command is not present")
        task = q.get("task", "")
        if not task:
            raise HTTPError(400, "must provide task name")
        alloc_id = request.match_info["alloc_id"]
        alloc = self.store.alloc(alloc_id)
        if alloc is None:
            raise HTTPError(404, f'Unknown allocation "{alloc_id}"')
        state = self._task(alloc, task)
        if state["State"] == "pending":
            raise HTTPError(404, f'task "{task}" not started yet.')
        handle = self.runner.handles.get(alloc_id, {}).get(task)
        if state["State"] != "running" or handle is None:
            raise HTTPError(404, f'task "{task}" is not running.')
        return argv, tty, handle

    async def event_stream(self, request: web.Request) -> web.StreamResponse:
        topics: dict[str, set[str]] = {}
        for raw in request.query.getall("topic", []):
            if raw.count(":") > 1:
                raise HTTPError(400, "Invalid topic query")
            topic, _, key = raw.partition(":")
            topics.setdefault(topic, set()).add(key or "*")
        if not topics:
            topics = {"*": {"*"}}
        try:
            index = int(request.query.get("index", "0"))
        except ValueError as exc:
            raise HTTPError(400, "Invalid index") from exc
        sub = self.store.broker.subscribe(topics, self.namespace(request), index)
        resp = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        resp.content_type = "application/json"

        def hang_up():
            if request.transport:
                request.transport.abort()

        try:
            await resp.prepare(request)
            await asyncio.wait_for(resp.write(b"{}\n"), EVENT_WRITE_TIMEOUT)
            while True:
                batch = await sub.take(EVENT_HEARTBEAT)
                # event_endpoint.go: each write has a deadline; a client that takes none of it
                # for that long is gone.
                await asyncio.wait_for(resp.write(batch or b"{}\n"), EVENT_WRITE_TIMEOUT)
        except events.SubscriptionDropped:
            # The stream ends after the last whole line, and the connection with it.
            resp.force_close()
            try:
                await asyncio.wait_for(resp.write_eof(), EVENT_WRITE_TIMEOUT)
            except (ConnectionResetError, TimeoutError):
                hang_up()
        except (ConnectionResetError, TimeoutError):
            hang_up()
        finally:
            sub.close()
        return resp
