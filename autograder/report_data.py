"""What the class report shows, gathered once: the pages and the CSVs render these.

Three sources meet here: the nbgrader gradebook (who is in the course, and every
item's score: a TA's manual score overrides the automatic one), the grading
records (status, reasons, failure messages, wall time) and ``submitted/`` (who
handed something in). Nothing in this module writes a file.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from urllib.parse import quote

from autograder import deadlines, notebooks, records
from autograder.course import Course
from autograder.deadlines import Lateness
from autograder.errors import CourseError
from autograder.roster import course_roster
from autograder.settings import course_db_url, sqlite_path

REPORTS_DIR = "reports"
SUBMISSIONS_DIR = "submissions"
# Below this fraction of the auto-graded points a student is listed under "needs help".
HELP_BELOW = 0.5
SLOWEST_SHOWN = 10
NO_MESSAGE = "no message recorded"

GRADED = "graded"
FLAGGED = "flagged"
NOT_GRADABLE = "not gradable"
NOT_SUBMITTED = "not submitted"
NOT_GRADED_YET = "not graded yet"
# Bins of item histograms: a share of the item's points.
ITEM_BINS = ("0", "<25%", "<50%", "<75%", "<100%", "full")
SCORE_BINS = tuple(f"{10 * i}-{10 * i + 10}%" for i in range(10))


@dataclass(frozen=True)
class ReportItem:
    """A graded item: ``name`` as notebooks call it, ``grade_id`` as the gradebook does."""

    name: str
    grade_id: str
    points: float
    manual: bool


@dataclass(frozen=True)
class GradeScore:
    """One gradebook grade; ``score`` is None when nobody (nbgrader or a TA) graded it."""

    score: float | None
    auto_score: float | None
    manual_score: float | None
    max_score: float

    @property
    def fraction(self) -> float | None:
        if self.score is None:
            return None
        return min(1.0, max(0.0, self.score / self.max_score)) if self.max_score else 1.0


@dataclass
class StudentRow:
    """One student of the roster, for one assignment."""

    student: str
    anchor: str
    status: str
    submitted: bool
    record: records.GradingRecord | None
    scores: dict[str, GradeScore | None]
    auto_score: float | None = None
    manual_score: float | None = None
    total: float | None = None
    graded_max: float = 0.0
    help: list[str] = field(default_factory=list)
    feedback_links: list[str] = field(default_factory=list)
    submission_link: str | None = None
    name: str = ""
    section: str = ""
    lateness: Lateness | None = None

    @property
    def late_penalty(self) -> float:
        return self.lateness.penalty if self.lateness and self.gradable else 0.0

    @property
    def reasons(self) -> list[str]:
        return list(self.record.reasons) if self.record else []

    @property
    def wall_seconds(self) -> float | None:
        return self.record.wall_seconds if self.record else None

    @property
    def percent(self) -> float | None:
        """The share of the points graded so far (auto-graded, and TA-graded where graded)."""
        if self.total is None or not self.graded_max:
            return None
        return 100 * self.total / self.graded_max

    @property
    def gradable(self) -> bool:
        return self.status in (GRADED, FLAGGED)


@dataclass
class ItemStats:
    item: ReportItem
    scored: int
    mean: float | None
    full_marks: int
    histogram: list[int]


@dataclass
class FailureGroup:
    """Students who lost points on ``item`` with the same message."""

    item: str
    message: str
    rows: list[StudentRow]

    @property
    def students(self) -> list[str]:
        return [row.student for row in self.rows]


@dataclass
class ManualProgress:
    item: ReportItem
    submissions: int
    ta_graded: int
    blank_zero: int

    @property
    def awaiting(self) -> int:
        return self.submissions - self.ta_graded - self.blank_zero


@dataclass
class AssignmentReport:
    assignment: str
    items: list[ReportItem]
    rows: list[StudentRow]
    help_below: float
    gradebook_found: bool

    @property
    def has_names(self) -> bool:
        """Whether the roster or the gradebook names any student (a name column then)."""
        return any(row.name for row in self.rows)

    @property
    def has_deadline(self) -> bool:
        """Whether the assignment has a due date (the roster then shows lateness)."""
        return any(row.lateness and row.lateness.due for row in self.rows)

    @property
    def auto_items(self) -> list[ReportItem]:
        return [item for item in self.items if not item.manual]

    @property
    def manual_items(self) -> list[ReportItem]:
        return [item for item in self.items if item.manual]

    @property
    def auto_max(self) -> float:
        return sum(item.points for item in self.auto_items)

    @property
    def manual_max(self) -> float:
        return sum(item.points for item in self.manual_items)

    @property
    def total_max(self) -> float:
        return self.auto_max + self.manual_max

    @property
    def gradable_rows(self) -> list[StudentRow]:
        return [row for row in self.rows if row.gradable]

    @property
    def submitted_rows(self) -> list[StudentRow]:
        return [row for row in self.rows if row.submitted or row.record]

    @property
    def needs_help(self) -> list[StudentRow]:
        return [row for row in self.rows if row.help]

    @property
    def counts(self) -> dict[str, int]:
        found = {GRADED: 0, FLAGGED: 0, NOT_GRADABLE: 0, NOT_GRADED_YET: 0, NOT_SUBMITTED: 0}
        for row in self.rows:
            found[row.status] += 1
        return found

    @property
    def summary(self) -> str:
        counts = self.counts
        submitted = len(self.submitted_rows)
        text = (
            f"{len(self.rows)} students, {submitted} submissions, "
            f"{counts[GRADED] + counts[FLAGGED]} graded, {counts[NOT_GRADABLE]} not gradable, "
            f"{counts[FLAGGED] + counts[NOT_GRADABLE]} flagged, "
            f"{counts[NOT_SUBMITTED]} not submitted"
        )
        if counts[NOT_GRADED_YET]:
            text += f", {counts[NOT_GRADED_YET]} not graded yet"
        scores = [row.auto_score for row in self.gradable_rows if row.auto_score is not None]
        if scores:
            text += (
                f"; mean {statistics.mean(scores):.1f}, median {statistics.median(scores):.1f} "
                f"of {self.auto_max:g} auto-graded points"
            )
        if self.manual_max:
            text += (
                f"; TAs grade {self.manual_max:g} more points, {self.total_max:g} in all "
                "(the maximum in exports/grades.csv)"
            )
        return text

    @property
    def mean_percent(self) -> float | None:
        found = [row.percent for row in self.gradable_rows if row.percent is not None]
        return statistics.mean(found) if found else None

    @property
    def score_histogram(self) -> list[int]:
        """Gradable submissions per tenth of the auto-graded points."""
        counts = [0] * len(SCORE_BINS)
        for row in self.gradable_rows:
            if row.auto_score is not None and self.auto_max:
                share = row.auto_score / self.auto_max
                counts[min(len(SCORE_BINS) - 1, max(0, int(share * 10)))] += 1
        return counts

    @property
    def item_stats(self) -> list[ItemStats]:
        stats = []
        for item in self.items:
            grades = [row.scores.get(item.name) for row in self.rows if row.gradable]
            scored = [grade for grade in grades if grade is not None and grade.score is not None]
            histogram = [0] * len(ITEM_BINS)
            for grade in scored:
                histogram[_item_bin(grade.fraction)] += 1
            stats.append(
                ItemStats(
                    item=item,
                    scored=len(scored),
                    mean=statistics.mean(g.score for g in scored) if scored else None,
                    full_marks=sum(g.fraction == 1 for g in scored),
                    histogram=histogram,
                )
            )
        return stats

    @property
    def failures(self) -> list[FailureGroup]:
        """Per auto-graded item in notebook order, the students who lost points on it,
        grouped by their failure message, the most common first."""
        groups: list[FailureGroup] = []
        for item in self.auto_items:
            by_message: dict[str, list[StudentRow]] = {}
            for row in self.gradable_rows:
                grade = row.scores.get(item.name)
                if grade is None or grade.score is None or grade.fraction == 1:
                    continue
                message = failure_message(row.record, item)
                by_message.setdefault(message, []).append(row)
            ordered = sorted(by_message.items(), key=lambda pair: (-len(pair[1]), pair[0]))
            groups += [FailureGroup(item.name, message, rows) for message, rows in ordered]
        return groups

    @property
    def manual_progress(self) -> list[ManualProgress]:
        progress = []
        for item in self.manual_items:
            grades = [row.scores.get(item.name) for row in self.gradable_rows]
            present = [grade for grade in grades if grade is not None]
            progress.append(
                ManualProgress(
                    item=item,
                    submissions=len(present),
                    ta_graded=sum(g.manual_score is not None for g in present),
                    blank_zero=sum(
                        g.manual_score is None and g.auto_score is not None for g in present
                    ),
                )
            )
        return progress

    @property
    def slowest(self) -> list[StudentRow]:
        timed = [row for row in self.rows if row.record]
        return sorted(timed, key=lambda row: row.record.wall_seconds, reverse=True)[:SLOWEST_SHOWN]


def failure_message(record: records.GradingRecord | None, item: ReportItem) -> str:
    """The one-line message a record keeps for an item that lost points."""
    messages = record.messages if record else {}
    message = messages.get(item.name) or messages.get(item.grade_id) or ""
    return " ".join(str(message).split()) or NO_MESSAGE


def _item_bin(fraction: float | None) -> int:
    if not fraction:
        return 0
    if fraction >= 1:
        return len(ITEM_BINS) - 1
    return 1 + min(3, int(fraction * 4))


def report_items(course: Course, assignment: str, found: list[records.GradingRecord]):
    """The assignment's items in notebook order, from its source notebook; from the
    records when the source is gone."""
    try:
        return [
            ReportItem(item.name, item.test_id, item.points, item.manual)
            for item in notebooks.items(notebooks.read(course.source_notebook(assignment)))
        ]
    except (CourseError, OSError):
        pass
    items: dict[str, ReportItem] = {}
    for record in found:
        for grade_id, value in record.items.items():
            manual = bool(value.get("manual"))
            name = grade_id
            if not manual and grade_id.startswith(notebooks.TEST_PREFIX):
                name = grade_id[len(notebooks.TEST_PREFIX) :]
            items.setdefault(name, ReportItem(name, grade_id, float(value["max_score"]), manual))
    return list(items.values())


@dataclass
class GradebookView:
    """What the gradebook knows of one assignment: its students, and per submission
    the grades by grade id."""

    found: bool
    students: set[str]
    grades: dict[str, dict[str, GradeScore]]
    names: dict[str, str] = field(default_factory=dict)  # formgrader's first and last names


def read_gradebook(course: Course, assignment: str) -> GradebookView:
    """Students and grades of ``assignment``, in one query (a report of 200 students
    stays fast); a course without a gradebook file has none."""
    db_url = course_db_url(course)
    path = sqlite_path(db_url)
    if path is not None and not path.is_file():
        return GradebookView(False, set(), {})
    from nbgrader.api import (
        Assignment,
        BaseCell,
        Grade,
        Gradebook,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    with Gradebook(db_url) as gradebook:
        names = {
            student_id: " ".join(part for part in (first, last) if part)
            for student_id, first, last in gradebook.db.query(
                Student.id, Student.first_name, Student.last_name
            )
        }
        students = set(names)
        submitted = (
            gradebook.db.query(Student.id)
            .select_from(SubmittedAssignment)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(Student, SubmittedAssignment.student_id == Student.id)
            .filter(Assignment.name == assignment)
        )
        grades: dict[str, dict[str, GradeScore]] = {sid: {} for (sid,) in submitted}
        rows = (
            gradebook.db.query(
                Student.id,
                BaseCell.name,
                Grade.auto_score,
                Grade.manual_score,
                Grade.extra_credit,
                Grade.max_score,
            )
            .select_from(Grade)
            .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(Student, SubmittedAssignment.student_id == Student.id)
            .join(BaseCell, Grade.cell_id == BaseCell.id)
            .filter(Assignment.name == assignment)
        )
        for student, name, auto, manual, extra, max_score in rows:
            # As nbgrader's Grade.score: the manual score overrides the automatic one.
            base = manual if manual is not None else auto
            score = None if base is None else float(base) + float(extra or 0.0)
            grades.setdefault(student, {})[name] = GradeScore(
                score,
                None if auto is None else float(auto),
                None if manual is None else float(manual),
                float(max_score or 0.0),
            )
    return GradebookView(True, students, grades, {k: v for k, v in names.items() if v})


def submitted_folders(course: Course) -> dict[str, set[str]]:
    """Student folder name -> names of the assignment folders in it (links not followed)."""
    found: dict[str, set[str]] = {}
    try:
        with os.scandir(course.root / "submitted") as students:
            for student in students:
                if not student.is_dir(follow_symlinks=False):
                    continue
                try:
                    with os.scandir(student.path) as assignments:
                        found[student.name] = {
                            entry.name
                            for entry in assignments
                            if entry.is_dir(follow_symlinks=False)
                        }
                except OSError:
                    found[student.name] = set()
    except OSError:
        pass
    return found


def safe_name(name: str) -> bool:
    """Whether ``name`` can stand as one path component."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def href(*parts: str) -> str:
    """A relative link from path components, each percent-encoded."""
    return "/".join(quote(part, safe="", errors="surrogateescape") for part in parts)


