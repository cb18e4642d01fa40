"""The ``kongtx`` subcommands other than ``migrations`` (which lives in :mod:`kongtx.cli`).

Each module adds its subparsers and sets ``func(args) -> exit status``:
:mod:`.config` (``config init|parse|db_import|db_export``), :mod:`.node`
(``start|stop|restart|reload|quit|health``), :mod:`.info` (``check``,
``version``).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands", "run"]


def add_commands(sub: Any) -> None:
    """Register every subcommand on ``sub`` (an argparse subparsers action)."""
    from kongtx.commands import config, info, node

    config.add(sub)
    node.add(sub)
    info.add(sub)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand ``args`` was parsed for; returns the exit status."""
    return int(args.func(args))
