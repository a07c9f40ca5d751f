"""Due dates, extensions and the late policy, on a real nbgrader gradebook (no kernels).

Submissions are put into the gradebook the way grading leaves them (nbgrader's API,
with the times collect kept); :func:`deadlines.apply` must then give each the
penalty the course's policy says, and take it back when the submission stops being
late (jupyter/nbgrader#723).
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import deadlines
from autograder.course import Course
from autograder.errors import CourseError
from autograder.late_policy import LatePolicy, parse_duration
from autograder.settings import course_db_url

REPO = Path(__file__).resolve().parents[1]
DUE = "2026-10-07 23:59 Europe/Berlin"  # 21:59 UTC (summer time)
POLICY = f"""
c.Deadlines.due = {{"tiny": "{DUE}"}}
c.Deadlines.extensions = {{"tiny": {{"cara": "2 days"}}}}
c.LatePolicy.per = "day"
c.LatePolicy.fraction = 0.25
c.LatePolicy.cap = 0.5
c.LatePolicy.hard_deadline = "3 days"
"""
# Submission times (UTC) and automatic points (of 5) per student.
SUBMISSIONS = {
    "ann": (datetime.datetime(2026, 10, 7, 21, 0), 5.0),  # an hour early
    "cara": (datetime.datetime(2026, 10, 9, 12, 0), 4.0),  # late, within her extension
    "dan": (datetime.datetime(2026, 10, 9, 21, 0), 4.0),  # 1 day 23 hours late
    "eve": (datetime.datetime(2026, 10, 11, 22, 0), 5.0),  # past the hard deadline
}


def test_durations_and_due_dates_read_as_written():
    assert parse_duration("2 days") == datetime.timedelta(days=2)
    assert parse_duration("1 day 12 hours") == datetime.timedelta(hours=36)
    assert parse_duration("90m") == datetime.timedelta(minutes=90)
    assert deadlines.parse_due_date(DUE) == datetime.datetime(2026, 10, 7, 21, 59)
    assert deadlines.parse_due_date("2026-12-01 17:00 UTC") == datetime.datetime(2026, 12, 1, 17)
    assert deadlines.parse_due_date("2026-12-01T17:00+01:00") == datetime.datetime(2026, 12, 1, 16)
    for wrong, message in (
        ("2026-12-01 17:00", "no time zone"),
        ("2026-12-01 17:00 Mars/Olympus", "not a time zone"),
        ("next friday UTC", "not a date"),
    ):
        with pytest.raises(CourseError, match=message):
            deadlines.parse_due_date(wrong)
    for wrong in ("", "two days", "2 fortnights", "3 days and more"):
        with pytest.raises(CourseError, match="not a duration"):
            parse_duration(wrong)


def test_the_late_policy_takes_a_fraction_per_started_day_up_to_its_cap():
    policy = LatePolicy(per="day", fraction=0.25, cap=0.5, hard_deadline="3 days")
    hour, day = 3600, 86400
    assert policy.late_submission_penalty("s", 4.0, 0) is None
    assert policy.late_submission_penalty("s", 4.0, hour) == 1.0  # a started day
    assert policy.late_submission_penalty("s", 4.0, day + hour) == 2.0
    assert policy.late_submission_penalty("s", 4.0, 2 * day + hour) == 2.0  # capped at half
    assert policy.late_submission_penalty("s", 4.0, 3 * day + 1) == 4.0  # past the hard deadline
    assert LatePolicy(per="hour", fraction=0.1).late_submission_penalty("s", 5.0, 2.5 * hour) == 1.5
    assert LatePolicy().late_submission_penalty("s", 5.0, 10 * day) == 0.0  # "none"
    assert "25% of its points per started day late, at most 50%" in policy.describe()
    assert "after 3 days late it earns no points" in policy.describe()


@pytest.fixture(scope="module")
def graded_template(blank_gradebook: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course gradebook with the tiny assignment and the students' automatic grades,
    as grading leaves them."""
    folder = tmp_path_factory.mktemp("template")
    shutil.copy(blank_gradebook, folder / "gradebook.db")
    url = f"sqlite:///{folder / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        gradebook.add_assignment("tiny")
        gradebook.add_notebook("tiny", "tiny")
        gradebook.add_grade_cell("test_relu", "tiny", "tiny", max_score=5, cell_type="code")
        for student, (submitted, points) in SUBMISSIONS.items():
            gradebook.add_student(student)
            gradebook.add_submission("tiny", student, timestamp=submitted)
            gradebook.find_grade("test_relu", "tiny", "tiny", student).auto_score = points
        gradebook.db.commit()
    return folder / "gradebook.db"


