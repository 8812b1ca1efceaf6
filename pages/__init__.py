"""NiceGUI pages, one module each. Importing this package registers every page."""

from pages import (  # noqa: F401
    admin_users,
    audit,
    compare,
    login,
    not_found,
    notifications,
    project,
    projects,
    run,
    settings_page,
    setup,
    status,
)
