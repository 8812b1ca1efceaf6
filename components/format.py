"""How numbers read on screen."""

from datetime import UTC, datetime


def duration(seconds: float | None) -> str:
    if seconds is None:
        return '—'
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f'{days}d {hours}h'
    if hours:
        return f'{hours}h {minutes:02d}m'
    return f'{minutes}m {secs:02d}s' if minutes else f'{secs}s'


def machine(run: dict) -> str:
    """Where a run runs and what that costs: 'novita · RTX 4090 24GB x2 · spot · $0.70/h'."""
    parts = [run['provider']]
    if run.get('gpu_product'):
        parts.append(run['gpu_product'] + (f' x{run["gpu_count"]}' if run.get('gpu_count', 0) > 1 else ''))
    if run.get('billing') == 'spot':
        parts.append('spot')
    if run.get('price_per_hour'):
        parts.append(f'{money(run["price_per_hour"])}/h')
    return ' · '.join(parts)


def limits(values: dict[str, float | None]) -> str:
    """A run's limits in a few words: '$5.00 · 2h 00m · stall after 10m 00s'; '' when it has none."""
    parts = []
    if values.get('max_cost_usd') is not None:
        parts.append(money(values['max_cost_usd']))
    if values.get('max_duration_s') is not None:
        parts.append(duration(values['max_duration_s']))
    if values.get('stall_timeout_s') is not None:
        grace = values.get('stall_grace_s')
        parts.append(f'stall after {duration(values["stall_timeout_s"])}'
                     + (f', fail {duration(grace)} later' if grace is not None else ''))
    return ' · '.join(parts)


def money(usd: float | None) -> str:
    return '—' if usd is None else f'${usd:,.2f}' if abs(usd) >= 0.01 or usd == 0 else f'${usd:,.4f}'


def size(count: int | None) -> str:
    """Bytes as people read them: '512 B', '2.0 MiB', '293 KiB', '1.5 GiB'."""
    if count is None:
        return '—'
    value, unit = float(count), 'B'
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'):
        if value < 1024 or unit == 'PiB':
            break
        value /= 1024
    if unit == 'B':
        return f'{count:,} B'
    return f'{value:.1f} {unit}' if value < 100 else f'{value:,.0f} {unit}'


def since(iso: str | None, until: str | None = None) -> float | None:
    """Seconds from `iso` to `until` (or now)."""
    if not iso:
        return None
    end = datetime.fromisoformat(until) if until else datetime.now(UTC)
    return (end - datetime.fromisoformat(iso)).total_seconds()


def timestamp(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime('%Y-%m-%d %H:%M') if iso else '—'


def ago(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago', then the date."""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return 'just now'
    if seconds < 3600:
        return f'{int(seconds // 60)} min ago'
    if seconds < 86400:
        return f'{int(seconds // 3600)} h ago'
    return f'{int(seconds // 86400)} d ago' if seconds < 7 * 86400 else f'{moment:%Y-%m-%d}'
