"""Where Lambda handlers run: an unprivileged user, and an interpreter that user can execute.

Uploaded code is untrusted. When the server runs as root, every handler process is started as
the system user ``local_aws_lambda`` (created with ``useradd --system`` if missing; ``nobody``
if it cannot be created), with no supplementary groups. That user cannot read the server's
memory or environment through ``/proc``, signal it, or read or write a state dir that is not
world-accessible. The switch happens between fork and exec (`enter_sandbox`), after the child
has entered a mount namespace of its own with a private folder bound on /tmp, when the host
allows one (probed once; otherwise /tmp is the host's).

The handler must still be able to execute Python and import the standard library and boto3,
and nothing else of the server's environment (AWS's Python runtime has no pandas or duckdb):
the worker runs with ``-I -S`` (no site-packages) and its import path gets one directory of
the packages the runtime ships (`RUNTIME_PACKAGES`: boto3 and its dependencies, with their
dist-info), built once under ``/var/lib/local_aws/lambda-runtime`` by linking just those
packages out of the server's site-packages (`package_site`, which also builds the folder of AWS's
managed AWS SDK for pandas layer, `local_aws.components.lambda_managed_layers`, for the
functions that name it). When the server's interpreter sits where that
user cannot reach it (a pyenv build under ``/root``, a venv in a 0700 home), it is mirrored,
once, into
``/var/lib/local_aws/lambda-runtime``: a root-owned, read-only tree of hard links (copies
across file systems) of the executable, ``libpython`` and the standard library. The mirror is
keyed by the source's path and modification time, so an upgraded interpreter gets a new one.
Nothing of the checkout is chmodded.

When the server does not run as root, there is no other user to switch to: handlers run as the
server's own user, in a separate process with a scrubbed environment (see the LIMITATIONS of
`local_aws.components.lambda_environment`).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("local_aws.lambda")

SANDBOX_USER = "local_aws_lambda"
FALLBACK_USER = "nobody"
RUNTIME_CACHE = "/var/lib/local_aws/lambda-runtime"
# Parts of the standard library a handler never needs; leaving them out keeps the mirror small.
_STDLIB_SKIP = frozenset({"site-packages", "test", "idlelib", "tkinter", "turtledemo", "__phello__"})
# What AWS's Python runtime image has besides the standard library: the AWS SDK and the
# packages it depends on (import name, distribution name).
RUNTIME_PACKAGES = (
    ("boto3", "boto3"),
    ("botocore", "botocore"),
    ("s3transfer", "s3transfer"),
    ("jmespath", "jmespath"),
    ("dateutil", "python_dateutil"),
    ("urllib3", "urllib3"),
    ("six", "six"),
)


@dataclass(frozen=True)
class Sandbox:
    """How to start a handler process: as whom, with which interpreter and import path."""

    uid: int | None
    gid: int | None
    python: str
    site_dirs: tuple[str, ...]  # appended to the worker's import path (the runtime's boto3)
    library_path: str | None = None
    private_tmp: bool = False  # whether a worker can get /tmp of its own (a mount namespace)

    @property
    def isolated(self) -> bool:
        """True when handlers run as a user other than the server's."""
        return self.uid is not None


_lock = threading.Lock()
_prepared: Sandbox | None = None


def sandbox() -> Sandbox:
    """The sandbox of this process, prepared on first use (it may create a user and a mirror)."""
    global _prepared
    with _lock:
        if _prepared is None:
            _prepared = _prepare()
        return _prepared


def _prepare() -> Sandbox:
    site_dirs = (runtime_site(),)
    if os.geteuid() != 0:
        return Sandbox(None, None, sys.executable, site_dirs)
    uid, gid = sandbox_user()
    python, library_path = sys.executable, None
    stdlib = sysconfig.get_paths()["stdlib"]
    if not (reachable(sys.executable, uid, gid) and reachable(stdlib, uid, gid)):
        python, library_path = _mirrored_interpreter()
    # /tmp of a worker is its own: nothing it runs from may live under the host's /tmp.
    outside_tmp = not any(_under_tmp(p) for p in (python, *site_dirs, library_path or "/"))
    return Sandbox(uid, gid, python, site_dirs, library_path, outside_tmp and _can_unshare_mounts(uid, gid))


def _under_tmp(path: str) -> bool:
    return os.path.realpath(path).startswith("/tmp/") or os.path.realpath(path) == "/tmp"


