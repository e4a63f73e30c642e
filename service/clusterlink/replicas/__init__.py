"""Which replica copies which partitions and runs which control work."""
