"""Configuration: a YAML file with ``${ENV}`` references, validated into frozen settings.

``settings`` (the dataclasses and their defaults), ``load`` (file -> Settings with one reader per
section, every mistake collected in ``ConfigErrors`` with key path and line; ``describe_settings``
for ``paperboy check``), ``platforms`` (the ``slack`` and ``discord`` section readers),
``yaml`` (YAML with line numbers and environment references), ``read``
(typed readers of one value and the ``Section`` reader of one mapping), ``checks`` (cron,
timezone and duration rules, shared with chat commands). Import from the module that owns a
name; this package re-exports nothing. May import ``bot.core`` and ``bot.storage.records`` only."""
