"""Slack incoming webhooks: one short line and the link, as {"text": ...}."""

from __future__ import annotations

import json

from services.channels import Outgoing, http

MESSAGE_MAX = 500  # a line in a channel, not a report: the link has the rest


async def send(url: str, outgoing: Outgoing) -> None:
    await http.post(url, json.dumps({'text': text(outgoing)}).encode(), {'Content-Type': 'application/json'})


def text(outgoing: Outgoing) -> str:
    # Slack reads <...> as links and mentions (<!channel>): a run's name must not ping everyone
    message = outgoing.message if len(outgoing.message) <= MESSAGE_MAX else outgoing.message[:MESSAGE_MAX - 1] + '…'
    return f'{escaped(message)} <{outgoing.link}|Open in Trainboard>'


def escaped(text: str) -> str:
    """Slack's own escaping of the three characters its markup uses."""
    return text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
