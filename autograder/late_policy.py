"""The course's late policy, as an nbgrader late-submission plugin.

``c.LatePolicy`` in ``nbgrader_config.py`` picks it: no penalty, a fraction of the
points earned per started day or hour late (up to a cap), and optionally a hard
deadline after which a submission earns nothing. Lateness counts from the due date
plus the student's extension (:mod:`autograder.deadlines`); nbgrader gives the
plugin the seconds late and clamps the penalty to the score.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float, TraitError, Unicode, validate

from autograder.errors import CourseError

_UNIT_SECONDS = {"d": 86400, "day": 86400, "h": 3600, "hour": 3600}
_UNIT_SECONDS.update(m=60, min=60, minute=60)
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(d|days?|h|hours?|m|mins?|minutes?)\b\s*", re.I)
PERIOD_SECONDS = {"day": 86400, "hour": 3600}


def parse_duration(text: str) -> timedelta:
    """ "2 days", "36h", "1 day 12 hours", "90 minutes" as a timedelta."""
    seconds, position = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        unit = match.group(2).lower().rstrip("s")
        seconds += float(match.group(1)) * _UNIT_SECONDS[unit]
        position = match.end()
    if not text.strip() or position != len(text):
        raise CourseError(f"{text!r} is not a duration like '2 days', '36 hours' or '90 minutes'")
    return timedelta(seconds=seconds)


class LatePolicy(LateSubmissionPlugin):
    """Penalty points for a late notebook: ``fraction`` of its score per started
    ``per`` (day or hour) late, at most ``cap`` of it; everything after
    ``hard_deadline``."""

    per = Enum(
        ["none", "day", "hour"],
        "none",
        help="What a late submission loses a fraction for: each started day, each started "
        "hour, or nothing ('none').",
    ).tag(config=True)
    fraction = Float(
        0.1, help="Fraction of the points earned lost per started day or hour late."
    ).tag(config=True)
    cap = Float(1.0, help="The most a late submission loses, as a fraction of its points.").tag(
        config=True
    )
    hard_deadline = Unicode(
        "",
        help="How long after the due date (and extension) a submission is still accepted, "
        "e.g. '3 days'; later ones earn no points. Empty: no hard deadline.",
    ).tag(config=True)

    @validate("fraction", "cap")
    def _a_fraction(self, proposal):
        if not 0 <= proposal["value"] <= 1:
            raise TraitError(f"LatePolicy.{proposal['trait'].name} must be between 0 and 1")
        return proposal["value"]

    @validate("hard_deadline")
    def _a_duration(self, proposal):
        if proposal["value"]:
            try:
                parse_duration(proposal["value"])
            except CourseError as error:
                raise TraitError(f"LatePolicy.hard_deadline: {error}") from error
        return proposal["value"]

    def refused(self, total_seconds_late: float) -> bool:
        """Past the hard deadline: the submission earns no points."""
        if not self.hard_deadline or total_seconds_late <= 0:
            return False
        return total_seconds_late > parse_duration(self.hard_deadline).total_seconds()

    def lost_fraction(self, total_seconds_late: float) -> float:
        """The fraction of its points a submission this late loses."""
        if total_seconds_late <= 0:
            return 0.0
        if self.refused(total_seconds_late):
            return 1.0
        if self.per == "none":
            return 0.0
        periods = math.ceil(total_seconds_late / PERIOD_SECONDS[self.per])
        return min(self.cap, periods * self.fraction)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        if total_seconds_late <= 0:
            return None
        return round(score * self.lost_fraction(total_seconds_late), 6)

    def describe(self) -> str:
        """The policy in a sentence, for the feedback and the report."""
        if self.per == "none":
            rule = "late submissions lose no points"
        else:
            rule = (
                f"a late submission loses {self.fraction:.0%} of its points per started "
                f"{self.per} late, at most {self.cap:.0%}"
            )
        if self.hard_deadline:
            rule += f"; after {self.hard_deadline} late it earns no points"
        return rule[0].upper() + rule[1:] + "."
