"""Replays a recorded agent stream, with the recorded native id swapped for the one
tether passed (``--session-id``, ``--resume`` or ``--name``, as ``=X`` or ``X``).

Usage: replay_agent.py RECORDING RECORDED_ID [the agent's own argv...]
"""

import sys
from pathlib import Path

ID_FLAGS = ("--session-id", "--resume", "--name")


def passed_id(argv: list[str]) -> str | None:
    for index, word in enumerate(argv):
        flag, eq, value = word.partition("=")
        if flag in ID_FLAGS:
            if eq:
                return value
            if index + 1 < len(argv):
                return argv[index + 1]
    return None


def main(argv: list[str]) -> int:
    recording, recorded_id, rest = Path(argv[0]), argv[1], argv[2:]
    native_id = passed_id(rest) or recorded_id
    sys.stdout.write(recording.read_text().replace(recorded_id, native_id))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
