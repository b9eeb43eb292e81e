"""``python -m pinterest_emulator``: serve the emulator, as ``target-pinterest-audiences-emulator`` does."""

from pinterest_emulator.cli import main

raise SystemExit(main())
