"""The ``s3migrator`` command line: a module per command group, one error boundary.

``main`` (entry point, exit codes), ``parser`` (the command tree), ``context`` (settings and
clients), ``jobs`` (schema, submit, report, redrive), ``status`` (status, progress), ``watch``
(following jobs live), ``render`` and ``figures`` (how jobs and numbers look), ``verification``
(verify), ``access`` (check, grant), ``stack`` and ``deployment`` (deploy, destroy, outputs),
``tasks`` (coordinator, copier), ``embedded`` and ``local/`` (demo, local up).
"""

from s3migrator.cli.main import main

__all__ = ["main"]
