"""nbgrader settings of the course service only (deploy/README.md).

formgrader's "Generate Feedback" button must give what ``autograder feedback`` gives:
nbgrader's default feedback would show the hidden tests that autograding put back
into the test cells, and tracebacks that quote them.
"""

from autograder.feedback import configure_feedback

c = get_config()  # noqa: F821  (provided by the traitlets config loader)
configure_feedback(c)
