"""s3migrator: copy and migrate S3 buckets as a distributed job system on SQS, ECS and DynamoDB.

This package holds only what crosses a process boundary (the wire models, the job store, the
AWS session factory, resource discovery) and the ``s3migrator`` command line.
"""

__version__ = "0.1.0"
