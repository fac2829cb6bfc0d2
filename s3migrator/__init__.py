"""s3migrator: copy and migrate S3 buckets as a distributed job system on SQS, ECS and DynamoDB.

This package is the kernel the deployables (``coordinator``, ``copier``, ``progress``) share:
what crosses a process boundary and nothing else. ``models`` (every wire payload), ``errors``
and ``aws_errors`` (the error tree and the one place botocore's errors are read), ``jobstore``
(DynamoDB: job records, checkpoints, exact counters, failure records), ``aws`` and ``sessions``
(clients and refreshable assumed roles), ``settings``, ``resources`` (the stack's queues and
table), ``sqs`` (sending, intake, visibility heartbeat) and ``signals`` (graceful stop). The
command line lives in ``s3migrator.cli``; it may use the deployables, the kernel never does.
"""

__version__ = "0.1.0"
