"""docs/coverage.md maps every lesson section to the notebook section that teaches it.

Each place is written `assignment`: "heading", and the graded column names grade ids in
backticks; both must exist in the source notebooks, so the table cannot drift from them.
"""

from __future__ import annotations

import re

from autograder import notebooks
from autograder.course import Course

PLACE = re.compile(r"`(\w+)`: \"([^\"]+)\"")
ITEM = re.compile(r"`(\w+)`")


def _rows(course: Course) -> list[list[str]]:
    text = (course.root / "docs" / "coverage.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def _headings(course: Course, assignment: str) -> list[str]:
    source = notebooks.read(course.source_notebook(assignment))
    return [
        line.lstrip("#").strip()
        for cell in source.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]


def test_every_place_and_graded_item_of_the_coverage_table_exists(course: Course) -> None:
    rows = _rows(course)
    assert len(rows) >= 30, "the table should cover every section of the five lessons"
    lessons = {row[0] for row in rows}
    assert lessons == {"000", "001", "002", "003", "004"}
    for lesson, section, taught, graded in rows:
        places = PLACE.findall(taught)
        assert places or taught.startswith("not taught"), f"{lesson} {section}: no place"
        for assignment, heading in places:
            assert assignment in course.assignments(), f"{lesson} {section}: {assignment}"
            found = _headings(course, assignment)
            assert any(heading in line for line in found), (
                f"{lesson} {section}: no heading {heading!r} in {assignment}"
            )
        names = set(ITEM.findall(graded))
        ids = {
            notebooks.grade_id(cell)
            for assignment, _ in places
            for cell in notebooks.read(course.source_notebook(assignment)).cells
        }
        assert names <= ids, f"{lesson} {section}: unknown graded items {names - ids}"
