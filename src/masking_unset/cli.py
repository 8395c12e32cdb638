"""The ``masking-unset`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _default_events_dir() -> Path:
    return Path.cwd() / "events"


def cmd_demo(args: argparse.Namespace) -> int:
    """Run both handlers on every file in events/ against the local stand-ins."""
    from masking_unset.local.demo import run

    events_dir = Path(args.events)
    if not (events_dir / "manifest.json").is_file():
        print(f"error: {events_dir}/manifest.json not found", file=sys.stderr)
        return EXIT_USAGE
    return run(events_dir, verbose=args.verbose)


def cmd_resign(args: argparse.Namespace) -> int:
    """Print an API Gateway event file re-signed with a fresh timestamp (for sam local invoke)."""
    from masking_unset.local.stack import DEMO_WEBHOOK_SECRET, resign_api_event

    secret = Path(args.secret_file).read_text().strip() if args.secret_file else DEMO_WEBHOOK_SECRET
    event = json.loads(Path(args.event).read_text())
    print(json.dumps(resign_api_event(event, secret), indent=2))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="masking-unset",
        description="Expire DeepCall maskings when support tickets close: local tools.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run both handlers on events/ against a local AWS endpoint and DeepCall"
    )
    demo.add_argument("--events", default=str(_default_events_dir()), help="events folder")
    demo.add_argument("--verbose", action="store_true", help="show the functions' own logs")
    demo.set_defaults(func=cmd_demo)

    resign = commands.add_parser(
        "resign", help="re-sign a generic-source API event file with a fresh timestamp"
    )
    resign.add_argument("event", help="an events/*.json file")
    resign.add_argument(
        "--secret-file", help="file holding the whsec_ signing secret (default: the demo secret)"
    )
    resign.set_defaults(func=cmd_resign)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
