"""``python -m connectors.cloze.emulator --port 8765 --seed 200``."""

from connectors.cloze.emulator.cli import main

raise SystemExit(main())
