"""Slack incoming webhooks: one short line and the link, as {"text": ...}."""

from __future__ import annotations

import json

from services.channels import Outgoing, http


async def send(url: str, outgoing: Outgoing) -> None:
    await http.post(url, json.dumps({'text': text(outgoing)}).encode(), {'Content-Type': 'application/json'})


def text(outgoing: Outgoing) -> str:
    # Slack reads <...> as links and mentions (<!channel>): a run's name must not ping everyone
    return f'{escaped(outgoing.message)} <{outgoing.link}|Open in Trainboard>'


def escaped(text: str) -> str:
    """Slack's own escaping of the three characters its markup uses."""
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
