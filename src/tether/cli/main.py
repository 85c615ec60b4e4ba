"""Entry point: ``tether usage`` answered without click when it can be, else the click group.

Loading click and the group costs more than the report itself; ``quick``
answers the plain forms of the report and hands everything else (help, a
bad argument, an error, another command) to the group, which then behaves
exactly as it always does.
"""

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["usage"]:  # every other command loads nothing more than before
        from tether.cli import quick

        if quick.run(args):
            return
    from tether.cli.group import cli

    cli(prog_name="tether")


if __name__ == "__main__":
    main()
