"""Grades straight into Canvas through its REST API (``canvasapi``), when configured.

``c.CanvasUpload`` names the Canvas site, the course and each assignment's Canvas id;
the API token comes from an environment variable, never from a file in the course.
Each assignment's scores go in one bulk update, keyed by the roster's ``lms_id``;
students without an LMS id or without a submission are left alone (Canvas keeps
what it has) and named in the notes.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

from traitlets import Dict, Integer, Unicode
from traitlets.config import Configurable

from autograder.course import Course
from autograder.errors import CourseError
from autograder.lms_export import ClassGrades, points
from autograder.settings import load_config


class CanvasUpload(Configurable):
    """Where grades go in Canvas."""

    url = Unicode("", help="The Canvas site, e.g. 'https://canvas.example.edu'.").tag(config=True)
    course_id = Integer(0, help="The course's Canvas id (in its address).").tag(config=True)
    assignment_ids = Dict(
        value_trait=Integer(),
        help="Canvas assignment id per assignment, e.g. {'forward_pass': 4711}.",
    ).tag(config=True)
    token_variable = Unicode(
        "CANVAS_API_TOKEN", help="The environment variable holding the API token."
    ).tag(config=True)


@dataclass
class Uploaded:
    scores: dict[str, int] = field(default_factory=dict)  # per assignment
    notes: list[str] = field(default_factory=list)


def upload(course: Course, grades: ClassGrades) -> Uploaded:
    """Post every exported score of ``grades`` to Canvas."""
    from canvasapi import Canvas
    from canvasapi.exceptions import CanvasException
    from requests import RequestException

    settings = CanvasUpload(config=load_config(course))
    token = os.environ.get(settings.token_variable, "")
    if not settings.url or not settings.course_id:
        raise CourseError(
            "set c.CanvasUpload.url and c.CanvasUpload.course_id in nbgrader_config.py"
        )
    if not token:
        raise CourseError(
            f"put a Canvas API token in the environment variable {settings.token_variable}"
        )
    done = Uploaded()
    without_id = [s.student_id for s in grades.students if not s.lms_id]
    if without_id:
        done.notes.append(f"no lms_id in the roster, not uploaded: {', '.join(without_id)}")
    with warnings.catch_warnings():
        # canvasapi warns about http:// addresses; a site's address is the course's choice.
        warnings.simplefilter("ignore", UserWarning)
        canvas = Canvas(settings.url.rstrip("/"), token)
    try:
        canvas_course = canvas.get_course(settings.course_id)
        for assignment in grades.assignments:
            canvas_id = settings.assignment_ids.get(assignment)
            if canvas_id is None:
                done.notes.append(f"{assignment}: no c.CanvasUpload.assignment_ids entry, skipped")
                continue
            data = {
                student.lms_id: {"posted_grade": points(grade.score)}
                for student in grades.students
                if student.lms_id
                and (grade := grades.grades.get((assignment, student.student_id))) is not None
            }
            if data:
                canvas_course.get_assignment(canvas_id).submissions_bulk_update(grade_data=data)
            done.scores[assignment] = len(data)
    except CanvasException as error:
        raise CourseError(f"Canvas at {settings.url} refused the upload: {error}") from error
    except RequestException as error:
        raise CourseError(f"cannot reach Canvas at {settings.url}: {error}") from error
    return done
