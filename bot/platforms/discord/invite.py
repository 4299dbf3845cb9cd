"""The OAuth2 URL that adds the bot to a server with exactly the permissions it uses."""

from __future__ import annotations

import discord

from bot.core.errors import ConfigError

# View Channel, Send Messages, Embed Links, Add Reactions (seeding 1️⃣..🔟), Read Message
# History (finding a post whose outcome was unknown). Nothing else: no mentions, no admin.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    add_reactions=True,
    read_message_history=True,
)


def discord_invite_url(application_id: str) -> str:
    """``https://discord.com/oauth2/authorize?client_id=...&scope=bot+applications.commands
    &permissions=N`` for the application (its id is in the developer portal)."""
    app_id = str(application_id).strip()
    if not app_id.isdigit() or len(app_id) > 22:
        raise ConfigError(
            "discord.application_id", f"expected a numeric Discord id, got {app_id!r}"
        )
    return (
        "https://discord.com/oauth2/authorize"
        f"?client_id={app_id}&scope=bot+applications.commands"
        f"&permissions={INVITE_PERMISSIONS.value}"
    )
