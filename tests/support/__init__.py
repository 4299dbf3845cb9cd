"""Test support: a fake clock, and local fakes of Slack, Discord and a generic chat platform that
speak the real wire protocols on 127.0.0.1."""
