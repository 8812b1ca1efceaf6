"""MLflow's links to its own UI, followed to Trainboard's pages: the mlflow client prints "View run at
<tracking URI>/#/experiments/<id>/runs/<id>", and a browser sends no fragment to a server, so the page reads it."""

from nicegui import Client

# an experiment is a project (experiment 0 is each caller's own Default: no project id to open, so the list)
SCRIPT = ("<script>(function(){var m=location.hash.match(/^#\\/experiments\\/(\\d+)(?:\\/runs\\/(\\d+))?\\/?$/);"
          "if(!m)return;location.replace(m[2]?'/runs/'+m[2]:m[1]!=='0'?'/projects/'+m[1]:'/projects')})()</script>")


def install() -> None:
    """Put the script in every page's head (once per process)."""
    if SCRIPT not in Client.shared_head_html:
        Client.shared_head_html += SCRIPT + '\n'
