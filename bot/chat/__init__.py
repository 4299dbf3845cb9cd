"""``/papers`` and votes, platform-neutral: commands are parsed and answered once as neutral
Messages (``commands``), reactions become votes and leaderboards (``votes``). May import
``bot.core``, ``bot.storage``, ``bot.papers``, ``bot.ops``, ``bot.config`` and ``bot.delivery``."""
