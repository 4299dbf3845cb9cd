"""Discord through discord.py 2.x: digests as embeds, ``/papers`` app commands, reaction votes.

The adapter (``adapter``) puts the parts together: the connection and its shards (``gateway``),
posting and finding posts again (``posting``), the vote keycaps, reading reactions back and
votes (``reactions``). The client and its pacing (``client``), shards shared by replicas
through the store's leases (``shards``), commands and buttons (``command_tree``,
``interactions``), rendering (``render``) and endpoint overrides (``endpoints``)."""

import bot.platforms.discord.render  # noqa: F401  (imports discord.py quietly first)
from bot.platforms.discord.adapter import DiscordAdapter
from bot.platforms.discord.invite import INVITE_PERMISSIONS, discord_invite_url

__all__ = ["INVITE_PERMISSIONS", "DiscordAdapter", "discord_invite_url"]