@pytest.fixture
def course(tmp_path: Path, graded_template: Path) -> Course:
    root = tmp_path / "course"
    root.mkdir()
    config = (REPO / "nbgrader_config.py").read_text() + POLICY
    (root / "nbgrader_config.py").write_text(config)
    shutil.copy(graded_template, root / "gradebook.db")
    return Course(root)


def _penalties(course: Course) -> dict[str, float | None]:
    with Gradebook(course_db_url(course)) as gradebook:
        return {
            student: gradebook.find_submission_notebook(
                "tiny", "tiny", student
            ).late_submission_penalty
            for student in SUBMISSIONS
        }


def test_each_submission_gets_the_penalty_of_its_lateness(course: Course):
    found = deadlines.apply(course, "tiny")
    assert _penalties(course) == {"ann": None, "cara": None, "dan": 2.0, "eve": 5.0}
    with Gradebook(course_db_url(course)) as gradebook:
        assert gradebook.find_assignment("tiny").duedate == datetime.datetime(2026, 10, 7, 21, 59)
        cara = gradebook.find_submission("tiny", "cara")
        assert cara.extension == datetime.timedelta(days=2)
        assert cara.total_seconds_late == 0
        assert gradebook.find_submission("tiny", "dan").score == 4.0  # raw; penalty apart
    assert [student for student, entry in found.items() if entry.late] == ["dan", "eve"]
    assert found["cara"].describe() == "on time (with an extension of 2 days)"
    assert found["dan"].describe() == "1 day 23 hours late: 2 points taken off"
    assert found["eve"].refused
    assert found["eve"].describe() == "4 days 1 minute late: past the hard deadline, no points"
    sentence = found["dan"].sentence(deadlines.policy_sentence(course))
    assert sentence.startswith(
        "Submitted 2026-10-09 21:00 UTC; due 2026-10-07 21:59 UTC: 1 day 23 hours late, "
        "2 points taken off. A late submission loses 25%"
    )


def test_a_changed_extension_or_manual_score_changes_the_penalty_without_regrading(
    course: Course,
):
    deadlines.apply(course, "tiny")
    config = course.root / "nbgrader_config.py"
    config.write_text(
        config.read_text().replace('{"cara": "2 days"}', '{"cara": "2 days", "dan": "2 days"}')
    )
    with Gradebook(course_db_url(course)) as gradebook:  # a TA's score counts too
        gradebook.find_grade("test_relu", "tiny", "tiny", "eve").manual_score = 3.0
        gradebook.db.commit()
    deadlines.apply(course, "tiny")
    # dan is no longer late: his penalty goes (nbgrader would keep it, #723).
    assert _penalties(course) == {"ann": None, "cara": None, "dan": None, "eve": 3.0}


def test_a_wrong_deadline_setting_is_a_clear_error(course: Course):
    config = course.root / "nbgrader_config.py"
    config.write_text(config.read_text().replace(DUE, "2026-10-07 23:59"))
    with pytest.raises(
        CourseError, match=r"nbgrader_config.py: Deadlines.due\['tiny'\].*no time zone"
    ):
        deadlines.apply(course, "tiny")
