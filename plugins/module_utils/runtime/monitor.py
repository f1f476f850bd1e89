# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-container monitor: a small process that holds one container with no daemon.

It is copied out of the module (the Ansible payload is deleted when the task ends) and run
as ``python -I -S monitor.py GO_FD READY_FD``, detached by the engine (monitoring.py:
a session of its own, reparented to init), usually before its container is ready: the
engine starts it at the beginning of a start, so that this interpreter's start-up overlaps
the engine's own work (mount, config.json, network). It must import nothing but the
standard library, and as little of it as it can until ``runc create`` runs: json, signal,
subprocess and threading cost tens of ms of CPU that the start would wait for when the engine
is quicker (no json at all; the first ``runc create`` is forked by hand, spawn, and the others
are loaded while it works).
It reads its CONFIG from the GO_FD pipe (framed: its length, ``:``, then the bytes): a pipe
closed before it means that the engine gave up (or died) before handing the container over,
and the monitor leaves without a trace. It becomes a child subreaper so the container's init
is reparented to it once ``runc create`` returns, then per run: ``runc create`` (stdout and
stderr into a pipe it copies to the log file, rotated at ``log_max`` bytes) at once, while
the engine finishes the container's network (CNI ADD, firewall, /etc/hosts) and its record;
then, on the first run only, it waits for the engine's go-ahead, ``S`` on GO_FD (GO_TIMEOUT):
the pipe closed without it means that the engine failed or died, and the monitor deletes
the created container, records "exited" with the error and leaves, never restarting it.
Then ``runc start``, waits for the init to
exit, records the exit code (128 + signal when killed, as docker), ``runc delete``, and
applies the restart policy with a doubling back-off (0.1 s to 30 s, reset after 10 s of
running). The state file (``status`` starting, running, restarting or exited, ``pid``,
``exit_code``, ``started_at``, ``finished_at``, ``restart_count``, ``error``) is replaced
atomically at every change (not fsynced: the runtime root is volatile by design). The first
state past ``starting`` is also announced on READY_FD (then closed), so that the engine
waits for exactly that instead of polling the state file. A stop file written by the
engine means: do not restart, exit when the container has.

