"""Confine this process before it runs model-written code: no capabilities, Landlock, seccomp; then run the code.

sandbox.py starts `python -I -c <this file's source> POLICY` (inside bubblewrap or not) and writes the code to
stdin. Everything here is enforced by the kernel and irreversible, so the code that runs afterwards, ctypes and
native code included, cannot undo it: that is what separates it from an audit-hook sandbox, which Python code can
talk its way around. The parent (sandbox.py) chooses the policy; `probe()` tells it what this kernel offers.

What each layer holds:
- capabilities: as root, all are dropped (root without capabilities can still read root-owned files, so Landlock
  below is what keeps files out of reach; no CAP_SYS_RESOURCE keeps the rlimits the parent set).
- Landlock: files are readable (and executable) only under the Python installation and the system directories,
  writable only in the sandbox's directory; no TCP bind or connect (ABI 4+); no signals to processes outside the
  sandbox and no abstract UNIX sockets (ABI 6+). /proc, /etc, /home, the project: not reachable.
- seccomp: no sockets at all (socketpair only), no ptrace or other processes' memory, no namespaces, mounts, keyrings,
  BPF, io_uring, kernel modules; no new session or process group (the timeout kills the whole group); no new
  processes at all when nothing caps their number (root without a pids cgroup, which RLIMIT_NPROC does not bind).
  Without bubblewrap's namespaces it also covers what Landlock leaves open: no chmod, chown, utime or xattr changes
  (Landlock does not govern metadata), no signals when Landlock cannot scope them (before ABI 6), no truncate(2)
  before ABI 3. What stays visible: os.stat of a path the code can name (metadata, never contents).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from dataclasses import asdict, dataclass, field

# System directories the interpreter and its extension modules load from (read and execute only).
SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")

# Refused outright (EPERM). Names a kernel or architecture lacks are skipped.
DENIED_SYSCALLS = (
    "socket",  # any network or UNIX socket: socketpair, which reaches nothing, stays allowed
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
    "acct", "syslog", "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "quotactl", "open_by_handle_at", "name_to_handle_at", "fanotify_init", "vhangup", "uselib",
    "setsid", "setpgid",  # leaving the process group would outlive the timeout's kill
)
# Landlock does not cover a file's metadata: without a mount namespace these would reach any file the user owns
# (as root, every system file: chmod u+s). Refused, at the price of shutil.copy's mode copy (use shutil.copyfile).
METADATA_SYSCALLS = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime",
                     "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
                     "lremovexattr", "fremovexattr", "setxattrat", "removexattrat")
SIGNAL_SYSCALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal")
CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
CLONE_THREAD = 0x00010000


@dataclass
class Policy:
    """What the sandboxed process may do. The parent builds it; this module enforces it."""

    workdir: str  # read, write, create, delete
    readable: list[str]  # read and execute, beneath each path
    landlock: bool  # enforce Landlock (required outside bubblewrap)
    seccomp: bool  # enforce the seccomp filter
    processes: bool = True  # may start processes (False when nothing caps their number)
    namespaces: bool = False  # bubblewrap's namespaces already hide every other process and the host's files
    # Shared libraries as the parent found them ({"c": "libc.so.6", "seccomp": "libseccomp.so.2"}): the bindings look
    # them up with ctypes.util.find_library, which forks ldconfig or gcc and fails without /etc/ld.so.cache (bubblewrap).
    libraries: dict[str, str] = field(default_factory=dict)

    def argv(self) -> str:
        return json.dumps(asdict(self))


def find_libraries() -> dict[str, str]:
    import ctypes.util

    return {name: found for name in ("c", "seccomp") if (found := ctypes.util.find_library(name))}


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (or the binding is missing)."""
    try:
        import landlockpy
    except ImportError:
        return 0
    return landlockpy.abi_version()


def seccomp_problem() -> str | None:
    """None when libseccomp and its binding load; else why not."""
    try:
        import pyseccomp  # noqa: F401  (loads libseccomp.so.2 at import)
    except (ImportError, RuntimeError, OSError) as e:
        return f"seccomp is unavailable ({e})"
    return None