def code_root_parent() -> str | None:
    """Where the Lambda component unpacks code: outside /tmp when workers get a /tmp of their own
    (root-owned, every user may traverse it); None for the default temporary directory."""
    if not sandbox().private_tmp:
        return None
    path = os.path.join(os.path.dirname(RUNTIME_CACHE), "lambda-code")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o755)
    os.chmod(path, 0o755)
    return path


def _can_unshare_mounts(uid: int, gid: int) -> bool:
    """Whether this host lets root give a child a mount namespace with its own /tmp (not in
    every container): tried once, on a throwaway folder, exactly as a worker will do it."""
    probe_dir = ""
    try:
        probe_dir = tempfile.mkdtemp(prefix="local_aws-lambda-probe-", dir=os.path.dirname(RUNTIME_CACHE))
        os.chown(probe_dir, uid, gid)
        box = Sandbox(uid, gid, sys.executable, (), None, True)
        subprocess.run(["true"], preexec_fn=enter_sandbox(box, probe_dir), check=True, timeout=30)  # noqa: PLW1509
        return True
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("Lambda handlers share the host's /tmp: no private mount namespace (%s)", error)
        return False
    finally:
        if probe_dir:
            shutil.rmtree(probe_dir, ignore_errors=True)


_CLONE_NEWNS = 0x00020000  # from <sched.h>
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000  # from <sys/mount.h>


def enter_sandbox(box: Sandbox, tmp_dir: str | None) -> Callable[[], None]:
    """What a worker's child process does between fork and exec, as root: a mount namespace of
    its own with ``tmp_dir`` bound on /tmp (when the host allows it), then the sandbox user with
    no supplementary groups. Everything it calls is resolved here, in the parent."""
    libc = ctypes.CDLL(None, use_errno=True)
    unshare, mount = libc.unshare, libc.mount
    private, use_namespace = (tmp_dir or "").encode(), box.private_tmp and tmp_dir is not None
    uid, gid = box.uid, box.gid

    def enter() -> None:
        if use_namespace:
            if unshare(_CLONE_NEWNS) != 0 or mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "no mount namespace for the Lambda sandbox")
            if mount(private, b"/tmp", None, _MS_BIND, None) != 0:
                raise OSError(ctypes.get_errno(), "cannot give the Lambda sandbox a private /tmp")
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        os.umask(0o077)

    return enter


def _package_sources(label: str, packages: Sequence[tuple[str, str]]) -> list[str]:
    """The files and folders of ``packages`` (import name, distribution name) in this server's
    environment: each package, its dist-info and the shared libraries its wheel vendors beside it
    (auditwheel's ``<distribution>.libs``: numpy's OpenBLAS)."""
    sources: list[str] = []
    for module, distribution in packages:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"the Lambda {label} folder needs {module}, which is not installed")
        locations = list(spec.submodule_search_locations or [])
        path = locations[0] if locations else spec.origin
        sources.append(path)
        folder = os.path.dirname(path)
        sources.extend(sorted(glob.glob(os.path.join(folder, f"{distribution}-*.dist-info")))[:1])
        vendored = os.path.join(folder, f"{distribution.lower()}.libs")
        if os.path.isdir(vendored):
            sources.append(vendored)
    return sources


def package_site(label: str, packages: Sequence[tuple[str, str]]) -> str:
    """A directory holding only ``packages`` (import name, distribution name), linked once out of
    the server's site-packages into the runtime cache (``<label>-<key>``, read-only for the
    sandbox user, a new one when a package is upgraded) and shared by every worker."""
    sources = _package_sources(label, packages)
    target = os.path.join(_cache_root(), f"{label}-{_key(*sources)}")

    def build(staging: str) -> None:
        for source in sources:
            name = os.path.basename(source)
            if os.path.isdir(source):
                _link_tree(source, os.path.join(staging, name), frozenset({"__pycache__"}))
            else:
                _link_file(source, os.path.join(staging, name))
                os.chmod(os.path.join(staging, name), 0o644)

    return _publish(target, build)


def runtime_site() -> str:
    """A directory holding only the packages AWS's Python runtime ships (boto3 and its
    dependencies), linked once out of the server's site-packages and shared by every worker."""
    return package_site("boto3", RUNTIME_PACKAGES)


# -- the user -------------------------------------------------------------------------------
def sandbox_user() -> tuple[int, int]:
    """Uid and gid of the sandbox user, created if missing (the caller runs as root)."""
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        _create_user()
        try:
            entry = pwd.getpwnam(SANDBOX_USER)
        except KeyError:
            log.warning(
                "could not create the user %s; Lambda handlers run as %s", SANDBOX_USER, FALLBACK_USER
            )
            entry = pwd.getpwnam(FALLBACK_USER)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise RuntimeError(f"the Lambda sandbox user {entry.pw_name} must not be root")
    return entry.pw_uid, entry.pw_gid