def feedback_links(course: Course, assignment: str, student: str) -> list[str]:
    """Relative links from ``reports/<assignment>/`` to the student's feedback pages."""
    if not safe_name(student) or not safe_name(assignment):
        return []
    folder = course.root / "feedback" / student / assignment
    if folder.is_symlink() or not folder.is_dir():
        return []
    pages = sorted(
        page for page in folder.glob("*.html") if page.is_file() and not page.is_symlink()
    )
    return [href("..", "..", "feedback", student, assignment, page.name) for page in pages]


def _row_scores(
    items: list[ReportItem],
    grades: dict[str, GradeScore] | None,
    record: records.GradingRecord | None,
) -> dict[str, GradeScore | None]:
    """Per item, the gradebook's grade; a graded record stands in when the gradebook
    holds no submission (an auto-graded item only: manual ones are the gradebook's)."""
    if grades is not None:
        return {item.name: grades.get(item.grade_id) for item in items}
    scores: dict[str, GradeScore | None] = {item.name: None for item in items}
    if record is not None and record.status == "graded":
        for item in items:
            value = record.items.get(item.grade_id)
            if value is not None and not item.manual:
                score = float(value["score"])
                scores[item.name] = GradeScore(score, score, None, float(value["max_score"]))
    return scores


def assignment_report(
    course: Course,
    assignment: str,
    help_below: float = HELP_BELOW,
    found: list[records.GradingRecord] | None = None,
    folders: dict[str, set[str]] | None = None,
) -> AssignmentReport:
    """Everything the report of ``assignment`` shows, for every student of the course."""
    found = records.load_all(course, assignment) if found is None else found
    folders = submitted_folders(course) if folders is None else folders
    by_student = {record.student: record for record in found}
    gradebook = read_gradebook(course, assignment)
    items = report_items(course, assignment, found)
    listed = course_roster(course)
    # Penalties first (due dates, extensions, TA scores may have changed since grading).
    lateness = deadlines.apply(course, assignment) if gradebook.found else {}
    roster = sorted(gradebook.students | set(listed) | set(by_student) | set(folders))
    rows = []
    for index, student in enumerate(roster):
        record = by_student.get(student)
        submitted = assignment in folders.get(student, set())
        if record is None:
            status = NOT_GRADED_YET if submitted else NOT_SUBMITTED
        elif record.status != "graded":
            status = NOT_GRADABLE
        else:
            status = FLAGGED if record.reasons else GRADED
        row = StudentRow(
            student=student,
            anchor=f"student-{index}",
            status=status,
            submitted=submitted,
            record=record,
            scores=_row_scores(items, gradebook.grades.get(student), record),
            name=(listed[student].name if student in listed else "")
            or gradebook.names.get(student, ""),
            section=listed[student].section if student in listed else "",
            lateness=lateness.get(student),
        )
        _totals(row, items)
        row.help = help_reasons(row, sum(i.points for i in items if not i.manual), help_below)
        row.feedback_links = feedback_links(course, assignment, student) if record else []
        rows.append(row)
    return AssignmentReport(assignment, items, rows, help_below, gradebook.found)


