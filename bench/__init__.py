"""`make bench`: s3migrator beside a plain boto3 loop, s5cmd and rclone on a local moto server."""
