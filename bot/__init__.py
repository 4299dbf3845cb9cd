"""Paperboy: curated research-paper digests for Slack, Discord and the terminal."""

__version__ = "0.1.0"
