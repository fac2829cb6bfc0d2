"""The progress function: counters and queue depths into percent, state and metrics."""
