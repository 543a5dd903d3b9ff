"""Serve this bundle folder so the page is cross-origin isolated, which lets onnxruntime-web use threads.

    python3 serve.py [--port 8000] [--bind 127.0.0.1]

Multi-threaded WebAssembly needs SharedArrayBuffer, which browsers grant only to a cross-origin
isolated page: the page itself must come with `Cross-Origin-Opener-Policy: same-origin` and
`Cross-Origin-Embedder-Policy: require-corp`, and everything it loads must be same-origin (this
bundle is) or opt in with `Cross-Origin-Resource-Policy`. Python's `python3 -m http.server` sends
neither header, so the page runs on one thread there; it works the same, only slower. Any server you
deploy behind can send the same three headers instead of running this script. Standard library only.
"""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class IsolatedHandler(SimpleHTTPRequestHandler):
    # module scripts and wasm must carry their own types (some systems' mime tables lack .mjs)
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--directory", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to serve (default: the bundle this script sits in)")
    args = parser.parse_args()
    handler = functools.partial(IsolatedHandler, directory=str(args.directory))
    with ThreadingHTTPServer((args.bind, args.port), handler) as server:
        host, port = server.server_address[:2]
        print(f"serving {args.directory} cross-origin isolated at http://{host}:{port}/ "
              f"(self-test: http://{host}:{port}/index.html?selftest=1)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
