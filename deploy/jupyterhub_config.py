"""JupyterHub configuration of the course, started by ``deploy/course_hub.py``.

- Personal servers (everyone's): JupyterLab with nbgrader's assignment list and
  Validate, as the person's own Unix account, in the grading Python environment.
- The course service (named after the course id): one JupyterLab with formgrader
  and course management, running as the grading account that owns the course
  folder. The instructor and TA roles may open it; the student role may not.
- Log-in: PAM, against the roster's Unix accounts.

deploy/README.md explains the choices.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from course_hub import BIN_DIR, PROXY_BIN, HubSettings, server_environment

c = get_config()  # noqa: F821  (provided by JupyterHub's config loader)
hub = HubSettings.from_environment()
course, roster = hub.course, hub.roster
singleuser = str(BIN_DIR / "jupyterhub-singleuser")

# Users reach the proxy; the hub, the proxy's API and the course service stay on loopback.
c.JupyterHub.ip = hub.ip
c.JupyterHub.port = hub.port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub.hub_port
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [str(PROXY_BIN)]
c.ConfigurableHTTPProxy.pid_file = str(hub.state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{hub.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub.state / "cookie_secret")

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(roster.people)
# The roster decides: someone removed from it cannot log in again.
c.Authenticator.allow_existing_users = False

c.JupyterHub.load_groups = {
    "instructors": {"users": list(roster.instructors)},
    "teaching-assistants": {"users": list(roster.tas)},
    "students": {"users": list(roster.students)},
}
course_service = [
    f"access:services!service={course.course_id}",
    "list:services",
    f"read:services!service={course.course_id}",
]
c.JupyterHub.load_roles = [
    {
        "name": "student",
        "description": "Own server only: fetch, work, validate, submit, fetch feedback.",
        "groups": ["students"],
        "scopes": ["self"],
    },
    {
        "name": "teaching-assistant",
        "description": "Also the course service: formgrader, manual grading, feedback.",
        "groups": ["teaching-assistants"],
        "scopes": ["self", *course_service],
    },
    {
        "name": "instructor",
        "description": "Also the course service, and the hub's users and servers.",
        "groups": ["instructors"],
        "scopes": [
            "self",
            *course_service,
            "admin-ui",
            "list:users",
            "read:users",
            "read:groups",
            "admin:servers",
        ],
    },
]

c.Spawner.cmd = [singleuser]
c.Spawner.default_url = "/lab"
c.Spawner.disable_user_config = True
c.Spawner.environment = server_environment(course, "personal")
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

c.JupyterHub.services = [
    {
        "name": course.course_id,
        "display": True,
        "url": f"http://127.0.0.1:{hub.service_port}",
        "command": [singleuser],
        "user": roster.grader,
        "cwd": str(course.root),
        "environment": server_environment(course, "course") | {"JUPYTERHUB_DEFAULT_URL": "/lab"},
        "oauth_no_confirm": True,
    }
]
