"""The validated configuration: frozen dataclasses, one per config section, with defaults.

``bot.config.load`` builds them from YAML; everything else only reads them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from bot.core.messages import ChannelRef
from bot.papers.sources.guard import HoldBack
from bot.papers.sources.limits import SourceLimits
from bot.storage.records import Subscription, SubscriptionKind

DEFAULT_CONFIG_FILE = "paperboy.yaml"
DEFAULT_DATABASE_URL = "sqlite:///.paperboy/paperboy.db"
DEFAULT_CRON = "0 9 * * MON"  # a subscription without cron, as /papers subscribe without one
PLATFORMS = ("slack", "discord", "terminal")
KEYCAP_EMOJI = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")

# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourcesSettings:
    paths: tuple[str, ...] = ("digests",)
    urls: tuple[str, ...] = ()
    refresh_interval: timedelta = timedelta(hours=6)
    cache_dir: str = ".paperboy/cache"
    default_date: date | None = None
    limits: SourceLimits = field(default_factory=SourceLimits)
    hold_back: HoldBack = field(default_factory=HoldBack)

    @property
    def index_dir(self) -> str:
        """Where parsed sources and the search index are kept: ``index/`` beside
        ``cache_dir`` (``.paperboy/index`` by default). Derived data, safe to delete."""
        return os.path.join(os.path.dirname(self.cache_dir.rstrip("/\\")) or ".", "index")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = DEFAULT_DATABASE_URL  # postgres:// is normalised to postgresql://


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    grace: timedelta = timedelta(hours=12)
    stalled_after_weeks: int = 2
    community_window_days: int = 7
    # How often the leader renews its lease and standbys look for a free one.
    leader_poll: timedelta = timedelta(seconds=5)
    # How long a lease (and a ledger row held under it) outlives its holder's last renewal.
    lease_ttl: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class DigestSettings:
    summary_length: int = 280
    bullets: bool = True
    links: tuple[str, ...] = ("Paper", "Code", "Tweet")
    seed_reactions: bool = True
    max_papers: int = 10


@dataclass(frozen=True, slots=True)
class VoteSettings:
    emoji: tuple[str, ...] = KEYCAP_EMOJI
    allow_thumbs_up: bool = True
    # Reactions on messages posted this recently are read back after a restart or reconnect.
    window: timedelta = timedelta(days=30)
    # How long a private answer's "Share to channel" button works.
    share_ttl: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SlackOAuthSettings:
    """The distribution mode: the app is installed in many workspaces through Slack's OAuth
    flow, each with its own bot token, kept in the store."""

    client_id: str
    client_secret: str
    # The bot scopes to ask for; empty: the ones the manifest declares.
    scopes: tuple[str, ...] = ()
    # The redirect URL registered with Slack (https://<host>/slack/oauth_redirect); None: the
    # one registered with the app.
    redirect_uri: str | None = None
    # Where Slack's consent page is (tests point it elsewhere); None: Slack's own.
    authorization_url: str | None = None


@dataclass(frozen=True, slots=True)
class SlackSettings:
    # None in the distribution mode (``oauth``): each workspace's token is its installation's.
    bot_token: str | None
    app_token: str | None = None
    signing_secret: str | None = None
    mode: Literal["socket", "http"] = "http"
    api_base_url: str = "https://slack.com/api/"
    admin_user_group: str | None = None
    seed_reactions: bool = True
    # reactions.add (and, counted apart, reactions.get) calls per workspace per period: Tier 3.
    reaction_calls: int = 50
    reaction_period: timedelta = timedelta(seconds=60)
    oauth: SlackOAuthSettings | None = None


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token: str
    application_id: str | None = None
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str | None = None
    test_guild: int | None = None
    shards: int | Literal["auto"] | None = None
    seed_reactions: bool = True
    # How long one shard may take from its IDENTIFY to ready (the first one bounds start-up;
    # the rest are expected within this after their identify wave).
    ready_timeout: timedelta = timedelta(seconds=30)
    # Replicas share the shards: each leases a fair share from the (PostgreSQL) store.
    lease_shards: bool = False


@dataclass(frozen=True, slots=True)
class TerminalSettings:
    enabled: bool | None = None  # None: on when no chat platform is configured
    workspace: str = "local"
    channel: str = "terminal"
    color: bool | None = None


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class WebSettings:
    enabled: bool = False
    base_url: str | None = None  # public address of the web pages, for links in chat
    cache_seconds: int = 10  # how long vote-dependent pages and feeds may be served from cache


@dataclass(frozen=True, slots=True)
class ArxivSettings:
    enabled: bool = True  # fetch arXiv metadata (authors, categories, ...) in the background
    api_base_url: str = "https://export.arxiv.org/api/query"
    refresh_after: timedelta = timedelta(days=30)  # metadata older than this is fetched again


@dataclass(frozen=True, slots=True)
class SubscriptionSettings:
    platform: str
    workspace: str
    channel: str
    cron: str
    timezone: str
    kind: SubscriptionKind = "curated"

    @property
    def channel_ref(self) -> ChannelRef:
        return ChannelRef(self.platform, self.workspace, self.channel)

    def to_subscription(self) -> Subscription:
        return Subscription(self.channel_ref, self.cron, self.timezone, self.kind)


@dataclass(frozen=True, slots=True)
class Settings:
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    timezone: str = "UTC"
    admin_channel: ChannelRef | None = None
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    votes: VoteSettings = field(default_factory=VoteSettings)
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
    terminal: TerminalSettings = field(default_factory=TerminalSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    arxiv: ArxivSettings = field(default_factory=ArxivSettings)
    subscriptions: tuple[SubscriptionSettings, ...] = ()
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Shifts the bot's clock (demos, end-to-end tests): a schedule fires that much earlier.
    clock_offset: timedelta = timedelta(0)

    @property
    def terminal_enabled(self) -> bool:
        """``terminal.enabled`` resolved: when unset, on if no chat platform is configured or a
        subscription posts to the terminal."""
        if self.terminal.enabled is not None:
            return self.terminal.enabled
        no_platform = self.slack is None and self.discord is None
        return no_platform or any(s.platform == "terminal" for s in self.subscriptions)

    @property
    def web_base_url(self) -> str | None:
        """Where chat messages link to the web archive: ``web.base_url`` when the web pages
        are on, else None (no links)."""
        return self.web.base_url if self.web.enabled and self.http.enabled else None
