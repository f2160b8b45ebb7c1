"""A small aiohttp server that speaks the byte shapes of Nomad's HTTP API, for the client tests.

It stands in for a peer: tapit's embedded agent (tapit/agent) is being written in parallel, and
no Nomad binary is available here. Every shape it sends comes from Nomad's source, not from
tapit's client: plain-text error bodies and gzip when asked (command/agent/http.go wrap),
`X-Nomad-Index` and blocking `index`/`wait` (command/agent/http.go setMeta, nomad/rpc.go
blockingRPC), concatenated log frames with base64 Data and `{}` heartbeats every 1 s
(client/fs_endpoint.go, client/lib/streamframer/framer.go), NDJSON events with `{}` heartbeats
(nomad/stream/ndjson.go).
"""

import asyncio
import base64
import json
import re
import ssl
import threading
import zlib

from aiohttp import web

GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
LOG_HEARTBEAT = 1.0  # streamHeartbeatRate
EVENT_HEARTBEAT = 30.0  # NewJsonStream(ctx, 30*time.Second)
FRAME_SIZE = 64 * 1024  # streamFrameSize: most bytes of Data in one frame

FAULTY_STREAMS = {"garbage": b'{"Offset":1,"Data":"YQ==","File":"f"}not-json', "truncated": b'{}{"Offset":1,"Da'}
ALLOC_ID = "5d6b2e6e-7b5a-4b0e-9b7e-0c0f1d2e3f40"
EVAL_ID = "d092fdc0-e1fd-2536-67d8-43af8ca798ac"


def go_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return int(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]