def _totals(row: StudentRow, items: list[ReportItem]) -> None:
    if not row.gradable:
        return
    auto = [row.scores[item.name] for item in items if not item.manual]
    if any(grade is not None for grade in auto):
        row.auto_score = sum(g.score for g in auto if g is not None and g.score is not None)
    else:
        row.auto_score = row.record.score
    manual = [
        (item, row.scores[item.name])
        for item in items
        if item.manual and row.scores[item.name] is not None
    ]
    graded = [(item, grade) for item, grade in manual if grade.score is not None]
    row.manual_score = sum(grade.score for _, grade in graded) if graded else None
    row.total = max(0.0, row.auto_score + (row.manual_score or 0.0) - row.late_penalty)
    row.graded_max = sum(i.points for i in items if not i.manual) + sum(
        item.points for item, _ in graded
    )


def help_reasons(row: StudentRow, auto_max: float, help_below: float) -> list[str]:
    """Why a TA should look at this student, in words (none: no need)."""
    if row.status == NOT_SUBMITTED:
        return ["did not submit"]
    if row.status == NOT_GRADED_YET:
        return ["submitted, not graded yet: run `autograder grade`"]
    record = row.record
    if row.status == NOT_GRADABLE:
        last_error_line = (record.error or "").strip().splitlines()[-1:]
        why = "; ".join(record.reasons) or "".join(last_error_line) or record.status
        return [f"could not be graded: {why}"]
    found = []
    if auto_max and row.auto_score is not None and row.auto_score < help_below * auto_max:
        found.append(
            f"scored {row.auto_score:g} of {auto_max:g} auto-graded points "
            f"(below {100 * help_below:g}%)"
        )
    found += [f"flagged: {reason}" for reason in record.reasons]
    return found


