"""Renderers: neutral Message -> Slack blocks, Discord embeds, terminal text."""