class StubNomad:
    def __init__(
        self, token: str = "stub-secret-token", ssl_context: ssl.SSLContext | None = None, unix_path: str | None = None
    ):
        self.token = token
        self.ssl_context = ssl_context
        self.unix_path = unix_path
        self.requests: list[dict] = []  # method, path, query (list of pairs), headers
        self.jobs: dict[str, dict] = {}
        self.index = 10
        self.alloc = {
            "ID": ALLOC_ID,
            "JobID": "tapit-1",
            "EvalID": EVAL_ID,
            "ClientStatus": "running",
            "TaskStates": {"main": {"State": "running", "Failed": False, "Events": []}},
        }
        self.logs = {("main", "stdout"): b"hello\n", ("main", "stderr"): b""}
        self.log_piece = 7  # bytes per write: frames reach the client cut at arbitrary places
        self.gzip = True  # Nomad compresses when the client accepts gzip
        self.events: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stub-nomad", daemon=True)
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None
        self.address = ""

    # -- lifecycle, called from the test thread -----------------------------------------------

    def start(self) -> "StubNomad":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def change(self, update) -> None:
        """Apply `update(stub)` on the server loop, bump the index and wake blocking queries."""

        async def apply():
            async with self._changed:
                update(self)
                self.index += 1
                self._changed.notify_all()

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(5)

    def query(self, i: int = -1) -> dict:
        return dict(self.requests[i]["query"])

    async def _shutdown(self) -> None:
        await self._runner.cleanup()
        # Handlers still waiting (an event stream between heartbeats) end here, not at loop close.
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        if self.unix_path:
            site = web.UnixSite(self._runner, self.unix_path)
            await site.start()
            self.address = f"unix://{self.unix_path}"
        else:
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
            await site.start()
            port = self._runner.addresses[0][1]
            self.address = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"

    # -- HTTP -----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": list(request.query.items()),
                "headers": dict(request.headers),
            }
        )
        if request.headers.get("X-Nomad-Token") != self.token:
            return error(403, "Permission denied")
        return await handler(request)

    async def _route(self, request: web.Request):
        routes = [
            ("POST", r"/v1/jobs", self.register),
            ("GET", r"/v1/jobs", self.list_jobs),
            ("GET", r"/v1/job/(?P<id>[^/]+)", self.get_job),
            ("DELETE", r"/v1/job/(?P<id>[^/]+)", self.delete_job),
            ("GET", r"/v1/job/(?P<id>[^/]+)/allocations", self.job_allocations),
            ("GET", r"/v1/job/(?P<id>[^/]+)/evaluations", self.job_evaluations),
            ("GET", r"/v1/allocation/(?P<id>[^/]+)", self.get_allocation),
            ("GET", r"/v1/evaluation/(?P<id>[^/]+)", self.get_evaluation),
            ("GET", r"/v1/agent/self", self.agent_self),
            ("GET", r"/v1/client/allocation/(?P<id>[^/]+)/stats", self.alloc_stats),
            ("GET", r"/v1/client/fs/logs/(?P<id>[^/]+)", self.logs_endpoint),
            ("GET", r"/v1/event/stream", self.event_stream),
            ("GET", r"/v1/client/allocation/(?P<id>[^/]+)/exec", self.exec),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, request.path)
            if match and request.method == method:
                return await handler(request, **match.groupdict())
        return error(404, "Invalid URL")

    def meta(self, body) -> web.Response:
        return web.json_response(
            body, headers={"X-Nomad-Index": str(self.index), "X-Nomad-LastContact": "0", "X-Nomad-KnownLeader": "true"}
        )

    async def blocking(self, request: web.Request) -> None:
        """Hold the request until the index passes `index`, or until `wait` (default 300 s)."""
        index = int(request.query.get("index", "0"))
        if index <= 0:
            return
        wait = min(go_duration(request.query.get("wait", "300s")), 300.0)
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.index > index), wait)
            except asyncio.TimeoutError:
                pass

    async def register(self, request, **_):
        body = await request.json()
        job = body.get("Job")
        if not job:
            return error(400, "Job must be specified")
        if job.get("ID") == "invalid":
            return error(500, "1 error occurred:\n\t* Task group main validation failed: bad\n\n")
        if job.get("ID") == "echo-token":  # a server error quoting the secret must not reach a user
            return error(500, f"token {request.headers['X-Nomad-Token']} has expired")
        self.index += 1
        self.jobs[job["ID"]] = dict(job, Status="pending")
        return web.json_response(
            {
                "EvalID": EVAL_ID,
                "EvalCreateIndex": self.index,
                "JobModifyIndex": self.index,
                "Warnings": "",
                "Index": self.index,
                "LastContact": 0,
                "KnownLeader": False,
                "NextToken": "",
            },
            headers={"X-Nomad-Index": str(self.index)},
        )

    async def list_jobs(self, request, **_):
        prefix = request.query.get("prefix", "")
        with_meta = request.query.get("meta", "false") in GO_TRUE
        stubs = []
        for job in self.jobs.values():
            if job["ID"].startswith(prefix):
                stub = {
                    "ID": job["ID"],
                    "Name": job["ID"],
                    "Type": job.get("Type", "service"),
                    "Status": job["Status"],
                    "Namespace": "default",
                }
                if with_meta and job.get("Meta"):
                    stub["Meta"] = job["Meta"]
                stubs.append(stub)
        return self.meta(stubs)

    async def get_job(self, request, id):
        if id == "forbidden":
            return error(403, "Permission denied")
        if id == "broken":
            return error(500, "rpc error: 2 errors occurred:\n\t* one\n\t* two\n\n")
        if id not in self.jobs:
            return error(404, "job not found")
        return self.meta(self.jobs[id])

    async def delete_job(self, request, id):
        purge = request.query.get("purge", "false")
        if purge not in GO_TRUE | GO_FALSE:
            return error(500, f'strconv.ParseBool: parsing "{purge}": invalid syntax')
        if id not in self.jobs:
            return web.json_response({"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0})
        if purge in GO_TRUE:
            del self.jobs[id]
        else:
            self.jobs[id]["Stop"] = True
        return web.json_response({"EvalID": EVAL_ID, "EvalCreateIndex": 40, "JobModifyIndex": 39})

    async def job_allocations(self, request, id):
        await self.blocking(request)
        return self.meta([self.alloc] if id == self.alloc["JobID"] else [])

    async def job_evaluations(self, request, id):
        return self.meta([{"ID": EVAL_ID, "JobID": id, "Status": "complete"}])

    async def get_allocation(self, request, id):
        if id != self.alloc["ID"]:
            return error(404, "alloc not found")
        await self.blocking(request)
        return self.meta(self.alloc)

    async def get_evaluation(self, request, id):
        if id != EVAL_ID:
            return error(404, "eval not found")
        return self.meta({"ID": EVAL_ID, "Status": "complete", "TriggeredBy": "job-register"})

    async def agent_self(self, request, **_):
        return self.meta({"config": {"Region": "global", "Version": {"Version": "2.0.5"}}, "member": {"Name": "stub"}})

    async def alloc_stats(self, request, id):
        return self.meta({"ResourceUsage": {"MemoryStats": {"RSS": 1024}}, "Tasks": {}, "Timestamp": 1})

    async def logs_endpoint(self, request: web.Request, id):
        q = request.query
        if not q.get("task"):
            return error(400, "must provide task name")
        if q.get("type") not in ("stdout", "stderr"):
            return error(400, "must provide log type (stdout/stderr)")
        for name in ("follow", "plain"):
            if q.get(name, "false") not in GO_TRUE | GO_FALSE:
                return error(400, f"failed to parse {name} field to boolean: invalid syntax")
        if id != self.alloc["ID"]:
            return error(404, "alloc not found")
        if q["task"] in FAULTY_STREAMS:  # fault injection: not shapes Nomad sends
            return web.Response(body=FAULTY_STREAMS[q["task"]], content_type="application/json")
        key = (q["task"], q["type"])
        if key not in self.logs:
            return error(400, f'unknown task name "{q["task"]}"')
        offset = int(q.get("offset", "0"))
        data = self.logs[key]
        data = data[offset:] if q.get("origin", "start") == "start" else data[max(0, len(data) - offset) :]
        if q.get("plain", "false") in GO_TRUE:
            return web.Response(body=data, content_type="text/plain")
        return await self.framed(request, q["task"], q["type"], data, q.get("follow", "false") in GO_TRUE)

    async def framed(self, request, task, log_type, data, follow):
        try:
            return await self._framed(request, task, log_type, data, follow)
        except ConnectionResetError:  # the client hung up: how a followed stream ends
            return web.Response()

    async def _framed(self, request, task, log_type, data, follow):
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        gz = None
        if self.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):  # gorilla CompressHandler
            response.headers["Content-Encoding"] = "gzip"
            gz = zlib.compressobj(6, zlib.DEFLATED, 31)
        await response.prepare(request)

        async def send(raw: bytes) -> None:
            for start in range(0, len(raw), self.log_piece):
                piece = raw[start : start + self.log_piece]
                await response.write(gz.compress(piece) + gz.flush(zlib.Z_SYNC_FLUSH) if gz else piece)
                await asyncio.sleep(0.001)

        path = f"alloc/logs/{task}.{log_type}.0"

        def frames(chunk: bytes, offset: int) -> bytes:
            out = b""
            for start in range(0, len(chunk), FRAME_SIZE):
                piece = chunk[start : start + FRAME_SIZE]
                offset += len(piece)
                out += json.dumps(
                    {"Offset": offset, "Data": base64.b64encode(piece).decode(), "File": path}, separators=(",", ":")
                ).encode()
            return out

        sent = len(data)
        log_size = len(self.logs[(task, log_type)])  # before sending: the test appends once it has read
        await send(b"{}" + frames(data, 0))  # the framer's heartbeat ticker may fire first
        while follow:
            await asyncio.sleep(LOG_HEARTBEAT)
            more = self.logs[(task, log_type)][log_size:]
            log_size += len(more)
            await send(frames(more, sent) if more else b"{}")
            sent += len(more)
        if gz:
            await response.write(gz.flush())
        await response.write_eof()
        return response

    async def event_stream(self, request: web.Request, **_):
        try:
            return await self._event_stream(request)
        except ConnectionResetError:  # the client hung up: the only way an event stream ends
            return web.Response()

    async def _event_stream(self, request: web.Request):
        index = int(request.query.get("index", "0"))
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(b"{}\n")
        sent = 0
        while True:
            for message in self.events[sent:]:
                if message["Index"] > index:
                    await response.write(json.dumps(message).encode() + b"\n")
            sent = len(self.events)
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda sent=sent: len(self.events) > sent), EVENT_HEARTBEAT
                    )
                except asyncio.TimeoutError:
                    await response.write(b"{}\n")

    async def exec(self, request: web.Request, id):
        """An exec session whose command exits at once with code 0 (`exit_code` omitted: plugins/drivers/proto/driver.pb.go
        ExitResult, omitempty)."""
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        await ws.send_str('{"exited":true,"result":{}}')
        await ws.close()
        return ws


def log_bytes(client, alloc_id: str, task: str, log_type: str, **options):
    """The bytes of a task's log as they arrive: the data of its frames (AllocFS.logs options)."""
    return (frame.data for frame in client.alloc_fs.logs(alloc_id, task, log_type, **options))


def error(status: int, text: str) -> web.Response:
    # Nomad's errors are the bare message as text/plain, never JSON (command/agent/http.go wrap).
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")
