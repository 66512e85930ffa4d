"""A `run_python` tool: model-written code in a separate, limited process (bubblewrap when present, else a weaker fallback).

Threat model, honestly: a sandboxed process is not a VM. It shares the host kernel, so a kernel bug is
an escape. What each mode promises:

- `bwrap` (bubblewrap, used when installed and working): the code runs in new user, PID, network,
  IPC and UTS namespaces with a read-only view of /usr and the Python installation, its own
  throw-away directory as the only writable path, no /etc, no home, no project files, and only a
  loopback network device (so no network at all). Killing the sandbox kills every process in it.
- `fallback` (no bubblewrap): a plain child process whose Python interpreter installs audit hooks
  (PEP 578) before the code runs. The hooks refuse opening files outside the sandbox directory and
  the Python installation, sockets, new processes and ctypes. Audit hooks are a speed bump, not a
  wall: native code or an interpreter bug can get past them. Use this mode for models you trust to
  make mistakes, not for adversarial code.

Both modes: a wall-clock timeout (the whole process group, or PID namespace, is killed), address-space,
CPU-time, file-size and open-file limits, a process limit (RLIMIT_NPROC, which the kernel does not
apply to root; as root we use a pids cgroup when we can create one, otherwise the audit hook refuses new
processes), a scrubbed environment (no API keys), a fresh working directory, and output truncated to a
limit. Run the agent as an ordinary user.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .tools import Tool, ToolResult

Mode = Literal["auto", "bwrap", "fallback"]

# Runs inside the sandboxed interpreter: optional audit hooks, then the model's code, read from stdin. The hook is a
# closure and every name is deleted before the code runs, so the code holds no reference through which to loosen it.
BOOT = r"""
import os, sys, types

def _guard(workdir, readable, guard_files, guard_processes):
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    read_events = ("os.listdir", "os.scandir", "os.chdir")
    write_events = ("os.remove", "os.rename", "os.replace", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink",
                    "os.link", "os.truncate", "os.utime", "os.setxattr", "os.removexattr", "shutil.")
    process_events = ("os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen",
                      "pty.spawn")
    denied_events = ("socket.", "ctypes.", "os.kill", "signal.pthread_kill", "gc.get_referrers", "gc.get_referents",
                     "gc.get_objects")

    def inside(path, roots):
        path = os.path.realpath(os.fsdecode(path))
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)

    def check(path, roots):
        if isinstance(path, (str, bytes, os.PathLike)) and not inside(path, roots):
            raise PermissionError(f"sandbox: {os.fsdecode(path)} is outside the sandbox directory {workdir}")

    def hook(event, args):
        if guard_processes and (event.startswith(process_events) or event == "import" and args[0] == "_posixsubprocess"):
            raise PermissionError(f"sandbox: starting processes is not allowed ({event})")
        if not guard_files:
            return
        if event.startswith(denied_events):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1] or "", args[2] or 0
            writing = bool(flags & write_flags) or any(c in mode for c in "wax+")
            check(args[0], (workdir,) if writing else (workdir,) + readable)
        elif event.startswith(read_events):
            check(args[0], (workdir,) + readable)
        elif event.startswith(write_events):
            for path in args[:2]:
                check(path, (workdir,))

    if guard_processes:
        # subprocess keeps a reference to the raw fork_exec; replace it, and refuse re-importing the original.
        import subprocess, _posixsubprocess
        def refuse(*args, **kwargs):
            raise PermissionError("sandbox: starting processes is not allowed")
        _posixsubprocess.fork_exec = refuse
    if guard_files or guard_processes:
        sys.addaudithook(hook)

import json
_guard(sys.argv[1], tuple(json.loads(sys.argv[4])), sys.argv[2] == "1", sys.argv[3] == "1")
sys.path.insert(0, sys.argv[1])
_code = sys.stdin.read()
sys.stdin = open(os.devnull)
_main = types.ModuleType("__main__")
sys.modules["__main__"] = _main
sys.argv = ["<run_python>"]
exec(compile(_code, "<run_python>", "exec"), _main.__dict__)
"""


@dataclass
class SandboxLimits:
    """Per run. Memory is address space (RLIMIT_AS), so it counts mapped but untouched memory too."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    output_chars: int = 10_000
    max_processes: int = 32
    file_size_mb: int = 64
    open_files: int = 256


