"""Follow alerts: when a new curated week arrives, each person whose follows match some of its
papers gets one direct message listing them, exactly once per (person, week).

Only the leader sends (``leading()``). A pass has two steps, both through the alert ledger
(``Store.claim_follow_alert`` and friends):

1. **Claim.** Match everyone's active follows against the week (``FollowIndex``), and write a
   ledger row per matched person, with the paper ids, before anything is sent. A row exists
   at most once per (person, week), so a second pass (a restart, another replica) claims
   nothing new.
2. **Send.** For every claimed row not yet attempted: count the attempt (one caller only,
   ever), send, record the outcome. A process that dies between the attempt and the outcome
   leaves a row that is never tried again: that person may miss the alert, but never gets two.

``resume()`` (at start, by the leader) runs step 2 for whatever an earlier pass left claimed.
A person whose direct messages are closed is told once, privately, in the channel they last
followed from where the platform allows it (Slack), else in the answer to their next
``/papers`` command (Discord); their follows pause until they follow something again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.core.arxivmeta import ArxivMeta
from bot.core.clock import Clock
from bot.core.errors import DeliveryError, PermanentError
from bot.core.messages import ChannelRef, Message, Section
from bot.core.text import truncate_words
from bot.ops.metrics import Metrics
from bot.papers.catalog import Catalog, week_range_label
from bot.papers.follows import FollowSpec, match_week, paper_terms, parse_many
from bot.papers.model import CatalogPaper, Week
from bot.storage.base import Store
from bot.storage.records import FollowAlertStatus, Person

log = logging.getLogger("paperboy.follows")

FOLLOW_LIMIT = 25  # follows per person per workspace
BLOCKED = "direct messages are closed"
PAUSED_NOTE = (
    "Your follow alerts are paused: Paperboy could not send you a direct message (your direct "
    "messages are closed to it). Open them, then `/papers follow` anything to resume."
)


class DirectMessagesClosed(PermanentError):
    """The person does not accept direct messages from the bot (Slack ``cannot_dm_bot``,
    Discord 50007)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("dm_closed", detail or BLOCKED)


@runtime_checkable
class DirectMessenger(Protocol):
    """What a platform adapter offers for follow alerts."""

    platform: str

    async def send_direct(self, workspace: str, user_id: str, message: Message) -> str:
        """Open (or find) the direct conversation with the user and post ``message``; its
        message id. Raises ``DirectMessagesClosed`` when the user does not accept them."""

    async def tell_privately(self, channel: ChannelRef, user_id: str, message: Message) -> bool:
        """Show ``message`` to the user alone in ``channel``; False where the platform cannot
        (Discord: only in reply to a command)."""


@dataclass
class AlertReport:
    week_key: str
    claimed: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0  # attempted before (maybe sent): never again
    people: list[Person] = field(default_factory=list)  # sent to, in order


def alert_message(
    week: Week | None, papers: Sequence[CatalogPaper], why: Mapping[str, str]
) -> Message:
    """The one direct message: the week's papers this person follows, each with what matched."""
    label = week_range_label(week) if week is not None else "this week"
    sections = tuple(
        Section(
            title=p.title,
            url=p.url,
            body=truncate_words(p.summary, 280),
            paper_id=p.paper_id,
            bullets=(f"matches: {why[p.paper_id]}",) if why.get(p.paper_id) else (),
        )
        for p in papers
    )
    n = len(papers)
    return Message(
        header=f"📬 {n} paper{'s' if n != 1 else ''} you follow in the week of {label}",
        sections=sections,
        context=(
            "From the papers you follow. `/papers following` lists them; "
            "`/papers unfollow all` stops these messages.",
        ),
        ephemeral=False,
    )


