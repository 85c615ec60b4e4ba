"""Entry point: ``tether usage`` answered without click when it can be, else the click group.

Loading click and the group costs more than the report itself; ``quick``
answers the plain forms of the report and hands everything else (help, a
bad argument, an error, another command) to the group, which then behaves
exactly as it always does.
"""

import sys


def main() -> None:
    from tether.cli import quick

    if not quick.run(sys.argv[1:]):
        from tether.cli.group import cli

        cli(prog_name="tether")


if __name__ == "__main__":
    main()