@dataclass
class AssignmentTrend:
    assignment: str
    link: str
    submissions: int
    graded: int
    mean_percent: float | None


@dataclass
class StudentTrend:
    student: str
    percents: list[float | None]


@dataclass
class CourseOverview:
    assignments: list[AssignmentTrend]
    students: list[StudentTrend]


def assignments_with_records(course: Course) -> list[str]:
    folder = course.root / records.RECORDS_DIR
    if not folder.is_dir():
        return []
    return sorted(
        path.name for path in folder.iterdir() if path.is_dir() and any(path.glob("*.json"))
    )


def course_overview(
    course: Course, reports: dict[str, AssignmentReport] | None = None
) -> CourseOverview:
    """One line per assignment with records, in the order they were graded, and each
    student's share of the points across them."""
    reports = dict(reports or {})
    folders = submitted_folders(course)
    for assignment in assignments_with_records(course):
        if assignment not in reports:
            reports[assignment] = assignment_report(course, assignment, folders=folders)

    def first_graded(report: AssignmentReport) -> tuple[str, str]:
        stamps = [row.record.graded_at for row in report.rows if row.record]
        return (min(stamps, default=""), report.assignment)

    ordered = sorted(reports.values(), key=first_graded)
    trends = [
        AssignmentTrend(
            assignment=report.assignment,
            link=href(report.assignment, "index.html"),
            submissions=len(report.submitted_rows),
            graded=len(report.gradable_rows),
            mean_percent=report.mean_percent,
        )
        for report in ordered
    ]
    students = sorted({row.student for report in ordered for row in report.rows})
    percents = {
        (report.assignment, row.student): row.percent for report in ordered for row in report.rows
    }
    return CourseOverview(
        trends,
        [
            StudentTrend(student, [percents.get((r.assignment, student)) for r in ordered])
            for student in students
        ],
    )