def _create_user() -> None:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    command = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        "--comment",
        "local_aws Lambda handlers",
        SANDBOX_USER,
    ]
    try:
        # A concurrent server may win the race: "already exists" is then fine.
        subprocess.run(command, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("useradd failed: %s", error)


# -- what the user can reach ----------------------------------------------------------------
def _allows(info: os.stat_result, uid: int, gid: int, wanted: int) -> bool:
    if info.st_uid == uid:
        bits = (info.st_mode >> 6) & 7
    elif info.st_gid == gid:
        bits = (info.st_mode >> 3) & 7
    else:
        bits = info.st_mode & 7
    return bits & wanted == wanted


def reachable(path: str, uid: int, gid: int) -> bool:
    """Whether that user (no supplementary groups) can traverse to ``path`` and read it."""
    for candidate in dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]):
        parent = os.path.dirname(candidate)
        while True:
            try:
                if not _allows(os.stat(parent), uid, gid, 1):
                    return False
            except OSError:
                return False
            if parent == os.path.dirname(parent):
                break
            parent = os.path.dirname(parent)
    try:
        info = os.stat(path)
    except OSError:
        return False
    return _allows(info, uid, gid, 5 if stat.S_ISDIR(info.st_mode) else 4)


# -- mirrors --------------------------------------------------------------------------------
def _cache_root() -> str:
    """A root-owned directory every user can traverse and only root can write."""
    try:
        for path in (os.path.dirname(RUNTIME_CACHE), RUNTIME_CACHE):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o755)
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
                raise PermissionError(f"{path} is not a directory that only root can write")
            os.chmod(path, 0o755)  # a umask of 077 would hide the mirror from the sandbox user
        return RUNTIME_CACHE
    except OSError as error:
        fallback = tempfile.mkdtemp(prefix="local_aws-lambda-runtime-")
        os.chmod(fallback, 0o755)
        log.warning(
            "cannot use %s (%s); mirroring the Python runtime into %s", RUNTIME_CACHE, error, fallback
        )
        return fallback


def _key(*paths: str) -> str:
    parts = [f"{p}:{os.stat(p).st_mtime_ns}" for p in paths]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _publish(target: str, build: object) -> str:
    """Build into a staging dir next to ``target`` and rename it into place (first one wins)."""
    if os.path.isdir(target):
        return target
    staging = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=".staging-")
    try:
        build(staging)  # type: ignore[operator]
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(target):
            raise
    return target


def _link_tree(source: str, target: str, skip: frozenset[str] = frozenset()) -> None:
    """Hard-link every file of ``source`` under ``target``; copy when linking is impossible."""
    for root, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if not (root == source and d in skip)]
        here = os.path.join(target, os.path.relpath(root, source))
        os.makedirs(here, exist_ok=True)
        os.chmod(here, 0o755)
        for name in files:
            src, dst = os.path.join(root, name), os.path.join(here, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _mirrored_interpreter() -> tuple[str, str]:
    """The interpreter, libpython and stdlib, where the sandbox user can run them."""
    executable = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths()["stdlib"]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = os.path.join(_cache_root(), f"{version}-{_key(executable, stdlib)}")

    def build(staging: str) -> None:
        os.makedirs(os.path.join(staging, "bin"), mode=0o755)
        os.makedirs(os.path.join(staging, "lib"), mode=0o755)
        _link_file(executable, os.path.join(staging, "bin", version))
        shared = os.path.join(libdir, soname)
        if ".so" in soname and os.path.isfile(shared):
            _link_file(shared, os.path.join(staging, "lib", soname))
        # Python finds its prefix from lib/pythonX.Y/os.py next to bin/: the mirror is one.
        _link_tree(stdlib, os.path.join(staging, "lib", version), _STDLIB_SKIP)

    log.info("mirroring %s for the Lambda sandbox into %s", executable, target)
    _publish(target, build)
    return os.path.join(target, "bin", version), os.path.join(target, "lib")


def _link_file(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


__all__ = [
    "RUNTIME_PACKAGES",
    "SANDBOX_USER",
    "Sandbox",
    "code_root_parent",
    "enter_sandbox",
    "package_site",
    "reachable",
    "runtime_site",
    "sandbox",
    "sandbox_user",
]
