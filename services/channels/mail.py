"""Email over SMTP (TRAINBOARD_SMTP_*): a plain-text and an HTML part, the subject from the event, a link to the run.

smtplib blocks, so each message is sent in a worker thread. What is tried again: no answer, a dropped connection,
a 4xx reply (the server's "try later"). What is not: a 5xx reply (the recipient or the sender refused, the login
rejected, STARTTLS not offered): the same message would get the same answer.
"""

from __future__ import annotations

import asyncio
import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import settings
from models.runs import FINISHED
from services import budget
from services.channels import Outgoing, SendFailed

TIMEOUT_S = 20.0
SUBJECT_PREFIX = '[Trainboard] '
SUBJECT_MAX = 69  # 'Subject: ' and this fit one 78-character header line: never folded onto a second
_DETAILS = (('reason', 'Reason'), ('by', 'By'))
_FINISHED = frozenset(str(status) for status in FINISHED)


async def send(to: str, outgoing: Outgoing) -> None:
    config = settings.current
    if not config.smtp_host:
        raise SendFailed('no SMTP server is set (TRAINBOARD_SMTP_HOST)', retry=False, tried=False)
    message = compose(to, outgoing, sender=config.smtp_from)
    try:
        await asyncio.to_thread(_send, message, config)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _said in error.recipients.values()]
        raise SendFailed(f'the SMTP server refused the recipient ({", ".join(map(str, codes))})',
                         retry=not all(code >= 500 for code in codes)) from None
    except smtplib.SMTPResponseException as error:
        said = error.smtp_error
        said = said.decode(errors='replace') if isinstance(said, bytes) else str(said)
        raise SendFailed(f'the SMTP server answered {error.smtp_code}: {" ".join(said.split())[:120]}',
                         retry=error.smtp_code < 500) from None
    except smtplib.SMTPNotSupportedError as error:
        raise SendFailed(f'the SMTP server does not support that: {error}', retry=False) from None
    except (smtplib.SMTPException, OSError) as error:  # no answer, a dropped connection, a TLS failure
        raise SendFailed(f'could not reach the SMTP server {config.smtp_host}:{config.smtp_port} '
                         f'({type(error).__name__})', retry=True) from None


def compose(to: str, outgoing: Outgoing, *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message['Subject'] = subject(outgoing.message)
    message['From'] = sender
    message['To'] = to
    message['Date'] = formatdate(localtime=True)
    message['Message-ID'] = make_msgid(domain=sender.rpartition('@')[2].strip('>') or None)
    message['X-Trainboard-Event-Id'] = str(outgoing.event_id)
    message.set_content(_plain(outgoing))
    message.add_alternative(_html(outgoing), subtype='html')
    return message


def subject(said: str) -> str:
    """The event's message as a subject: one line, saying a stop once ('"bert" in vision was stopped by the project
    budget…', not 'stopped: Stopped by…'), cut at a word with '...' (ASCII: a non-ASCII character would make the
    header an encoded word, which is folded) to fit one header line; the body has all of it."""
    text = SUBJECT_PREFIX + re.sub(r' stopped: Stopped\b', ' was stopped', ' '.join(said.split()))
    if len(text) <= SUBJECT_MAX:
        return text
    cut = text[:SUBJECT_MAX - 3]
    if text[len(cut)].isalnum() and cut.rfind(' ') > len(SUBJECT_PREFIX) + 20:
        cut = cut[:cut.rfind(' ')]  # not in the middle of a word
    return cut.rstrip(' ,.:;') + '...'


def _facts(outgoing: Outgoing) -> list[tuple[str, str]]:
    facts = []
    if outgoing.project:
        facts.append(('Project', outgoing.project.name))
    if outgoing.run:
        facts.append(('Run', f'{outgoing.run.name} ({outgoing.run.status})'))
    for key, label in _DETAILS:
        value = outgoing.details.get(key)
        if value not in (None, ''):
            facts.append((label, str(value)))
    cost = outgoing.details.get('cost_usd')
    if isinstance(cost, int | float):  # as the app shows money; 'so far' only while the run goes on
        going = outgoing.run is not None and outgoing.run.status not in _FINISHED
        facts.append(('Cost so far' if going else 'Cost', budget.usd(cost)))
    return facts


def _plain(outgoing: Outgoing) -> str:
    lines = [outgoing.message, '']
    lines += [f'{label}: {value}' for label, value in _facts(outgoing)]
    lines += ['', f'Open it: {outgoing.link}', '', _footer()]
    return '\n'.join(lines) + '\n'


def _html(outgoing: Outgoing) -> str:
    # every text here may come from a user (a run's or project's name, a stop reason): escaped, all of it
    esc = html.escape
    rows = ''.join(f'<tr><td style="color:#666;padding-right:12px">{esc(label)}</td><td>{esc(value)}</td></tr>'
                   for label, value in _facts(outgoing))
    return (f'<html><body style="font-family:sans-serif">'
            f'<p style="font-size:16px">{esc(outgoing.message)}</p>'
            f'<table>{rows}</table>'
            f'<p><a href="{esc(outgoing.link, quote=True)}">Open it in Trainboard</a></p>'
            f'<p style="color:#888;font-size:12px">{esc(_footer())}</p>'
            f'</body></html>')


def _footer() -> str:
    return (f'You get this email from Trainboard as chosen in your settings: '
            f'{settings.current.public_url.rstrip("/")}/settings')


def _send(message: EmailMessage, config: settings.Settings) -> None:
    """In a worker thread: connect, secure (TLS from the start, or STARTTLS), log in if set, send."""
    context = ssl.create_default_context()
    if config.smtp_tls == 'ssl':
        client: smtplib.SMTP = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=TIMEOUT_S)
    with client:
        if config.smtp_tls == 'starttls':
            client.starttls(context=context)
        if config.smtp_user:
            client.login(config.smtp_user, config.smtp_password)
        client.send_message(message)
