"""NiceGUI pages, one module each. Importing this package registers every page."""

from pages import admin_users, audit, login, notifications, project, projects, run, settings_page, setup, status  # noqa: F401
