"""``/papers subscribe|unsubscribe|schedule|preview|post|feed`` (``/papers-admin`` on Discord):
a channel's digest subscription and its private web link. ``commands`` lets only admins reach these.

A schedule set here counts from now: its first fire is the "Next run" the reply shows, never a
fire "missed" under the old schedule. It stays set until the config file's entry for the
channel (if any) is edited: whichever changed last wins, and ``schedule`` says which it is."""

from __future__ import annotations

import shlex
from zoneinfo import ZoneInfo

from bot.chat.context import CommandContext, Handler, admin_command, notice
from bot.config.checks import validate_cron, validate_timezone
from bot.core.messages import Field, Invocation, Message, Reply
from bot.core.text import truncate_words
from bot.core.weblinks import absolute, channel_path, new_token
from bot.delivery.digest import delivered_as
from bot.delivery.scheduler import next_fire
from bot.storage.records import Subscription

DEFAULT_CRON = "0 9 * * MON"


async def subscribe(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    kind, tz, cron = parse_subscribe(rest)
    current = await ctx.store.get_subscription(inv.channel)
    cron = cron or (current.cron if current else DEFAULT_CRON)
    tz = tz or (current.timezone if current else ctx.default_timezone)
    problem = validate_cron(cron)
    if problem is not None:
        return notice(
            "That schedule is not valid",
            f"`{truncate_words(cron, 60)}` is not a valid cron expression: {problem}. "
            f"Example: `{admin_command(inv.channel.platform)} subscribe {DEFAULT_CRON} "
            "Europe/London` (Mondays 09:00).",
        )
    if not validate_timezone(tz):
        return notice(
            "Unknown timezone",
            f"`{truncate_words(tz, 60)}` is not a known IANA timezone, "
            "e.g. Europe/London, America/New_York, Asia/Tokyo or UTC.",
        )
    sub = await ctx.store.upsert_subscription(
        Subscription(
            inv.channel,
            cron,
            tz,
            "community" if kind == "community" else "curated",
            enabled=True,
            paused_reason=None,
            last_fire_at=ctx.clock.now(),  # a new schedule counts from now (kept if unchanged)
            origin="chat",
        )
    )
    if current is not None and not current.enabled:
        await ctx.store.set_paused(sub.id or 0, None)
    ctx.on_subscriptions_changed()
    if ctx.engine is not None:
        await ctx.engine.prepare(inv.channel)
    return notice("Subscribed", describe(ctx, sub))


def parse_subscribe(rest: str) -> tuple[str, str | None, str]:
    """(kind, timezone or None, cron or "") from ``[cron] [timezone] [curated|community]`` in
    any order; a word with a slash that is not a cron field is a timezone."""
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.replace('"', " ").replace("'", " ").split()
    kind = "curated"
    tz: str | None = None
    cron_parts: list[str] = []
    for t in tokens:
        if t.lower() in ("curated", "community"):
            kind = t.lower()
        elif ("/" in t and not t[0].isdigit() and t[0] != "*") or t in ("UTC", "GMT"):
            tz = t
        else:
            cron_parts.extend(t.split())
    return kind, tz, " ".join(cron_parts)


async def unsubscribe(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    current = await ctx.store.get_subscription(inv.channel)
    if await ctx.store.delete_subscription(inv.channel):
        ctx.on_subscriptions_changed()
        text = "This channel will get no more scheduled digests."
        if current is not None and current.origin == "config":
            text += (
                " The config file names it too: it stays unsubscribed until that entry is edited."
            )
        return notice("Unsubscribed", text)
    return notice("Not subscribed", "This channel has no digest subscription.")


async def subscription(ctx: CommandContext, inv: Invocation) -> Subscription | Reply:
    """This channel's subscription, or a notice telling the admin how to start one."""
    current = await ctx.store.get_subscription(inv.channel)
    if current is not None:
        return current
    return notice(
        "Not subscribed",
        "This channel has no digest subscription. Start one with "
        f"`{admin_command(inv.channel.platform)} subscribe {DEFAULT_CRON} "
        f"{ctx.default_timezone}`.",
    )


async def schedule(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    current = await subscription(ctx, inv)
    if isinstance(current, Reply):
        return current
    return notice("Digest schedule", describe(ctx, current))


async def preview(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    current = await subscription(ctx, inv)
    if isinstance(current, Reply):
        return current
    history = await ctx.store.channel_deliveries(inv.channel)
    sent = {r.digest_key for r in history if r.status != "pending"}
    digest = await ctx.digests.next_digest(current, sent, ctx.clock.now())
    done = delivered_as(history, digest) if digest is not None else None
    if digest is None or (done is not None and done.status != "pending"):
        return notice(
            "Nothing new to post",
            "The newest digest was already posted here (or there are no votes yet for a "
            "community digest). The next run will post nothing unless a new week arrives.",
        )
    m = digest.message
    return Reply(
        Message(
            header="Preview · " + m.header,
            url=m.url,
            sections=m.sections,
            context=("Only you can see this preview.",),
            kind="reply",
        ),
        paper_ids=digest.paper_ids,
    )


async def post(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    current = await subscription(ctx, inv)
    if isinstance(current, Reply):
        return current
    if ctx.engine is None:
        return notice("Posting is not available", "The delivery engine is not running.")
    outcome = await ctx.engine.deliver(current, queue=True)
    return notice("Post now", describe_outcome(outcome.status, outcome.error))


async def feed(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    """This channel's private web link (made on first use); ``feed rotate`` replaces it, and
    the old link answers "not found" from then on. Only the admin who asked sees the answer."""
    action = rest.strip().lower()
    cmd = admin_command(inv.channel.platform)
    if action not in ("", "rotate"):
        return notice(
            "feed takes one word, or none",
            f"`{cmd} feed` shows this channel's private web link; "
            f"`{cmd} feed rotate` replaces it (the old link stops working).",
        )
    if ctx.web_base_url is None:
        return notice(
            "The web archive is off",
            "This bot serves no web pages, so there is no link to give. To turn them on, set "
            "`web.enabled: true` and `web.base_url` (the pages' public address) in its config.",
        )
    token = await ctx.store.get_feed_token(inv.channel)
    rotated = token is not None and action == "rotate"
    if token is None or rotated:
        token = new_token()
        await ctx.store.set_feed_token(inv.channel, token, ctx.clock.now())
    page = absolute(ctx.web_base_url, channel_path(token))
    header = "New private link for this channel" if rotated else "This channel's private link"
    text = (
        "What Paperboy posted here and this channel's leaderboard, for anyone who has the link "
        "(it is listed nowhere). Add the feed to an RSS reader or Slack's RSS app."
    )
    if rotated:
        text = "The old link no longer works. " + text
    return Reply(
        Message(
            header=header,
            text=text,
            fields=(
                Field("Page", page),
                Field("Atom feed", page + "/feed.atom"),
                Field("RSS feed", page + "/feed.rss"),
            ),
            context=(f"`{cmd} feed rotate` replaces the link; the old one then stops working.",),
            kind="notice",
        )
    )


def describe(ctx: CommandContext, sub: Subscription) -> str:
    """A subscription in one line: kind, cron, timezone, state, the next run in local time, and
    where the schedule was set."""
    state = "active" if sub.enabled else f"paused ({sub.paused_reason or 'no reason given'})"
    nxt = next_fire(sub.cron, sub.timezone, ctx.clock.now())
    local = nxt.astimezone(ZoneInfo(sub.timezone))
    origin = (
        "Schedule from the config file (a change made here stays until that entry is edited)."
        if sub.origin == "config"
        else "Schedule set in chat (it stays until the config file's entry for this channel, "
        "if any, is edited)."
    )
    return (
        f"{sub.kind.capitalize()} digest, `{sub.cron}` in {sub.timezone}, {state}. "
        f"Next run: {local.strftime('%a %d %b %Y %H:%M')} {local.tzname()}. {origin}"
    )


def describe_outcome(status: str, error: str | None) -> str:
    return {
        "sent": "Posted this week's digest here.",
        "reconciled": "This week's digest was already posted here (found it); not posting again.",
        "already_sent": "This week's digest was already posted here; it is never posted twice.",
        "nothing_new": "Nothing new to post: the newest digest was already posted here.",
        "paused": f"Could not post: the subscription is paused ({error or 'no reason'}).",
        "queued": "Queued: the Paperboy process that sends digests posts it within seconds.",
        "in_progress": "This week's digest is being posted here right now.",
    }.get(status, f"Could not post right now ({error or status}); it will be retried.")


# The admin subcommands, in the order help and hints list them.
HANDLERS: dict[str, Handler] = {
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "schedule": schedule,
    "preview": preview,
    "post": post,
    "feed": feed,
}
