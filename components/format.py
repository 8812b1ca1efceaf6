"""How numbers and times read on screen. Times are shown in the viewer's zone (components/clock), without callers
passing it: relative where that reads better ("3 min ago"), with the absolute time and its zone on hover."""

from datetime import UTC, datetime

from components import clock


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


def timestamp(moment: str | datetime | None, *, seconds: bool = False) -> str:
    """'2026-11-26 05:07' in the viewer's zone (its name is on the page's hover texts); '—' for none."""
    if moment is None or moment == '':
        return '—'
    return local(moment).strftime('%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M')


def absolute(moment: str | datetime | None) -> str:
    """The exact time with its zone, for hovers: '2026-11-26 05:07:12 PST'."""
    if moment is None or moment == '':
        return '—'
    return local(moment).strftime('%Y-%m-%d %H:%M:%S %Z')


def clock_time(moment: str | datetime | float, *, zone: bool = False) -> str:
    """The time of day in the viewer's zone, '13:07:02' (a log line's), or '13:07:02 PST'."""
    return local(moment).strftime('%H:%M:%S %Z' if zone else '%H:%M:%S')


def zone_name() -> str:
    """The viewer's zone as a column heading says it: 'PST', 'CET', 'UTC'."""
    return datetime.now(clock.zone()).strftime('%Z')


def relative(moment: str | datetime | None, now: datetime | None = None) -> str:
    """'in 5 min', 'just now', '3 min ago', '2 h ago', '4 d ago', then the date in the viewer's zone."""
    if moment is None or moment == '':
        return '—'
    when = local(moment)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < -60:
        return f'in {duration(-seconds)}'
    return ago(when, now)


def ago(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago', then the date (in the viewer's zone)."""
    seconds = ((now or datetime.now(UTC)) - _aware(moment)).total_seconds()
    if seconds < 60:
        return 'just now'
    if seconds < 3600:
        return f'{int(seconds // 60)} min ago'
    if seconds < 86400:
        return f'{int(seconds // 3600)} h ago'
    return f'{int(seconds // 86400)} d ago' if seconds < 7 * 86400 else f'{local(moment):%Y-%m-%d}'


def local(moment: str | datetime | float) -> datetime:
    """`moment` (ISO text, a datetime, or epoch seconds; naive means UTC, as the database stores it) in the viewer's
    zone."""
    if isinstance(moment, int | float):
        return datetime.fromtimestamp(moment, clock.zone())
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return _aware(moment).astimezone(clock.zone())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
