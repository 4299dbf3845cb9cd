"""Where test data lives."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures"
REPO = TESTS.parent
