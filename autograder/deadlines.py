"""Due dates, extensions and late penalties, from the course configuration.

``c.Deadlines.due`` gives each assignment its due date and ``c.Deadlines.extensions``
each student's extra time; the course gradebook gets both (nbgrader's assignment
``duedate`` and submission ``extension``), so nbgrader's own ``total_seconds_late``
counts from the right moment, and formgrader shows them. An assignment the
configuration does not name keeps what its gradebook has (a due date set in
formgrader). The penalty of each
submitted notebook is then computed by the course's nbgrader late-submission plugin
(``c.AssignLatePenalties.plugin_class``, :class:`~autograder.late_policy.LatePolicy`
unless the course names another) from the submission time ``collect`` kept and the
notebook's score, manual points included once given.

:func:`apply` runs on the grading side after every batch and before feedback,
report and export: a changed due date, extension or policy, or a TA's manual score,
changes the penalty without grading anything again (nbgrader itself keeps a stale
penalty when a submission stops being late, jupyter/nbgrader#723).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import BasePlugin
from traitlets import Dict, TraitError, Unicode, validate
from traitlets.config import Config, Configurable

from autograder.course import CONFIG_NAME, Course
from autograder.errors import CourseError
from autograder.late_policy import LatePolicy, parse_duration
from autograder.settings import course_db_url, load_config


class Deadlines(Configurable):
    """When each assignment is due, and who has more time."""

    due = Dict(
        value_trait=Unicode(),
        help="Due date per assignment with its time zone, e.g. "
        "{'forward_pass': '2026-10-07 23:59 Europe/Berlin'} (or UTC, or +02:00).",
    ).tag(config=True)
    extensions = Dict(
        value_trait=Dict(value_trait=Unicode()),
        help="Extra time per assignment and student, e.g. {'forward_pass': {'carol': '2 days'}}.",
    ).tag(config=True)

    @validate("due")
    def _dates(self, proposal):
        for assignment, text in proposal["value"].items():
            try:
                parse_due_date(text)
            except CourseError as error:
                raise TraitError(f"Deadlines.due[{assignment!r}]: {error}") from error
        return proposal["value"]

    @validate("extensions")
    def _durations(self, proposal):
        for assignment, students in proposal["value"].items():
            for student, text in students.items():
                try:
                    parse_duration(text)
                except CourseError as error:
                    raise TraitError(
                        f"Deadlines.extensions[{assignment!r}][{student!r}]: {error}"
                    ) from error
        return proposal["value"]

    def due_utc(self, assignment: str) -> datetime.datetime | None:
        """The due date as nbgrader stores it (naive UTC); None when there is none."""
        text = self.due.get(assignment)
        return parse_due_date(text) if text else None

    def extension(self, assignment: str, student: str) -> datetime.timedelta | None:
        text = self.extensions.get(assignment, {}).get(student)
        return parse_duration(text) if text else None


def parse_due_date(text: str) -> datetime.datetime:
    """'2026-10-07 23:59 Europe/Berlin', '2026-10-07T23:59+02:00' or '... UTC' as naive UTC."""
    words = text.strip().rsplit(" ", 1)
    moment = text.strip()
    zone: datetime.tzinfo | None = None
    if len(words) == 2 and (words[1] in ("UTC", "Z") or "/" in words[1]):
        moment = words[0]
        try:
            zone = datetime.UTC if words[1] in ("UTC", "Z") else ZoneInfo(words[1])
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise CourseError(f"{words[1]!r} in {text!r} is not a time zone") from error
    try:
        parsed = datetime.datetime.fromisoformat(moment)
    except ValueError as error:
        raise CourseError(
            f"{text!r} is not a date like '2026-10-07 23:59 Europe/Berlin'"
        ) from error
    if zone is not None:
        parsed = parsed.replace(tzinfo=zone)
    if parsed.tzinfo is None:
        raise CourseError(
            f"{text!r} has no time zone: add one, e.g. '{text} Europe/Berlin', '{text} UTC'"
        )
    return parsed.astimezone(datetime.UTC).replace(tzinfo=None)


@dataclass
class Lateness:
    """One submission against its due date: what the feedback and the report show."""

    student: str
    submitted: datetime.datetime | None  # naive UTC, as in the gradebook
    due: datetime.datetime | None  # with the extension
    extension: datetime.timedelta | None
    seconds_late: float
    penalty: float  # points taken off
    refused: bool  # past the hard deadline: no points

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    def describe(self) -> str:
        """'on time', or how late and what it cost, in one line."""
        extended = f" (with an extension of {_span(self.extension)})" if self.extension else ""
        if not self.late:
            return f"on time{extended}" if self.due else "no due date"
        text = f"{_span(datetime.timedelta(seconds=self.seconds_late))} late{extended}"
        if self.refused:
            return f"{text}: past the hard deadline, no points"
        return f"{text}: {_points(self.penalty)} taken off" if self.penalty else text

    def sentence(self, policy: str) -> str:
        """What the student's feedback says of it; empty without a due date."""
        if self.due is None or self.submitted is None:
            return ""
        extended = f" (with your extension of {_span(self.extension)})" if self.extension else ""
        stated = f"Submitted {_moment(self.submitted)}; due {_moment(self.due)}{extended}"
        if not self.late:
            return f"{stated}: on time."
        late = f"{stated}: {_span(datetime.timedelta(seconds=self.seconds_late))} late"
        if self.refused:
            return f"{late}, past the hard deadline, so it earns no points. {policy}"
        taken = f"{_points(self.penalty)} taken off" if self.penalty else "no points taken off"
        return f"{late}, {taken}. {policy}"


