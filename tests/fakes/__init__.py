"""Local fakes of chat platforms (Slack, Discord) for tests and benchmarks: 127.0.0.1 only."""