CONFIG: runtime, root, id, bundle, state_file, log_file, log_max, pid_file, stop_file,
restart_policy, monitor_log (where this process's own output goes), as ``KEY\\0VALUE\\0``
pairs (config_bytes: no JSON parser to import). The state file is JSON (to_json).

``monitor.py --log-pipe LOG_FILE LOG_MAX -- COMMAND...`` is the other use of this file: the
main process of a container's systemd unit (systemd.py), which runs the runtime and writes
its output to the log with the same cap (log_pipe).
"""

from __future__ import annotations

import _signal  # the C part of signal, which imports enum, functools and collections
import _thread
import os
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
COMMAND_TIMEOUT = 60
GO_TIMEOUT = 600  # the engine's CNI plugins have their own timeouts, far below this
GO = b"S"  # the engine's go-ahead: run the created container
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 0.1, 30.0, 10.0
LOG_CHUNK = 65536
#: what subprocess's restore_signals gives a command back (this process ignores SIGPIPE)
RESTORED_SIGNALS = tuple(getattr(_signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(_signal, name))


def parse_config(data: bytes) -> dict:
    """The config the engine writes on GO_FD (runtime/monitoring.py config_bytes): its length
    and ``:``, then ``KEY\\0VALUE\\0`` for each (None as empty); what follows it (the
    go-ahead) is not read; {} for nothing."""
    length, dummy, payload = data.partition(b":")
    words = [os.fsdecode(word) for word in payload[:int(length or 0)].split(b"\0")[:-1]]
    return dict(zip(words[0::2], words[1::2]))


def _quote(text: str) -> str:
    try:
        from _json import encode_basestring_ascii  # C, what json.dumps uses, without json's imports
    except ImportError:  # pragma: no cover - CPython has it
        from json.encoder import encode_basestring_ascii
    return encode_basestring_ascii(text)


def to_json(value) -> str:
    """``json.dumps(value, sort_keys=True)`` of the state: dicts, lists, str, int, float, bool, None."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        return "{" + ", ".join("%s: %s" % (_quote(str(k)), to_json(v)) for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    raise TypeError("cannot write %r in the state file" % (value,))


def read_all(fd: int) -> bytes:
    """What ``fd`` gives until its end; it is closed."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, LOG_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def spawn(command, cwd: str, output_fd: int) -> int:
    """Fork and exec ``command`` (an absolute path first) in ``cwd``: stdin from /dev/null,
    stdout and stderr to ``output_fd``, no other descriptor, SIGPIPE and SIGXFSZ back at their
    default, as subprocess.Popen starts a command, without the import of subprocess (tens of
    ms that a start would wait for). For a process with no other thread (a fork copies only
    the calling one). OSError when the command cannot be run."""
    err_read, err_write = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except BaseException:
        os.close(err_read)
        os.close(err_write)
        raise
    if pid == 0:  # nothing but system calls here, until the exec or the exit
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            for name in os.listdir("/proc/self/fd"):  # as subprocess's close_fds, on Linux
                if int(name) > 2 and int(name) != err_write:
                    try:
                        os.close(int(name))
                    except OSError:  # the listing's own descriptor
                        pass
            os.chdir(cwd)
            for number in RESTORED_SIGNALS:
                _signal.signal(number, _signal.SIG_DFL)
            os.execv(command[0], command)
        except OSError as err:
            code = err.errno or 1
        finally:
            try:
                os.write(err_write, b"%d" % code)
            finally:
                os._exit(127)  # pylint: disable=protected-access
    os.close(err_write)
    failed = read_all(err_read)
    if failed:
        os.waitpid(pid, 0)
        raise OSError(int(failed), os.strerror(int(failed)), command[0])
    return pid


def now() -> str:
    moment = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + ".%06dZ" % int((moment % 1) * 1e6)


def process_start(pid: int):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
        return int(data[data.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def append_capped(path: str, cap: int, data: bytes) -> None:
    """Append ``data`` to the log ``path``; a file never grows past ``cap`` bytes: the rest
    goes to a new one and the full one becomes ``.1`` (the older ``.1`` is dropped)."""
    cap = max(1, cap)
    while data:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        if size >= cap:
            os.replace(path, path + ".1")
            size = 0
        part, data = data[:cap - size], data[cap - size:]
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, part)
        finally:
            os.close(fd)


def copy_capped(read_fd: int, write) -> None:
    """Pass what comes out of ``read_fd`` to ``write`` until end of file; close it."""
    try:
        while True:
            chunk = os.read(read_fd, LOG_CHUNK)
            if not chunk:
                return
            write(chunk)
    except OSError:
        return
    finally:
        os.close(read_fd)


def _ignore(signum, frame) -> None:
    """A handler that does nothing: unlike SIG_IGN, exec resets it for the command."""


def log_pipe(log_file: str, log_max: int, command) -> int:
    """``monitor.py --log-pipe LOG_FILE LOG_MAX -- COMMAND...``: run COMMAND with its stdout and
    stderr copied to LOG_FILE, capped as the monitor caps it, and end as COMMAND ended (its
    exit status, or killed by the same signal). A systemd unit's main process (systemd.py):
    the stop signal goes to the unit's whole control group, so that the runtime receives it
    (and passes it to the container) while this process keeps copying until the end."""
    import signal  # here: the monitor proper does without them until its container is handed over
    import subprocess
    import threading
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGSEGV, signal.SIGBUS,
                          signal.SIGFPE, signal.SIGILL, signal.SIGABRT, signal.SIGTRAP):
            try:
                signal.signal(number, _ignore)
            except (OSError, ValueError):  # reserved by the C library
                pass
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    lock = threading.Lock()

    def write(data: bytes) -> None:
        with lock:
            append_capped(log_file, log_max, data)
    reader = threading.Thread(target=copy_capped, args=(read_fd, write), daemon=True)
    reader.start()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=write_fd)
    except OSError as err:
        os.close(write_fd)
        write(("cannot run %s: %s\n" % (command[0], err)).encode())
        reader.join(5)
        return 127
    os.close(write_fd)
    while True:
        try:
            code = proc.wait()
            break
        except InterruptedError:
            continue
    # the container's processes die with the runtime; one that escaped and keeps the pipe open is not waited for
    reader.join(5)
    if code < 0:
        if -code not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


class Monitor:
    def __init__(self, config: dict, ready_fd=None, go_fd=None):
        self.config = config
        self.go_fd = go_fd  # the engine's go-ahead is still to come on it (the first run)
        self.state = {"status": "starting", "monitor_pid": os.getpid(), "monitor_start": process_start(os.getpid()),
                      "pid": None, "exit_code": None, "started_at": None, "finished_at": None, "restart_count": 0,
                      "error": None}
        self.log_lock = _thread.allocate_lock()
        self.ready_fd = ready_fd

    # -- files ---------------------------------------------------------------------
    def save(self, **changes) -> None:
        self.state.update(changes)
        path = self.config["state_file"]
        temp = "%s.tmp-%d" % (path, os.getpid())
        with open(temp, "w") as handle:
            handle.write(to_json(self.state))
        os.rename(temp, path)
        if self.ready_fd is not None and self.state["status"] != "starting":
            fd, self.ready_fd = self.ready_fd, None
            try:
                os.write(fd, b"1")
            except OSError:  # the engine gave up waiting: nobody to tell
                pass
            os.close(fd)

    def stop_requested(self) -> bool:
        return os.path.exists(self.config["stop_file"])

    def log(self, data: bytes) -> None:
        with self.log_lock:
            append_capped(self.config["log_file"], int(self.config["log_max"]), data)

    def copy_logs(self, read_fd: int) -> None:
        copy_capped(read_fd, self.log)

    # -- the runtime ---------------------------------------------------------------
    def runtime(self, *args: str, stdout=None, stderr=None):
        """The runtime's command ``args``: a subprocess.CompletedProcess."""
        import subprocess  # here: see the module's docstring
        import threading
        command = [self.config["runtime"], "--root", self.config["root"]] + list(args)
        # A blocking wait bounded by a timer that kills: Popen.wait(timeout) polls with sleeps
        # of up to 50 ms, late by that much after each runtime call of a start.
        expired = threading.Event()
        with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=stderr if stderr is not None else subprocess.STDOUT, cwd=self.config["bundle"]) as proc:
            timer = threading.Timer(COMMAND_TIMEOUT, lambda: (expired.set(), proc.kill()))
            timer.daemon = True
            timer.start()
            try:
                output, errors = proc.communicate()
            finally:
                timer.cancel()
        if expired.is_set():
            raise subprocess.TimeoutExpired(command, COMMAND_TIMEOUT, output=output)
        return subprocess.CompletedProcess(command, proc.returncode, output, errors)

    def create(self, cid: str, write_fd: int, read_fd: int):
        """``runtime create`` with its output (and the container's) to ``write_fd``, copied to
        the log from ``read_fd`` by a thread: (its exit code or None when it timed out, the
        thread). The first is forked by hand (spawn) before any thread or import (its import
        then overlaps the runtime's work); later ones, threads existing, by subprocess."""
        args = ["create", "--bundle", self.config["bundle"], "--pid-file", self.config["pid_file"], cid]
        if "threading" in sys.modules:
            import subprocess  # pylint: disable=import-outside-toplevel
            import threading  # pylint: disable=import-outside-toplevel
            reader = threading.Thread(target=self.copy_logs, args=(read_fd,), daemon=True)
            reader.start()
            try:
                return self.runtime(*args, stdout=write_fd, stderr=write_fd).returncode, reader
            except subprocess.TimeoutExpired:
                return None, reader
        pid = spawn([self.config["runtime"], "--root", self.config["root"]] + args, self.config["bundle"], write_fd)
        import threading  # pylint: disable=import-outside-toplevel
        import subprocess  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel  # for the next commands
        reader = threading.Thread(target=self.copy_logs, args=(read_fd,), daemon=True)
        reader.start()
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            os.kill(pid, _signal.SIGKILL)
        timer = threading.Timer(COMMAND_TIMEOUT, kill)
        timer.daemon = True
        timer.start()
        try:
            while True:
                try:
                    status = os.waitpid(pid, 0)[1]
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        return (None if expired.is_set() else os.waitstatus_to_exitcode(status)), reader

    def run_once(self) -> dict:
        """One create-start-wait-delete cycle; what to record of its end: exit code (-1 when it
        never ran), finish time, error. ``serve`` saves it together with the status it decides
        on ("exited" or "restarting"), in one write: a monitor alive in state "exited" is one
        that leaves, never one that might still restart the container."""
        cid = self.config["id"]
        if os.path.isdir(os.path.join(self.config["root"], cid)):  # left by a run that was cut short
            self.runtime("delete", "--force", cid)
        try:
            os.unlink(self.config["pid_file"])
        except FileNotFoundError:
            pass
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            created, reader = self.create(cid, write_fd, read_fd)
        finally:
            os.close(write_fd)
        if not self.go_ahead():
            self.runtime("delete", "--force", cid)
            reader.join(5)
            return dict(pid=None, exit_code=-1, finished_at=now(), aborted=True,
                        error="the engine did not start the container (it failed or died after handing it over)")
        if created is None or created != 0:
            self.runtime("delete", "--force", cid)
            reader.join(5)
            return dict(pid=None, exit_code=-1, finished_at=now(),
                        error="%s create failed (see the log)" % os.path.basename(self.config["runtime"]))
        with open(self.config["pid_file"]) as handle:
            pid = int(handle.read().strip())
        started = self.runtime("start", cid)
        if started.returncode != 0:
            self.runtime("delete", "--force", cid)
            self.log(started.stdout or b"")
            reader.join(5)
            return dict(pid=None, exit_code=-1, finished_at=now(),
                        error="%s start failed: %s" % (os.path.basename(self.config["runtime"]),
                                                       (started.stdout or b"").decode("utf-8", "replace").strip()))
        self.save(status="running", pid=pid, exit_code=None, started_at=now(), finished_at=None, error=None)
        code = -1
        while True:
            try:
                found, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if found == pid:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
                break
        self.runtime("delete", "--force", cid)
        reader.join(5)
        return dict(pid=None, exit_code=code, finished_at=now())

    def go_ahead(self) -> bool:
        """Whether the engine lets the created container start: True once it has said so (or on
        a restart), False when it closed the pipe without that or was silent for GO_TIMEOUT."""
        if self.go_fd is None:
            return True
        import select  # pylint: disable=import-outside-toplevel  # here: see the module's docstring
        fd, self.go_fd = self.go_fd, None
        try:
            while True:
                try:
                    if not select.select([fd], [], [], GO_TIMEOUT)[0]:
                        return False
                    return os.read(fd, 1) == GO
                except InterruptedError:
                    continue
        finally:
            os.close(fd)

    def should_restart(self, code: int) -> bool:
        if self.stop_requested():
            return False
        policy, dummy, count = str(self.config.get("restart_policy") or "no").partition(":")
        if policy in ("always", "unless-stopped"):
            return True
        if policy == "on-failure" and code != 0:
            return not count or self.state["restart_count"] < int(count)
        return False

    def serve(self) -> None:
        backoff = BACKOFF_START
        while True:
            began = time.monotonic()
            ended = self.run_once()
            if ended.pop("aborted", False) or not self.should_restart(ended["exit_code"]):
                self.save(status="exited", **ended)
                return
            if time.monotonic() - began >= BACKOFF_RESET:
                backoff = BACKOFF_START
            self.save(status="restarting", **ended)
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline:
                if self.stop_requested():
                    self.save(status="exited")
                    return
                time.sleep(min(0.05, backoff))
            backoff = min(backoff * 2, BACKOFF_MAX)
            self.save(restart_count=self.state["restart_count"] + 1)


def read_config(go_fd: int):
    """The config the engine writes on ``go_fd``, and whether its go-ahead came with it; None
    (and ``go_fd`` closed) when the pipe ends before the whole config."""
    data = b""
    while True:
        length, colon, payload = data.partition(b":")
        if colon and len(payload) >= int(length):
            return parse_config(data), payload[int(length):].startswith(GO)
        try:
            chunk = os.read(go_fd, 65536)
        except InterruptedError:
            continue
        if not chunk:
            os.close(go_fd)
            return None
        data += chunk


def main(argv) -> int:
    if len(argv) > 4 and argv[1] == "--log-pipe" and argv[4] == "--":
        return log_pipe(argv[2], int(argv[3]), argv[5:])
    go_fd, ready_fd = int(argv[1]), int(argv[2])
    for fd in (go_fd, ready_fd):
        os.set_inheritable(fd, False)  # not for the runtime nor the container
    # all that needs no container is done while the engine prepares it
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
    _signal.signal(_signal.SIGPIPE, _signal.SIG_IGN)
    import ctypes  # here: the import costs a few ms, and only this process needs it
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    handed = read_config(go_fd)
    if handed is None:  # the engine did not hand a container over: nothing was made, nothing to leave
        return 0
    config, given = handed
    log = os.open(config["monitor_log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)
    monitor = Monitor(config, ready_fd, go_fd=None if given else go_fd)
    if given:
        os.close(go_fd)
    try:
        monitor.save()
        monitor.serve()
    except Exception as err:  # recorded for the engine: nobody reads this process's stderr
        monitor.save(status="exited", error="monitor failed: %s" % err, finished_at=now())
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
