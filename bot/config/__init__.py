"""Configuration: a YAML file with ``${ENV}`` references, validated into frozen settings.

``settings`` (the dataclasses), ``load`` (file -> Settings, every mistake with key path and
line), ``yaml`` (YAML with line numbers and environment references), ``read`` (typed readers of
one value), ``checks`` (cron, timezone and duration rules, shared with chat commands).
May import ``bot.core`` and ``bot.storage.records`` only."""
