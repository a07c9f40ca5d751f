"""nbgrader settings of every server the course's hub starts (deploy/README.md).

The hub passes the course's own settings (from its nbgrader_config.py) through the
environment, so that Validate in a student's server runs like grading.
"""

import os
import sys

c = get_config()  # noqa: F821  (provided by the traitlets config loader)
# deploy/, which holds private_exchange.py
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

c.CourseDirectory.course_id = os.environ["AUTOGRADER_COURSE_ID"]
c.Exchange.root = os.environ["AUTOGRADER_EXCHANGE_ROOT"]
c.Execute.timeout = int(os.environ["AUTOGRADER_CELL_TIMEOUT"])
c.ExchangeFactory.submit = "private_exchange.PrivateSubmit"
c.ExchangeFactory.release_feedback = "private_exchange.PrivateReleaseFeedback"
