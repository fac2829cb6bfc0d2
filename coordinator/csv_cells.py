"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV injection).

A completion report lists keys, and an S3 key is whatever its writer chose: ``=HYPERLINK(...)``
is a valid key, and a spreadsheet opening the report would evaluate it. OWASP's advice for CSV
injection is to prefix a single quote to any cell that begins with ``=``, ``+``, ``-``, ``@``,
tab or carriage return; its ASVS (requirement 1.2.10) adds the NUL character. The quote makes a
spreadsheet take the cell as text. RFC 4180 quoting, which the ``csv`` module applies, does not
help: a spreadsheet evaluates a quoted ``"=..."`` all the same.

A cell that already begins with a quote gets one more, so a report stays exact for the scripts
that read it: removing one leading quote from a cell that has one always gives the value back.

Example::

    writer.writerow([safe_cell(cell) for cell in row])
"""

from __future__ import annotations

QUOTE = "'"
# The characters a spreadsheet reads as the start of a formula, or skips before looking for one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def safe_cell(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet evaluates.

    >>> safe_cell("=1+1"), safe_cell("'quoted"), safe_cell("data/a.txt")
    ("'=1+1", "''quoted", 'data/a.txt')
    """
    if value.startswith((*FORMULA_STARTS, QUOTE)):
        return QUOTE + value
    return value
