"""``/papers follow|following|unfollow``: what each person follows, per workspace, privately.
The alerts themselves go out from ``bot.delivery.follows`` when a new week arrives."""

from __future__ import annotations

from bot.chat.context import CommandContext, notice
from bot.core.messages import Field, Invocation, Message, Reply
from bot.core.text import truncate_words
from bot.delivery.follows import FOLLOW_LIMIT
from bot.papers.follows import FollowSpec, parse_follow
from bot.storage.records import Person

EXAMPLES = (
    "`/papers follow diffusion language models`, `/papers follow author:Vaswani`, "
    "`/papers follow cat:cs.CL -vision`"
)


def person_of(inv: Invocation) -> Person:
    return Person(inv.channel.platform, inv.channel.workspace, inv.user_id)


async def follow(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    spec = parse_follow(rest)
    if not isinstance(spec, FollowSpec):
        return notice("What should I follow?", f"{spec} For example {EXAMPLES}.")
    person = person_of(inv)
    before = await ctx.store.follower(person)
    result = await ctx.store.add_follow(
        person, spec.text, inv.channel.channel, ctx.clock.now(), limit=FOLLOW_LIMIT
    )
    resumed = " Your paused follows are back on." if before and before[1] else ""
    if result == "full":
        return notice(
            "You follow the most you can",
            f"You follow {FOLLOW_LIMIT} things already. `/papers following` lists them; "
            f"`/papers unfollow <n>` makes room.{resumed}",
        )
    if result == "exists":
        return notice("Already following", f"You already follow `{spec.text}`.{resumed}")
    return notice(
        "Following",
        f"You follow `{spec.text}`. When a new curated week has papers matching it, you get "
        f"one direct message listing them.{resumed} Only you see your follows.",
    )


async def following(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    person = person_of(inv)
    follows = await ctx.store.list_follows(person)
    if not follows:
        return notice("You follow nothing yet", f"Try {EXAMPLES}.")
    kept = await ctx.store.follower(person)
    paused = kept is not None and kept[1] is not None
    text = (
        "Paused: Paperboy could not send you a direct message. Open your direct messages to "
        "it, then `/papers follow` anything to resume."
        if paused
        else "One direct message per new week with the papers matching any of these."
    )
    return Reply(
        Message(
            header=f"You follow {len(follows)} of at most {FOLLOW_LIMIT}",
            text=text,
            fields=tuple(
                Field(f"Follow {n}", f"`{truncate_words(f.spec, 200)}`")
                for n, f in enumerate(follows, start=1)
            ),
            context=("`/papers unfollow <n>` stops one; `/papers unfollow all` stops all.",),
            kind="notice",
        )
    )


async def unfollow(ctx: CommandContext, rest: str, inv: Invocation) -> Reply:
    person = person_of(inv)
    which = rest.strip().lower()
    if which == "all":
        n = await ctx.store.delete_follows(person)
        return notice("Unfollowed everything", f"Deleted {n} follow{'s' if n != 1 else ''}.")
    follows = await ctx.store.list_follows(person)
    if not which.isdigit() or not 1 <= int(which) <= len(follows):
        numbers = f"1 to {len(follows)}" if follows else "none: you follow nothing"
        return notice(
            "Which one?",
            f"Give its number from `/papers following` ({numbers}), or `all`.",
        )
    gone = follows[int(which) - 1]
    await ctx.store.delete_follow(person, gone.id)
    return notice("Unfollowed", f"You no longer follow `{gone.spec}`.")
