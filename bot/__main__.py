"""``python -m bot`` runs the same CLI as the ``paperboy`` command."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
