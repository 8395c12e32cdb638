"""Print a source's demo secret: ``python -m masking_unset_tools.local.demo_secret freshdesk``.

``sign --demo-secret`` puts this in its curl line for a source whose token is the secret itself,
so the token is read when curl runs and never printed by ``sign``. Demo secrets protect nothing:
they are the registry's ``new_secret(f"demo-{name}")``, the ones the local stand-ins hold.
"""

from __future__ import annotations

import shlex
import sys

from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS


def shell_command(source: str) -> str:
    """A shell command that prints ``source``'s demo secret (this module, this interpreter)."""
    return f"{shlex.quote(sys.executable)} -m {__name__} {shlex.quote(source)}"


def main(argv: list[str]) -> int:
    """Print the demo secret of the source named in ``argv``; exit 2 for an unknown source."""
    if len(argv) != 1 or argv[0] not in DEMO_SOURCE_SECRETS:
        print(f"usage: demo_secret {{{','.join(sorted(DEMO_SOURCE_SECRETS))}}}", file=sys.stderr)
        return 2
    print(DEMO_SOURCE_SECRETS[argv[0]][0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
