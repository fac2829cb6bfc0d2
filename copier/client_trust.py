"""What a botocore client trusts and goes through, so that a copy sent without it
(``copier.direct_copies``) trusts and goes through the same, or is left to it.

botocore settles a client's CA bundle when the client is made: its ``verify`` argument, else
the ``ca_bundle`` of its profile or ``AWS_CA_BUNDLE``, else ``REQUESTS_CA_BUNDLE``, else its
own bundle. The client's HTTP session holds the outcome, and it is read there rather than
worked out again. A client that goes through a proxy, shows a client certificate or does not
verify certificates sends its copies itself.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.httpsession import get_cert_path

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def ca_bundle_of(client: S3Client) -> str | None:
    """The CA bundle ``client`` verifies HTTPS endpoints with; None when it is not one this
    path can use (no verification, a proxy, a client certificate, or a session it cannot
    read), and the client then sends its copies itself."""
    config: Any = client.meta.config
    if getattr(config, "proxies", None) or getattr(config, "client_cert", None):
        return None
    endpoint: Any = getattr(client, "_endpoint", None)
    session: Any = getattr(endpoint, "http_session", None)
    verify = getattr(session, "_verify", None)
    if verify is True:
        return str(get_cert_path(True))
    return verify if isinstance(verify, str) and verify else None


@dataclass
class Trust:
    """One TLS context per CA bundle, made on first use."""

    _contexts: dict[str, ssl.SSLContext | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def context(self, ca_bundle: str) -> ssl.SSLContext | None:
        """A context trusting ``ca_bundle``; None when it cannot be read here (OpenSSL reads
        some forms botocore's urllib3 takes as well, not all): HTTPS copies are botocore's."""
        with self._lock:
            if ca_bundle not in self._contexts:
                self._contexts[ca_bundle] = self.made(ca_bundle)
            return self._contexts[ca_bundle]

    def made(self, ca_bundle: str) -> ssl.SSLContext | None:
        try:
            return ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("cannot trust %s directly (%s); botocore sends its copies", ca_bundle, exc)
            return None
