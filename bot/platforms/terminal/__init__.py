"""The terminal as a chat platform: digests and answers printed, commands typed or piped."""

from bot.platforms.terminal.adapter import TerminalAdapter, supports_color

__all__ = ["TerminalAdapter", "supports_color"]