def _moment(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _span(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    shown = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n][:2]
    return " ".join(shown) or "under a minute"


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def late_plugin(config: Config) -> BasePlugin:
    """The course's late-submission plugin (``c.AssignLatePenalties.plugin_class``, else
    :class:`LatePolicy`), configured from the course's configuration."""
    from nbgrader.preprocessors import AssignLatePenalties

    if "plugin_class" in config.get("AssignLatePenalties", {}):
        return AssignLatePenalties(config=config).plugin_class(config=config)
    return LatePolicy(config=config)


def policy_sentence(course: Course) -> str:
    """The course's late policy in a sentence (its own plugin's docstring otherwise)."""
    plugin = late_plugin(load_config(course))
    if isinstance(plugin, LatePolicy):
        return plugin.describe()
    return (type(plugin).__doc__ or "").strip().split("\n")[0]


def apply(course: Course, assignment: str) -> dict[str, Lateness]:
    """Due date, extensions and penalties into the course gradebook; by student."""
    config = load_config(course)
    try:
        deadlines = Deadlines(config=config)
        plugin = late_plugin(config)
    except TraitError as error:
        raise CourseError(f"{course.root / CONFIG_NAME}: {error}") from error
    due = deadlines.due_utc(assignment)
    found: dict[str, Lateness] = {}
    with Gradebook(course_db_url(course)) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            return found
        # The configuration decides what it names; a due date set in formgrader stays.
        if assignment in deadlines.due and record.duedate != due:
            record.duedate = due
        for submission in record.submissions:
            student = submission.student.id
            if assignment in deadlines.extensions:
                extension = deadlines.extension(assignment, student)
                if submission.extension != extension:
                    submission.extension = extension
            extension = submission.extension
            seconds = submission.total_seconds_late
            penalty = 0.0
            for notebook in submission.notebooks:
                value = plugin.late_submission_penalty(student, notebook.score, seconds)
                if value is not None and seconds > 0:
                    value = min(max(value, 0.0), notebook.score)  # as nbgrader clamps it
                else:
                    value = None
                if notebook.late_submission_penalty != value:
                    notebook.late_submission_penalty = value
                penalty += value or 0.0
            found[student] = Lateness(
                student=student,
                submitted=submission.timestamp,
                due=submission.duedate,
                extension=extension,
                seconds_late=seconds,
                penalty=penalty,
                refused=isinstance(plugin, LatePolicy) and plugin.refused(seconds),
            )
        gradebook.db.commit()
    return found
