"""nbgrader settings of the course service only (deploy/README.md).

formgrader's "Generate Feedback" button must give what ``autograder feedback`` gives:
nbgrader's default feedback would show the hidden tests that autograding put back
into the test cells, and tracebacks that quote them.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.preprocessors.getgrades import GetGrades

from autograder.feedback import RedactTestOutputs

c = get_config()  # noqa: F821  (provided by the traitlets config loader)

c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    RedactTestOutputs,
    CSSHTMLHeaderPreprocessor,
]
c.ClearHiddenTests.enforce_metadata = False