class FollowAlerts:
    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        messengers: Mapping[str, DirectMessenger],
        *,
        clock: Clock,
        owner: str,
        meta: Callable[[CatalogPaper], ArxivMeta | None] = lambda p: None,
        leading: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.catalog = catalog
        self.messengers = dict(messengers)
        self.clock = clock
        self.owner = owner
        self.meta = meta
        self.leading = leading
        self._lock = asyncio.Lock()

    async def on_new_week(self, week: Week) -> AlertReport | None:
        """Claim and send the alerts of a week that just arrived (leader only)."""
        if not self.leading() or week.kind != "weekly":
            return None
        async with self._lock:
            report = await self._claim(week)
            await self._send(week.key, report)
            log.info(
                "follow alerts",
                extra={
                    "week": week.key,
                    "claimed": report.claimed,
                    "sent": report.sent,
                    "blocked": report.blocked,
                    "failed": report.failed,
                },
            )
            return report

    async def resume(self) -> list[AlertReport]:
        """Send what earlier passes claimed and did not attempt (leader only, at start)."""
        if not self.leading():
            return []
        async with self._lock:
            keys = dict.fromkeys(
                a.week_key for a in await self.store.follow_alerts(unsent_only=True)
            )
            reports = []
            for key in keys:
                report = AlertReport(key)
                await self._send(key, report)
                reports.append(report)
            return reports

    async def _claim(self, week: Week) -> AlertReport:
        report = AlertReport(week.key)
        cat = self.catalog()
        follows = await self.store.active_follows()
        platforms = self.messengers.keys()
        papers = [cat.get(p.paper_id) or p for p in week.papers]
        terms = [
            paper_terms(p, self.meta(p) if isinstance(p, CatalogPaper) else None) for p in papers
        ]
        now = self.clock.now()
        matched = match_week(((p, s) for p, s in follows if p.platform in platforms), terms)
        for person, found in matched.items():
            ids = tuple(found)
            if await self.store.claim_follow_alert(person, week.key, ids, now):
                report.claimed += 1
        return report

    async def _send(self, week_key: str, report: AlertReport) -> None:
        cat = self.catalog()
        week = next((w for w in cat.weeks() if w.key == week_key), None)
        follows = await self.store.active_follows()
        specs: dict[Person, list[FollowSpec]] = {}
        for person, spec in parse_many(follows):
            specs.setdefault(person, []).append(spec)
        for alert in await self.store.follow_alerts(week_key, unsent_only=True):
            person = alert.person
            messenger = self.messengers.get(person.platform)
            if messenger is None or not self.leading():
                continue
            if person not in specs:  # unfollowed (or paused) since the claim: send nothing
                await self._finish(person, week_key, "failed", None)
                continue
            papers = [p for pid in alert.paper_ids if (p := cat.get(pid)) is not None]
            why = _why(papers, specs[person], self.meta)
            if not await self.store.begin_follow_alert(
                person, week_key, self.owner, self.clock.now()
            ):
                report.skipped += 1
                self._count(person, "skipped")
                continue
            try:
                message_id = await messenger.send_direct(
                    person.workspace, person.user_id, alert_message(week, papers, why)
                )
            except DirectMessagesClosed:
                report.blocked += 1
                await self._finish(person, week_key, "blocked", None)
                await self._blocked(person, messenger)
                continue
            except DeliveryError as exc:
                report.failed += 1
                log.warning("follow alert failed", extra={"person": str(person), "error": str(exc)})
                await self._finish(person, week_key, "failed", None)
                continue
            except Exception:
                report.failed += 1
                log.exception("follow alert failed", extra={"person": str(person)})
                await self._finish(person, week_key, "unknown", None)
                continue
            report.sent += 1
            report.people.append(person)
            await self._finish(person, week_key, "sent", message_id)

    async def _finish(
        self, person: Person, key: str, status: FollowAlertStatus, message_id: str | None
    ) -> None:
        await self.store.finish_follow_alert(person, key, status, message_id, self.clock.now())
        self._count(person, status)

    def _count(self, person: Person, status: str) -> None:
        if self.metrics is not None:
            self.metrics.inc("follow_alerts", platform=person.platform, status=status)

    async def _blocked(self, person: Person, messenger: DirectMessenger) -> None:
        """Pause the person's follows and, the first time, tell them where they followed."""
        first = await self.store.pause_follows(person, BLOCKED, self.clock.now())
        kept = await self.store.follower(person)
        if not first or kept is None:
            return
        channel = ChannelRef(person.platform, person.workspace, kept[0])
        note = Message(header="Your follow alerts are paused", text=PAUSED_NOTE, kind="notice")
        try:
            told = await messenger.tell_privately(channel, person.user_id, note)
        except Exception:
            log.warning("could not tell a person their follows are paused", exc_info=True)
            return
        if told:  # else their next /papers command tells them (bot.chat.commands)
            await self.store.claim_pause_notice(person)


def _why(
    papers: Sequence[CatalogPaper],
    specs: Sequence[FollowSpec],
    meta: Callable[[CatalogPaper], ArxivMeta | None],
) -> dict[str, str]:
    """Per paper, the follows it matches (as typed), for the message."""
    out: dict[str, str] = {}
    for p in papers:
        terms = paper_terms(p, meta(p))
        hit = [s.text for s in specs if s.matches(terms)]
        if hit:
            out[p.paper_id] = "; ".join(hit)
    return out


__all__ = [
    "FOLLOW_LIMIT",
    "PAUSED_NOTE",
    "AlertReport",
    "DirectMessagesClosed",
    "DirectMessenger",
    "FollowAlerts",
    "alert_message",
]
