"""Slack: Block Kit posts, ``/papers`` over Socket Mode or HTTP, reaction votes (slack-bolt);
one workspace by its bot token, or many through the OAuth install flow (``oauth``)."""

from bot.platforms.slack.adapter import SlackAdapter
from bot.platforms.slack.manifest import slack_manifest

__all__ = ["SlackAdapter", "slack_manifest"]
