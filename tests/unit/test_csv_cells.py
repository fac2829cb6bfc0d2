"""CSV cells: a cell that a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import pytest

from coordinator.csv_cells import safe_cell

FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r", "\0"]


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_beginning_with_a_formula_character_gets_one_leading_quote(start: str) -> None:
    # GIVEN a value that begins with a character a spreadsheet reads as a formula's start
    value = f'{start}HYPERLINK("https://example.invalid")'
    # WHEN it is made a cell THEN it is the value behind exactly one quote
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["", "data/a.txt", "a=b", "1+1", " =x", "\n=x", "ünïcode", "404", "NoSuchKey"],
)
def test_a_cell_not_beginning_with_one_is_unchanged(value: str) -> None:
    # A formula character after the first position, or a start spreadsheets do not evaluate
    assert safe_cell(value) == value


def test_a_cell_beginning_with_a_quote_gets_another_so_the_value_can_be_read_back() -> None:
    # GIVEN a key that begins with the quote itself, and the key it would otherwise look like
    quoted, formula = "'=1+1", "=1+1"
    # WHEN both are made cells THEN they differ
    assert safe_cell(quoted) == "''=1+1"
    assert safe_cell(formula) == "'=1+1"
    assert safe_cell(quoted) != safe_cell(formula)


@pytest.mark.parametrize(
    "value", ["", "plain", "'", "''", "=", "'=", "-1", "@@", "\t", "\r\n", "+'"]
)
def test_removing_one_leading_quote_gives_the_value_back(value: str) -> None:
    # For the scripts that read a report: one quote off a cell that has one is the value
    assert safe_cell(value).removeprefix("'") == value


@pytest.mark.parametrize("start", [*FORMULA_STARTS, "'"])
def test_a_safe_cell_never_begins_with_a_formula_character(start: str) -> None:
    assert not safe_cell(start + "x").startswith(tuple(FORMULA_STARTS))
