"""Receivers of tether's notices for tests: a real HTTP server on 127.0.0.1 and a
command that appends what it was given (argv, environment, stdin) to a file."""

import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support import DEADLINE_S

RECORDER = (
    "import json, os, sys\n"
    "with open(sys.argv[1], 'a') as f:\n"
    "    f.write(json.dumps({'argv': sys.argv[2:], 'tag': os.environ['TETHER_NOTICE_TAG'],\n"
    "        'stdin': json.loads(sys.stdin.read())}) + '\\n')\n"
)


class Receiver:
    """An HTTP server on 127.0.0.1 recording each POST; ``answer`` decides the status from
    the request's number; every request waits at ``gate`` (open unless a test closes it)."""

    def __init__(self, answer: Callable[[int], int]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answered: list[tuple[str, int]] = []
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                number = len(receiver.bodies)
                receiver.bodies.append(body)
                receiver.gate.wait(DEADLINE_S)
                status = answer(number)
                try:
                    self.send_response(status)
                    self.end_headers()
                    receiver.answered.append((body["tag"], status))
                except OSError:
                    pass  # the notifier gave up waiting: a timed-out attempt

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[str]:
        return [tag for tag, status in self.answered if status == 200]

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def recorder(directory: Path) -> tuple[tuple[str, ...], Path]:
    """A ``[notify] command`` argv (with placeholders) and the file it appends to."""
    script, out = directory / "record.py", directory / "notices.jsonl"
    script.write_text(RECORDER)
    argv = (sys.executable, str(script), str(out), "{headline}", "--", "{body}", "{title}")
    return argv, out


def recorded(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