@dataclass(frozen=True)
class Isolation:
    """The mode this machine allows, and a note saying why (shown to users of the weaker mode)."""

    mode: Literal["bwrap", "fallback"]
    note: str


# Every namespace bubblewrap offers, with the code running as an unprivileged user inside its own user namespace.
NAMESPACES = ("--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534")


@functools.cache
def bwrap_works() -> str | None:
    """None when bubblewrap is installed and can create namespaces here; else the reason it cannot be used."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", *NAMESPACES, "--die-with-parent", "--proc", "/proc", "true"],
                           capture_output=True, text=True, timeout=10)
    return None if probe.returncode == 0 else f"bwrap cannot create namespaces here: {probe.stderr.strip()[:200]}"


def choose_isolation(mode: Mode) -> Isolation:
    problem = bwrap_works() if mode in ("auto", "bwrap") else "fallback mode requested"
    if problem is None:
        return Isolation("bwrap", "namespaces via bubblewrap")
    if mode == "bwrap":
        raise ValueError(f"sandbox mode bwrap unavailable: {problem}")
    return Isolation("fallback", f"WEAKER fallback (audit hooks + rlimits): {problem}")


def python_roots() -> list[str]:
    """The directories the sandboxed interpreter must read: its installation and the active environment."""
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix)})


def bwrap_command(workdir: str) -> list[str]:
    # bwrap mounts in order, later over earlier: the empty /tmp comes first so that a Python
    # installed under /tmp (a virtualenv in a fresh clone, say) stays visible above it.
    command = ["bwrap", "--die-with-parent", "--new-session", *NAMESPACES, "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):  # merged-/usr systems link these into /usr
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for root in python_roots():
        if not root.startswith("/usr/"):
            command += ["--ro-bind", root, root]
    if os.path.isdir("/usr/share/zoneinfo"):
        command += ["--ro-bind", "/usr/share/zoneinfo", "/usr/share/zoneinfo"]
    return command + ["--proc", "/proc", "--dev", "/dev", "--bind", workdir, workdir, "--chdir", workdir]


def user_process_count(uid: int) -> int:
    """How many processes the user runs now: RLIMIT_NPROC counts them all, not just the sandbox's."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


_cgroup_ids = itertools.count()


def pids_cgroup(limit: int) -> Path | None:
    """A fresh cgroup capping the number of processes (for root, whom RLIMIT_NPROC does not bind), or None."""
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):  # cgroup v1's pids hierarchy, or v2's root
        if not (base / "cgroup.procs").exists() or not os.access(base, os.W_OK):
            continue
        group = base / f"openk2-sandbox-{os.getpid()}-{next(_cgroup_ids)}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(limit))
            return group
        except OSError:
            if group.exists():
                group.rmdir()
    return None


async def remove_cgroup(group: Path) -> None:
    for _ in range(50):  # killed processes leave the group once the kernel has reaped them
        try:
            group.rmdir()
            return
        except OSError:
            await asyncio.sleep(0.01)


def set_limits(limits: SandboxLimits, nproc: int, cgroup: Path | None) -> None:
    """Runs in the child between fork and exec. Soft and hard limits are equal so the code cannot raise them."""
    if cgroup is not None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    cpu = int(limits.timeout_s) + 2  # a backstop: the wall-clock timeout normally acts first
    for name, value in [(resource.RLIMIT_AS, limits.memory_mb << 20), (resource.RLIMIT_CPU, cpu),
                        (resource.RLIMIT_FSIZE, limits.file_size_mb << 20), (resource.RLIMIT_NOFILE, limits.open_files),
                        (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, nproc)]:
        hard = resource.getrlimit(name)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)  # a limit may only go down
        resource.setrlimit(name, (value, value))


