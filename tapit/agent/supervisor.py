"""Task supervisor: owns one task process, pumps its output into rotated log files, stops it on
request or at its deadline, and records how it ended.  It outlives the agent, which is what lets
a restarted agent reattach to running tasks.

Run as `python -I -S supervisor.py SPEC`, or `supervisor.py -` started ahead of its task
(tapit/agent/warm.py), which reads the spec's path from stdin when its task comes: standard library only, and only modules that are cheap
to import (no json: the spec is a marshal file and the status file is key=value lines), because
its start-up time is part of every task's start latency.

Protocol with the agent:
* stdout: one line, "started <pid>" or "error <message>", then closed.
* STATUS file (atomically replaced, 0600 like every file it writes): sup_pid and sup_start as soon
  as it can take signals, then pid, started, and at the end exit_code, signal, oom, finished,
  killed, kill_reason, and log_dropped when output could not be written (a full disk).
* SIGTERM: graceful stop (kill signal, then SIGKILL after the kill timeout).
  SIGUSR1: immediate SIGKILL of the whole task tree (the agent stopped with --kill-tasks).
  SIGUSR2: the same, for a task that outgrew its ephemeral disk.
"""

import errno
import fcntl
import marshal
import os
import select
import signal
import sys
import time

# The task's pipes hold this much (F_SETPIPE_SZ; the kernel's default is 64 KiB, and 1 MiB is
# /proc/sys/fs/pipe-max-size's default) and are read this much at a time into one buffer: a fast
# writer blocks and wakes this process 16 times less often, and no read allocates.
PIPE_SIZE = 1024 * 1024
CHUNK = PIPE_SIZE
PRIVATE_FILE = 0o600  # tapit.paths.PRIVATE_FILE: this process imports nothing of tapit's
DRAIN_GRACE = 1.0  # seconds to wait for pipe EOF after the task tree is gone


def now_ns():
    return time.time_ns()


def default_signals():
    """Every signal back to SIG_DFL, in a child between fork and exec: an ignored signal stays
    ignored across exec, and Python ignores SIGPIPE and SIGXFSZ, we SIGHUP and SIGINT.  Tasks start
    with the dispositions a Nomad task gets (the executor is a Go program: all default)."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)


def proc_start(pid):
    """Process start time in clock ticks: with the pid, it identifies a process across reuse."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[19])


def write_status(path, status):
    """The STATUS file, replaced atomically: the agent may read it at any moment."""
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE), "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in status.items()))
    os.replace(tmp, path)


