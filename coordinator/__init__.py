"""The coordinator: turns job messages into checkpointed listings and batches of work."""
