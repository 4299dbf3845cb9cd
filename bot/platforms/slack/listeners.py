"""What Slack sends the bot: ``/papers`` commands, button clicks and reaction events.

Every listener acks at once and does its work in a background task (``shared.Background``), so
Slack always gets its ack well inside 3 seconds. Command answers go back over the
``response_url`` as the core built them (its private lookups carry "Share to channel"); a share
posts the answer the user saw, kept by the core under the button's id, to the channel.
Reactions become votes, applied in the order they arrived for each (message, user). A user
never sees a traceback: failures are logged and answered with a short apology.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.core.errors import CommandError, PermanentError
from bot.core.messages import Invocation, Reply
from bot.platforms import shared
from bot.platforms.base import CommandHandler, ReactionHandler
from bot.platforms.slack import translate as tr
from bot.platforms.slack.connection import SlackConnection
from bot.platforms.slack.posting import SlackPosting
from bot.platforms.slack.render import render_message
from bot.platforms.slack.users import UserDirectory

log = logging.getLogger(__name__)

SHARE_EVENT = "paperboy_share"

Ack = Callable[..., Awaitable[Any]]


class _Listener:
    def __init__(
        self, conn: SlackConnection, work: shared.Background, workspace_fallback: str
    ) -> None:
        self._conn = conn
        self._work = work
        self._fallback = workspace_fallback

    @property
    def _workspace(self) -> str:
        return self._fallback or self._conn.team_id


class CommandListeners(_Listener):
    """``/papers`` slash commands and the buttons on its answers (paging, sharing)."""

    def __init__(
        self,
        conn: SlackConnection,
        work: shared.Background,
        workspace_fallback: str,
        *,
        commands: CommandHandler,
        users: UserDirectory,
        posting: SlackPosting,
        render_options: dict[str, Any],
    ) -> None:
        super().__init__(conn, work, workspace_fallback)
        self._commands = commands
        self._users = users
        self._posting = posting
        self._render_options = render_options

    def register(self, app: AsyncApp) -> None:
        app.command(re.compile(r"^/papers[\w-]*$"))(self._on_command)
        app.action(re.compile(r"^papers_"))(self._on_action)

    async def _on_command(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        req = tr.command_request(body, self._workspace)
        self._work.spawn(self._answer(req, replace_original=None))

    async def _on_action(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        name = tr.action_name(str(action.get("action_id", "")))
        if name is None or name == "link":  # link buttons open a URL: nothing to do
            return
        value = str(action.get("value", ""))
        req = tr.action_request(body, value, self._workspace)
        if name == shared.SHARE_ACTION:
            self._work.spawn(self._share(req))
        else:  # paging and other command buttons re-run their command in place
            self._work.spawn(self._answer(req, replace_original=True))

    async def _run(self, req: tr.CommandRequest) -> Reply:
        team = req.channel.workspace
        is_admin = await self._users.is_admin(team, req.user_id) if req.user_id else False
        inv = Invocation(
            channel=req.channel,
            user_id=req.user_id,
            text=req.text,
            is_admin=is_admin,
            user_name=req.user_name,
        )
        return await self._commands.handle(inv)

    async def _answer(self, req: tr.CommandRequest, *, replace_original: bool | None) -> None:
        try:
            try:
                reply = await self._run(req)
            except CommandError as exc:
                await self._conn.respond(req.response_url, tr.notice(str(exc)))
                return
            body = tr.response_body(
                reply.message, self._render_options, replace_original=replace_original
            )
            await self._conn.respond(req.response_url, body)
        except Exception:
            log.exception("slack command %r failed", req.text[:200])
            await self._sorry(req)

    async def _share(self, req: tr.CommandRequest) -> None:
        """Post the answer kept under the button's id (``req.text``), or tell the user why
        it cannot be shared."""
        try:
            reply = await self._commands.share(req.channel, req.text)
            if reply.message.ephemeral:
                body = tr.response_body(reply.message, self._render_options, replace_original=False)
                await self._conn.respond(req.response_url, body)
                return
            rendered = tr.shared_by(
                render_message(reply.message, **self._render_options), req.user_id
            )
            metadata = {"event_type": SHARE_EVENT, "event_payload": {"user": req.user_id}}
            try:
                ts = await self._posting.post_rendered(
                    req.channel.workspace, req.channel.channel, rendered, metadata
                )
            except PermanentError as exc:
                log.warning("share to %s refused: %s", req.channel, exc.reason)
                await self._conn.respond(req.response_url, tr.notice(tr.CANNOT_POST))
                return
            await self._commands.shared(req.channel, ts, reply)
            await self._conn.respond(req.response_url, {"delete_original": True})
        except Exception:
            log.exception("slack share %r failed", req.text[:80])
            await self._sorry(req)

    async def _sorry(self, req: tr.CommandRequest) -> None:
        try:
            await self._conn.respond(req.response_url, tr.notice(tr.SORRY))
        except Exception as exc:
            log.warning("could not tell the user something went wrong: %s", exc)


class ReactionListener(_Listener):
    """``reaction_added`` / ``reaction_removed`` events as votes (bots marked as such)."""

    def __init__(
        self,
        conn: SlackConnection,
        work: shared.Background,
        workspace_fallback: str,
        *,
        reactions: ReactionHandler,
        users: UserDirectory,
    ) -> None:
        super().__init__(conn, work, workspace_fallback)
        self._reactions = reactions
        self._users = users
        self.ordered = shared.KeyedSerial(work)

    def register(self, app: AsyncApp) -> None:
        app.event("reaction_added")(self._on_reaction)
        app.event("reaction_removed")(self._on_reaction)

    async def _on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Queued at once, per (channel, message, user): an add and the remove after it are
        applied in that order even when the first one's user lookup is slow."""
        user = str(event.get("user", ""))
        item = event.get("item") or {}
        key = (item.get("channel"), item.get("ts"), user)
        self.ordered.submit(key, self._vote(body, user))

    async def _vote(self, body: dict[str, Any], user_id: str) -> None:
        try:
            team = tr.team_of(body, self._workspace)
            is_bot = await self._users.is_bot(team, user_id) if user_id else False
            ev = tr.reaction_event(body, user_is_bot=is_bot, workspace=self._workspace)
            if ev is not None:
                await self._reactions.on_reaction(ev)
        except Exception:
            log.exception("slack reaction event %s failed", body.get("event_id"))