def announce(line):
    """The one line the agent waits for on our stdout; stdout is then closed."""
    try:
        os.write(1, (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass  # the agent may already be gone; the status file says it all
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


class LogFile:
    """Nomad logmon's rotation: <task>.<type>.<n>, a new file at max_bytes, keep max_files."""

    def __init__(self, base, max_bytes, max_files):
        self.base, self.max_bytes, self.max_files = base, max_bytes, max_files
        directory, prefix = os.path.split(base)
        indexes = [
            int(n[len(prefix) + 1 :])
            for n in os.listdir(directory)
            if n.startswith(prefix + ".") and n[len(prefix) + 1 :].isdigit()
        ]
        self.index = max(indexes, default=0)
        self.dropped = 0  # bytes that found no room on the disk
        self._open()

    def _open(self):
        self.fd = os.open(f"{self.base}.{self.index}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        self.size = os.fstat(self.fd).st_size

    def write(self, data):
        """Append data, rotating as it goes; what a full disk refuses is counted, never fatal."""
        while data:
            room = self.max_bytes - self.size
            try:
                if room <= 0:
                    self._rotate()
                    continue
                n = os.write(self.fd, data[:room])
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                self.dropped += len(data)
                return
            self.size += n
            data = data[n:]

    def _rotate(self):
        os.close(self.fd)
        self.index += 1
        old = self.index - self.max_files
        if old >= 0:
            try:
                os.unlink(f"{self.base}.{old}")
            except FileNotFoundError:
                pass
        self._open()


class Supervisor:
    def __init__(self, spec):
        self.spec = spec
        self.status = {"sup_pid": os.getpid(), "sup_start": proc_start(os.getpid())}
        self.pid = 0
        self.exit_status = None
        self.stop_reason = ""
        self.force_at = 0.0
        self.hard = False

    def write_status(self):
        write_status(self.spec["status"], self.status)

    def spawn(self):
        spec = self.spec
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                for join in spec["join"]:  # TaskCgroup.join: this process, one thread, moves itself
                    with open(join, "w") as f:
                        f.write("0")
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                os.chdir(spec["cwd"])
                default_signals()
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
            except BaseException as exc:  # report any failure before exec to the supervisor
                os.write(fail_w, f"{type(exc).__name__}: {exc}".encode())
            os._exit(127)
        for fd in (out_w, err_w, fail_w):
            os.close(fd)
        for fd in (out_r, err_r):
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # above pipe-max-size for an unprivileged user: the default pipe still works
        failure = b""
        while chunk := os.read(fail_r, 4096):
            failure += chunk
        os.close(fail_r)
        return pid, out_r, err_r, failure.decode(errors="replace")

    def request_stop(self, reason):
        if self.exit_status is not None or self.stop_reason or self.hard:
            return
        self.stop_reason = reason
        self.status["kill_reason"] = reason
        self.status["kill_started"] = now_ns()
        self.write_status()
        target = -self.pid if self.spec["signal_group"] else self.pid
        try:
            os.kill(target, self.spec["kill_signal"])
        except ProcessLookupError:
            pass
        self.force_at = time.monotonic() + self.spec["kill_timeout"]

    def kill_tree(self):
        """SIGKILL the task's main process, then its cgroup and everything else left in our
        session, in the order Nomad's executor does (drivers/shared/executor/executor.go Shutdown:
        proc.Kill, then killProcessTree): killed first, the main process cannot see its children
        die and exit 0 on its own (a shell's `wait`) before its SIGKILL lands."""
        if self.exit_status is None:  # not reaped yet, so the pid is still the task's
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(50):
            victims = set(self.tree_pids())
            if not victims:
                return
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.reap()
            time.sleep(0.01)

    def tree_pids(self):
        pids = set()
        for procs in self.spec["procs"]:
            try:
                with open(procs) as f:
                    pids.update(int(p) for p in f.read().split())
            except OSError:
                pass
        me = os.getpid()
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != me:
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        fields = f.read().rsplit(b")", 1)[1].split()
                except OSError:
                    continue
                # fields[0] is the state, [3] the session.  The session alone: every process the
                # task started is in it unless it left with setsid (the cgroup still has those),
                # and our session id cannot be reused while we live, unlike the task's group id
                # once that group is empty (pid_max can be as low as 32768).
                if fields[0] != b"Z" and int(fields[3]) == me:
                    pids.add(int(name))
        pids.discard(me)
        return pids

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and self.exit_status is None:
                self.exit_status = status

    def run(self):
        spec = self.spec
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        flags = {"term": False, "hard": ""}
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("term", True))
        signal.signal(signal.SIGUSR1, lambda *_: flags.__setitem__("hard", flags["hard"] or "hard"))
        signal.signal(signal.SIGUSR2, lambda *_: flags.__setitem__("hard", flags["hard"] or "disk"))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # Known to be alive, and able to take a stop, before there is a task: an agent that
        # restarts from here on finds this process rather than a task it must call lost.
        self.write_status()

        logs = {}
        self.pid, out_r, err_r, failure = self.spawn()
        if failure:
            # Blocking: the child reported before it exited, and until it has it is still in the
            # task's cgroup, which could not be removed.
            os.waitpid(self.pid, 0)
            self.status.update(error=failure.replace("\n", " "), finished=now_ns())
            self.write_status()
            self.remove_cgroups()
            announce(f"error {failure}")
            return
        self.status.update(pid=self.pid, pid_start=proc_start(self.pid), started=now_ns())
        self.write_status()
        announce(f"started {self.pid}")
        logs[out_r] = LogFile(spec["stdout"], spec["max_bytes"], spec["max_files"])
        logs[err_r] = LogFile(spec["stderr"], spec["max_bytes"], spec["max_files"])

        poller = select.poll()
        for fd in (wake_r, out_r, err_r):
            poller.register(fd, select.POLLIN)
        open_pipes = {out_r, err_r}
        drain_until = None
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        # Until the main process has exited, whatever its pipes do: a task may close its output
        # and run on (GNU tools close it just before they exit), and Nomad's executor waits on the
        # process, not on its output (drivers/shared/executor/executor.go UniversalExecutor.wait).
        while open_pipes or self.exit_status is None:
            timeout = None
            moment = time.monotonic()
            if spec["deadline"] and not self.stop_reason and self.exit_status is None:
                timeout = max(0.0, spec["deadline"] - time.time())
            if self.force_at and self.exit_status is None:
                timeout = max(0.0, self.force_at - moment) if timeout is None else min(timeout, self.force_at - moment)
            if drain_until is not None:
                timeout = max(0.0, drain_until - moment)
            events = poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1))
            for fd, _ in events:
                if fd == wake_r:
                    while True:
                        try:
                            if not os.read(wake_r, 512):
                                break
                        except BlockingIOError:
                            break
                    continue
                n = os.readv(fd, [buffer])
                if n:
                    logs[fd].write(view[:n])
                else:
                    poller.unregister(fd)
                    open_pipes.discard(fd)
            self.reap()
            if flags["hard"] and not self.hard:
                self.hard = True
                self.status.setdefault("kill_reason", flags["hard"])
                self.kill_tree()
            if flags["term"]:
                self.request_stop("request")
            if spec["deadline"] and time.time() >= spec["deadline"]:
                self.request_stop("deadline")
            if self.force_at and self.exit_status is None and time.monotonic() >= self.force_at:
                self.status["killed"] = 1
                self.kill_tree()
            if self.exit_status is not None and drain_until is None:
                # The main process is gone: like Nomad's executor, destroy what it left behind,
                # then read the pipes to EOF (bounded, in case something escaped us).
                self.kill_tree()
                drain_until = time.monotonic() + DRAIN_GRACE
            elif drain_until is not None and time.monotonic() >= drain_until:
                break
        self.finish(sum(log.dropped for log in logs.values()))

    def finish(self, log_dropped):
        status = self.exit_status
        code, sig = 0, 0
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            code = 128 + sig  # Nomad's executor encodes a signal death the way bash does
        else:
            code = os.WEXITSTATUS(status)
        self.status.update(exit_code=code, signal=sig, oom=self.oom_kills(), finished=now_ns())
        if log_dropped:
            self.status["log_dropped"] = log_dropped
        self.write_status()
        self.remove_cgroups()

    def remove_cgroups(self):
        for path in self.spec["cgroup_dirs"]:
            try:
                os.rmdir(path)
            except OSError:
                pass

    def oom_kills(self):
        path = self.spec["oom_file"]
        if not path:
            return 0
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            pass
        return 0


def wait_for_spec():
    """A warm supervisor's spec path, one line on stdin; None at EOF (the agent went, or no
    longer wants it)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            return None
        data += chunk
    return data[:-1].decode()


def main():
    path = sys.argv[1]
    warm = path == "-"
    if warm and (path := wait_for_spec()) is None:
        return
    with open(path, "rb") as f:
        spec = marshal.load(f)
    if warm:
        # What a cold start gets from the agent: stdin from /dev/null, stderr into its log.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        fd = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)
        os.dup2(fd, 2)
        os.close(fd)
    Supervisor(spec).run()


if __name__ == "__main__":
    main()
