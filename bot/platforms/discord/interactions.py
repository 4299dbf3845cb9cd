"""Running ``/papers`` interactions (commands from ``command_tree``, and their buttons).

Each subcommand hands its text form (``search attention page:2``) to ``Runner.run``, which asks
the core's ``CommandHandler``; admin subcommands are checked here on every call. Discord's
3-second deadline is for the *initial* response, so every command and button is acknowledged
first, before any catalog work: a private "thinking" defer for commands and for "Share to
channel" (replies are ephemeral unless the core says otherwise), a silent update for paging.
The answer then replaces the placeholder (``edit_original_response``); a public answer after a
private defer is sent as a follow-up. Autocomplete cannot be deferred and answers directly.
Replies are shown as the core built them: its private lookups carry a "Share to channel"
button whose id names the answer as the core kept it; sharing posts exactly that answer. Errors
are logged and the user gets a short apology, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import zoneinfo
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord import app_commands
from discord.utils import MISSING

from bot.core.messages import Invocation, Message, Reply
from bot.platforms import shared
from bot.platforms.base import CommandHandler
from bot.platforms.discord import translate as tr
from bot.platforms.discord.render import RenderedDiscord, render_message

log = logging.getLogger("paperboy.discord")

NONE = discord.AllowedMentions.none()
ButtonItem = discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]]


class ButtonFactory(Protocol):
    def __call__(
        self, action: str, text: str | None, label: str = "", *, custom_id: str = ""
    ) -> ButtonItem: ...


@dataclass(frozen=True)
class Answer:
    """The core's reply, the message to show for it, and that message rendered for Discord."""

    reply: Reply
    message: Message
    rendered: RenderedDiscord
    view: discord.ui.View | None


class AckFirst:
    """Acknowledgements before command work.

    Discord's deadline is on the initial response. In a burst, the commands acknowledged first
    would otherwise do their catalog work on the same event loop (and GIL) while the ones
    behind them still wait to send theirs; so work starts once no acknowledgement is in
    flight, or after ``max_wait`` at most (a steady stream of newcomers cannot starve it).
    """

    def __init__(self, max_wait: float = 0.25) -> None:
        self._max_wait = max_wait
        self._acking = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def ack(self, respond: Awaitable[Any]) -> None:
        """Send an initial response (``respond``: e.g. ``interaction.response.defer()``)."""
        self._acking += 1
        self._idle.clear()
        try:
            await respond
        finally:
            self._acking -= 1
            if not self._acking:
                self._idle.set()

    async def turn(self) -> None:
        """Return when command work may start: pending acknowledgements are out."""
        if self._acking:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._max_wait):
                    await self._idle.wait()


