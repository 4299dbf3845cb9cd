"""What goes out, when, exactly once: what a digest holds (``digest``), the ledger, fan-out and
retries (``engine``), cron per subscription (``scheduler``) and client-side rate limits
(``ratelimit``). May import ``bot.core``, ``bot.storage``, ``bot.papers`` and ``bot.ops``."""