def drop_capabilities() -> None:
    """Empty the bounding, effective, permitted and inheritable sets (a no-op for an ordinary user)."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP = 24
    last = int(open("/proc/sys/kernel/cap_last_cap").read()) if os.path.exists("/proc/sys/kernel/cap_last_cap") else 40
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EPERM without CAP_SETPCAP: then there is nothing to drop

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), f"capset: {os.strerror(ctypes.get_errno())}")


def apply_landlock(policy: Policy) -> None:
    from landlockpy import AccessFS, AccessNet, Ruleset, Scope

    read = AccessFS.READ_FILE | AccessFS.READ_DIR | AccessFS.EXECUTE
    with Ruleset(handled_net=AccessNet.BIND_TCP | AccessNet.CONNECT_TCP | AccessNet.BIND_UDP | AccessNet.CONNECT_SEND_UDP,
                 scoped=Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL) as ruleset:
        # The sandbox's directory: everything but device nodes and device ioctls.
        everything = ruleset.handled_fs & ~(AccessFS.MAKE_CHAR | AccessFS.MAKE_BLOCK | AccessFS.IOCTL_DEV)
        for path in policy.readable:
            if os.path.exists(path):
                ruleset.allow_path(path, read if os.path.isdir(path) else read & ~AccessFS.READ_DIR)
        for device in DEVICES:
            if os.path.exists(device):
                ruleset.allow_path(device, AccessFS.READ_FILE | AccessFS.WRITE_FILE | AccessFS.TRUNCATE)
        ruleset.allow_path(policy.workdir, everything)
        ruleset.restrict()  # also sets no_new_privs


def apply_seccomp(policy: Policy, abi: int) -> None:
    import pyseccomp as sc

    filter = sc.SyscallFilter(sc.ALLOW)
    refuse = sc.ERRNO(errno.EPERM)

    def deny(name: str, *args, action: int = refuse) -> None:
        try:
            filter.add_rule(action, name, *args)
        except (OSError, ValueError):
            pass  # not a system call on this architecture or kernel

    for name in DENIED_SYSCALLS:
        deny(name)
    if not policy.namespaces:
        for name in METADATA_SYSCALLS:
            deny(name)
        if abi < 3:  # Landlock governs truncate(2) from ABI 3 (Linux 6.2)
            deny("truncate")
        if abi < 6:  # nor signals before ABI 6 (Linux 6.12): any process of the same user could be signalled
            for name in SIGNAL_SYSCALLS:
                deny(name)
    # clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes libc fall back to clone.
    deny("clone3", action=sc.ERRNO(errno.ENOSYS))
    for flag in CLONE_NAMESPACES:
        deny("clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    if not policy.processes:
        deny("fork")
        deny("vfork")
        deny("clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # threads stay allowed
    filter.load()  # no_new_privs is already set by Landlock, or by bubblewrap


def confine(policy: Policy) -> None:
    """Apply the policy to this process, for good. Raises (and the sandbox reports it) if any layer fails."""
    if policy.libraries:
        import ctypes.util

        find = ctypes.util.find_library
        ctypes.util.find_library = lambda name: policy.libraries.get(name) or find(name)
    if os.geteuid() == 0:
        drop_capabilities()
    abi = 0
    if policy.landlock:
        apply_landlock(policy)
        abi = landlock_abi()
    if policy.seccomp:
        if ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, which seccomp needs
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        apply_seccomp(policy, abi)


if __name__ == "__main__":
    # argv: [-c, POLICY]; the code arrives on stdin. Every name of ours is deleted before the code runs.
    import types

    _policy = Policy(**json.loads(sys.argv[1]))
    confine(_policy)
    sys.path.insert(0, _policy.workdir)
    os.chdir(_policy.workdir)
    _code = sys.stdin.read()
    _null = os.open(os.devnull, os.O_RDONLY)  # the code's stdin is empty, on fd 0 like any program's
    os.dup2(_null, 0)
    os.close(_null)
    sys.stdin = open(0, closefd=False)
    _main = types.ModuleType("__main__")
    sys.modules["__main__"] = _main
    sys.argv = ["<run_python>"]
    exec(compile(_code, "<run_python>", "exec"), _main.__dict__)