class Sandbox:
    """Runs Python code in a throw-away directory that lives as long as the sandbox (files persist between runs).

    Use as a context manager, or call `close()`, to delete the directory.
    """

    def __init__(self, limits: SandboxLimits | None = None, mode: Mode = "auto"):
        if sys.platform != "linux":
            raise ValueError("the code sandbox needs Linux (namespaces, rlimits, /proc)")
        self.limits = limits or SandboxLimits()
        self.isolation = choose_isolation(mode)
        self.workdir = os.path.realpath(tempfile.mkdtemp(prefix="openk2-sandbox-"))

    @property
    def mode(self) -> str:
        return self.isolation.mode

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def run(self, code: str) -> ToolResult:
        """Run `code` once; stdout and stderr come back together, cut to the output limit."""
        limits, uid = self.limits, os.getuid()
        cgroup = pids_cgroup(limits.max_processes) if uid == 0 else None
        # Without a kernel cap on processes (root, no cgroup), the audit hook refuses to start them at all.
        guard_processes = self.mode == "fallback" or (uid == 0 and cgroup is None)
        nproc = user_process_count(uid) + limits.max_processes
        argv = [sys.executable, "-I", "-c", BOOT, self.workdir, str(int(self.mode == "fallback")), str(int(guard_processes)),
                json.dumps(python_roots() + ["/dev/null", "/dev/urandom", "/usr/share/zoneinfo"])]
        if self.mode == "bwrap":
            argv = bwrap_command(self.workdir) + ["--clearenv", *env_flags(self.workdir), "--"] + argv
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                cwd=self.workdir, env=scrubbed_env(self.workdir), start_new_session=True,
                preexec_fn=functools.partial(set_limits, limits, nproc, cgroup))
            return await self.collect(proc, code)
        finally:
            if cgroup is not None:
                await remove_cgroup(cgroup)

    async def collect(self, proc: asyncio.subprocess.Process, code: str) -> ToolResult:
        head, tail, total = bytearray(), bytearray(), 0
        keep_head, keep_tail = self.limits.output_chars * 3 // 4, self.limits.output_chars // 4

        async def feed() -> None:
            try:
                proc.stdin.write(code.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the program ended before reading all of its code; its output says why

        async def read() -> None:
            nonlocal total
            # Keep the start and the end (where tracebacks are); drop the middle of a flood.
            while chunk := await proc.stdout.read(65536):
                total += len(chunk)
                take = max(0, keep_head - len(head))
                head.extend(chunk[:take])
                tail.extend(chunk[take:])
                del tail[:max(0, len(tail) - keep_tail)]
            await proc.wait()

        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(feed(), read()), self.limits.timeout_s)
        except asyncio.TimeoutError:
            timed_out = True
        finally:
            kill_group(proc.pid)  # also ends anything the code left running in the background
            await proc.wait()
        cut = total - len(head) - len(tail)
        text = head.decode(errors="replace") + (f"\n[... {cut} bytes of output cut ...]\n" if cut else "") + tail.decode(errors="replace")
        if timed_out:
            return ToolResult(f"{text}\n[killed: the code ran past the {self.limits.timeout_s:g} s time limit]".lstrip(), True)
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            hint = " (memory or CPU limit?)" if name in ("SIGKILL", "SIGSEGV", "SIGXCPU") else ""
            return ToolResult(f"{text}\n[killed by {name}{hint}]".lstrip(), True)
        if proc.returncode != 0:
            return ToolResult(f"{text}\n[exit status {proc.returncode}]".lstrip(), True)
        return ToolResult(text or "[no output]")

    def tool(self) -> Tool:
        """`run_python(code)` for the agent; failures (exceptions, limits) come back as error results."""
        description = ("Run a Python 3 program and return what it prints (stdout and stderr together). It runs in an "
                       "isolated sandbox: no network, no files outside its working directory (which persists between "
                       f"calls), at most {self.limits.timeout_s:g} s and {self.limits.memory_mb} MB. Print what you want to see.")
        parameters = {"type": "object", "properties": {"code": {"type": "string", "description": "the complete program"}},
                      "required": ["code"], "additionalProperties": False}

        async def run(arguments: dict) -> ToolResult:
            if set(arguments) != {"code"} or not isinstance(arguments["code"], str):
                return ToolResult('Error: invalid arguments for run_python: pass exactly {"code": "<program>"}', True)
            return await self.run(arguments["code"])

        return Tool("run_python", description, parameters, run)


def env_flags(workdir: str) -> list[str]:
    return [flag for key, value in scrubbed_env(workdir).items() for flag in ("--setenv", key, value)]


def scrubbed_env(workdir: str) -> dict[str, str]:
    # Nothing from the agent's environment: it may hold API keys.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
            # One BLAS thread: per-thread buffers would eat the address-space limit on many-core machines.
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
