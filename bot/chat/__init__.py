"""``/papers`` and votes, platform-neutral: commands are parsed and answered once as neutral
Messages, reactions become votes and leaderboards. ``commands`` (the ``Commands`` entry point,
dispatch, help, the Share-button rule) hands subcommands to ``lookups`` (search, week, show,
random, cite), ``top`` (the leaderboard), ``follows`` (follow, following, unfollow) and
``admin`` (subscriptions); ``context`` holds what they
share; ``votes`` owns reactions and the leaderboard windows and scopes; ``backfill`` reads
reactions back from the platforms after downtime and reconciles the votes. May import
``bot.core``, ``bot.storage``, ``bot.papers``, ``bot.ops``, ``bot.config`` and ``bot.delivery``."""
