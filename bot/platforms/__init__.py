"""Chat platforms at the edge: each folder (``slack``, ``discord``, ``terminal``) holds all about
its platform (adapter, rendering, translation, errors); ``base`` says what an adapter is and
``shared`` holds the rules they all follow (buttons, safe links, error mapping). May import
every lower layer: ``bot.core``, ``bot.storage``, ``bot.papers``, ``bot.ops``, ``bot.config``,
``bot.delivery`` and ``bot.chat``."""
