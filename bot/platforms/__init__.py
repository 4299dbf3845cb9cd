"""Platform adapters: slack, discord, terminal. Each is a thin translation at the edge."""