class Runner:
    """Runs one interaction: acknowledges it at once, asks the core, then answers."""

    def __init__(
        self,
        commands: CommandHandler,
        *,
        render_options: dict[str, Any],
        ack_wait: float = 0.25,
    ) -> None:
        self.commands = commands
        self.render_options = render_options
        self.texts = tr.ButtonTexts()
        self.button_cls, self.make_button = _button_class(self)
        self.turns = AckFirst(ack_wait)
        self._timezones: list[str] | None = None

    # --- building blocks ------------------------------------------------------------------

    def invocation(self, interaction: discord.Interaction[Any], text: str) -> Invocation:
        user = interaction.user
        return Invocation(
            channel=tr.channel_ref(interaction.guild_id, interaction.channel_id),
            user_id=str(user.id),
            text=text,
            is_admin=self.is_admin(interaction),
            user_name=user.display_name,
        )

    @staticmethod
    def is_admin(interaction: discord.Interaction[Any]) -> bool:
        """Manage Server in this channel (Administrator implies it); never in DMs."""
        return interaction.guild_id is not None and interaction.permissions.manage_guild

    def render(self, msg: Message) -> RenderedDiscord:
        return render_message(msg, **self.render_options)

    def view(self, msg: Message) -> discord.ui.View | None:
        """Link buttons and command buttons (persistent: they carry their command)."""
        view = discord.ui.View(timeout=None)
        for b in tr.action_buttons(msg):
            view.add_item(self.make_button(b.action or "", b.value.strip(), b.label))
        for link in tr.link_buttons(msg):
            view.add_item(discord.ui.Button(label=link["label"], url=link["url"]))
        return view if view.children else None

    async def prepare(
        self, interaction: discord.Interaction[Any], text: str, *, public: bool = False
    ) -> Answer:
        """Ask the core and render its answer (as the core built it; ``public``: the version
        for the channel): the catalog work, after the acknowledgements."""
        inv = self.invocation(interaction, text)
        await self.turns.turn()
        reply = await self.commands.handle(inv)
        msg = shared.public_version(reply.message) if public else reply.message
        return Answer(reply, msg, self.render(msg), self.view(msg))

    # --- slash commands -------------------------------------------------------------------

    async def run(
        self, interaction: discord.Interaction[Any], text: str, *, admin: bool = False
    ) -> None:
        """Answer ``/papers <text>`` (or an admin subcommand)."""
        try:
            if admin and not self.is_admin(interaction):
                log.info("refused admin command from %s", interaction.user.id)
                await self.notice(interaction, tr.NOT_ADMIN)
                return
            await self.turns.ack(interaction.response.defer(ephemeral=True, thinking=True))
            ans = await self.prepare(interaction, text)
            await self.answer(interaction, ans)
        except Exception:
            log.exception("discord command %r failed", text[:200])
            await self.sorry(interaction)

    async def answer(self, interaction: discord.Interaction[Any], ans: Answer) -> None:
        """Replace the private "thinking" placeholder with the answer; a public answer is
        posted as a follow-up (the placeholder says so) and recorded for votes."""
        msg, embeds, view = ans.message, ans.rendered.embeds, ans.view
        if msg.ephemeral:
            await interaction.edit_original_response(
                content=None, embeds=embeds, view=view, allowed_mentions=NONE
            )
            return
        await interaction.edit_original_response(content=tr.POSTED_PUBLICLY)
        sent = await interaction.followup.send(
            embeds=embeds,
            view=view if view is not None else MISSING,
            ephemeral=False,
            allowed_mentions=NONE,
            wait=True,
        )
        if ans.reply.paper_ids:
            channel = tr.channel_ref(interaction.guild_id, interaction.channel_id)
            await self.commands.shared(channel, str(sent.id), ans.reply)

    async def notice(self, interaction: discord.Interaction[Any], text: str) -> None:
        """A short private note; after a "thinking" defer it replaces the placeholder."""
        embed = discord.Embed(description=text, colour=0xF0B232)
        kind = interaction.response.type
        if kind == discord.InteractionResponseType.deferred_channel_message:
            await interaction.edit_original_response(
                content=None, embed=embed, view=None, allowed_mentions=NONE
            )
        elif interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NONE)
        else:
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=NONE
            )

    async def sorry(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.notice(interaction, tr.SORRY)
        except Exception as exc:  # the token may have expired: nothing more to do
            log.warning("could not tell the user something went wrong: %r", exc)

    # --- buttons --------------------------------------------------------------------------

    async def on_button(
        self, interaction: discord.Interaction[Any], action: str, text: str | None
    ) -> None:
        try:
            if text is None:
                await self.notice(interaction, tr.EXPIRED)
            elif action == shared.SHARE_ACTION:
                await self.share(interaction, text)
            else:
                await self.page(interaction, text)
        except Exception:
            log.exception("discord button %s %r failed", action, (text or "")[:200])
            await self.sorry(interaction)

    async def page(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Re-run the command and replace the (private) message the button is on: a silent
        deferred update first, then the edit."""
        await self.turns.ack(interaction.response.defer())
        ans = await self.prepare(interaction, text)
        await interaction.edit_original_response(
            embeds=ans.rendered.embeds, view=ans.view, allowed_mentions=NONE
        )

    async def share(self, interaction: discord.Interaction[Any], share_id: str) -> None:
        """Post the answer the user saw (kept by the core under the button's id) publicly, as a
        follow-up that names who shared it; its papers then take votes. The private "thinking"
        placeholder says it was posted, or why it cannot be."""
        await self.turns.ack(interaction.response.defer(ephemeral=True, thinking=True))
        channel = tr.channel_ref(interaction.guild_id, interaction.channel_id)
        reply = await self.commands.share(channel, share_id)
        msg = reply.message
        if msg.ephemeral:
            await interaction.edit_original_response(
                content=None, embeds=self.render(msg).embeds, view=None, allowed_mentions=NONE
            )
            return
        view = self.view(msg)
        await interaction.edit_original_response(content=tr.POSTED_PUBLICLY)
        sent = await interaction.followup.send(
            content=tr.shared_by(interaction.user.id),
            embeds=self.render(msg).embeds,
            view=view if view is not None else MISSING,
            ephemeral=False,
            allowed_mentions=NONE,
            wait=True,
        )
        await self.commands.shared(channel, str(sent.id), reply)

    # --- autocomplete ---------------------------------------------------------------------

    def suggest(self, current: str) -> list[app_commands.Choice[str]]:
        try:
            return tr.choices(self.commands.suggest(current[:200], tr.MAX_CHOICES))
        except Exception:
            log.exception("autocomplete failed for %r", current[:100])
            return []

    def timezones(self, current: str) -> list[app_commands.Choice[str]]:
        if self._timezones is None:
            self._timezones = sorted(zoneinfo.available_timezones())
        needle = current.strip().casefold()
        hits = [tz for tz in self._timezones if needle in tz.casefold()]
        hits.sort(key=lambda tz: (not tz.casefold().startswith(needle), tz))
        return tr.choices([(tz, tz) for tz in hits[: tr.MAX_CHOICES]])


def _button_class(runner: Runner) -> tuple[type[ButtonItem], ButtonFactory]:
    """A persistent button class bound to ``runner`` (dispatched by custom_id pattern, so
    buttons on messages sent before a restart still work)."""

    class CommandButton(ButtonItem, template=tr.BUTTON_TEMPLATE):
        def __init__(
            self, action: str, text: str | None, label: str = "", *, custom_id: str = ""
        ) -> None:
            style = (
                discord.ButtonStyle.primary
                if action == shared.SHARE_ACTION
                else discord.ButtonStyle.secondary
            )
            super().__init__(
                discord.ui.Button(
                    label=(label or action)[: tr.BUTTON_LABEL_MAX],
                    style=style,
                    custom_id=custom_id or runner.texts.custom_id(action, text or ""),
                )
            )
            self.action = action
            self.text = text

        @classmethod
        async def from_custom_id(
            cls,
            interaction: discord.Interaction[Any],
            item: discord.ui.Item[Any],
            match: re.Match[str],
            /,
        ) -> CommandButton:
            return cls(
                match["action"],
                runner.texts.text(match),
                str(getattr(item, "label", None) or ""),
                custom_id=match.group(0),
            )

        async def callback(self, interaction: discord.Interaction[Any]) -> None:
            await runner.on_button(interaction, self.action, self.text)

    return CommandButton, CommandButton
