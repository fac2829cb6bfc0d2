"""The endpoint's ceiling: a plain threaded CopyObject loop with boto3's defaults, no listing.

``python -m bench.ceiling SOURCE DESTINATION KEYS_FILE THREADS``: every key of the file copied
once by THREADS threads sharing one client, each request one CopyObject. Whatever the endpoint
does per copy, this is as little as a Python client can add to it.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config


def main(argv: list[str]) -> int:
    source, destination, keys_file, threads = argv[0], argv[1], argv[2], int(argv[3])
    keys = Path(keys_file).read_text().splitlines()
    s3 = boto3.client("s3", config=Config(max_pool_connections=threads))

    def copy(key: str) -> None:
        s3.copy_object(Bucket=destination, Key=key, CopySource={"Bucket": source, "Key": key})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(copy, keys))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
