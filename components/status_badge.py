from nicegui import ui

COLORS = {
    'active': 'positive', 'archived': 'grey',
    'queued': 'grey-7', 'provisioning': 'info', 'running': 'primary', 'paused': 'warning', 'stopping': 'warning',
    'succeeded': 'positive', 'failed': 'negative', 'stopped': 'grey-8', 'cancelled': 'grey-6',
}


class StatusBadge(ui.badge):
    """A coloured badge for a project or run status that follows `set_status`."""

    def __init__(self, status: str) -> None:
        super().__init__()
        self.set_status(status)

    def set_status(self, status: str) -> None:
        self.set_text(status)
        self.props(f'color={COLORS.get(status, "grey")}')
