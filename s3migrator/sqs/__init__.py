"""SQS plumbing shared by the coordinator, the copiers and the CLI.

``queues``: sending bodies ten at a time and reading a queue's depth; ``intake``: taking messages
only as fast as they can be worked on; ``visibility``: the heartbeat that keeps held messages
invisible while their work goes on.
"""
