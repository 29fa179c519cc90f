"""Dates written the ways people write them, to ISO 8601: a translation task that ships with seqgrad.

    "3 March 2021", "03/03/21", "Wednesday, March 3, 2021", "3rd of march, 2021",
    "3 mars 2021", "3. März 2021", "3 de marzo de 2021"  ->  "2021-03-03"

Every source is made from a date by one of `DATE_FORMATS` and one casing (as written,
lower, upper, title), both drawn from the seed. Numeric formats put the day first
(03/03/21 is 3 March); two-digit years follow Python's strptime window (69-99 are
1969-1999, 00-68 are 2000-2068), and the dates are drawn from 1970-01-01 to 2068-12-31 so
that every two-digit year reads back to one date. A date belongs to one split only.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import numpy as np

from ._seeding import resolve_rng
from .translation import SPLITS, TranslationTask, check_split_sizes, split_distinct

FIRST_DAY = datetime.date(1970, 1, 1)
LAST_DAY = datetime.date(2068, 12, 31)

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def ordinal(day: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, ..., 31st."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(date: datetime.date, language: str = "en") -> str:
    return MONTHS[language][date.month - 1]


# name -> how it writes a date. Kept in a table so a test can check that each one reads back.
DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "d MMMM yyyy": lambda d: f"{d.day} {_month(d)} {d.year}",                      # 3 March 2021
    "dd/mm/yy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",         # 03/03/21
    "dd/mm/yyyy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",                 # 03/03/2021
    "EEEE, MMMM d, yyyy": lambda d: f"{WEEKDAYS[d.weekday()]}, {_month(d)} {d.day}, {d.year}",
    "do of MMMM, yyyy": lambda d: f"{ordinal(d.day)} of {_month(d)}, {d.year}",     # 3rd of March, 2021
    "MMMM do yyyy": lambda d: f"{_month(d)} {ordinal(d.day)} {d.year}",             # March 3rd 2021
    "MMM d, yyyy": lambda d: f"{_month(d)[:3]} {d.day}, {d.year}",                  # Mar 3, 2021
    "d MMM yy": lambda d: f"{d.day} {_month(d)[:3]} {d.year % 100:02d}",            # 3 Mar 21
    "EEE d MMM yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {_month(d)[:3]} {d.year}",
    "d.m.yyyy": lambda d: f"{d.day}.{d.month}.{d.year}",                            # 3.3.2021
    "yyyy-mm-dd": lambda d: d.isoformat(),                                          # 2021-03-03
    "yyyymmdd": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",                      # 20210303
    "fr: d MMMM yyyy": lambda d: f"{d.day} {_month(d, 'fr')} {d.year}",             # 3 mars 2021
    "de: d. MMMM yyyy": lambda d: f"{d.day}. {_month(d, 'de')} {d.year}",           # 3. März 2021
    "es: d de MMMM de yyyy": lambda d: f"{d.day} de {_month(d, 'es')} de {d.year}",  # 3 de marzo de 2021
}
CASINGS: dict[str, Callable[[str], str]] = {
    "as written": lambda text: text, "lower": str.lower, "upper": str.upper, "title": str.title,
}


def format_date(date: datetime.date, style: str, casing: str = "as written") -> str:
    """`date` written in `style` (a key of DATE_FORMATS) with `casing` (a key of CASINGS)."""
    if style not in DATE_FORMATS:
        raise ValueError(f"unknown date format {style!r}; expected one of {sorted(DATE_FORMATS)}")
    if casing not in CASINGS:
        raise ValueError(f"unknown casing {casing!r}; expected one of {sorted(CASINGS)}")
    return CASINGS[casing](DATE_FORMATS[style](date))


def all_source_characters() -> str:
    """Every character any format and casing can write (so any well-formed date is encodable)."""
    samples = [datetime.date(2000, month, day) for month in range(1, 13) for day in (1, 2, 3, 4, 28)]
    samples += [datetime.date(2000, 1, 1) + datetime.timedelta(days=k) for k in range(7)]
    text = "".join(format_date(date, style, casing) for date in samples for style in DATE_FORMATS
                   for casing in CASINGS)
    return "".join(sorted(set(text) | set("0123456789")))


def random_dates(count: int, rng: np.random.Generator) -> list[datetime.date]:
    """`count` distinct dates drawn uniformly from FIRST_DAY .. LAST_DAY."""
    span = (LAST_DAY - FIRST_DAY).days + 1
    if count > span:
        raise ValueError(f"only {span} distinct dates exist between {FIRST_DAY} and {LAST_DAY}, asked for {count}")
    offsets = rng.choice(span, size=count, replace=False)
    return [FIRST_DAY + datetime.timedelta(days=int(offset)) for offset in offsets]


def date_pairs(dates: list[datetime.date], rng: np.random.Generator,
               styles: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(human-written, ISO 8601) for each date, with a random format and casing each."""
    styles = tuple(DATE_FORMATS) if styles is None else styles
    casings = tuple(CASINGS)
    chosen_styles = rng.integers(0, len(styles), size=len(dates))
    chosen_casings = rng.integers(0, len(casings), size=len(dates))
    return [(format_date(date, styles[s], casings[c]), date.isoformat())
            for date, s, c in zip(dates, chosen_styles, chosen_casings)]


def dates_task(sizes: tuple[int, int, int] = (20000, 1000, 1000), *, seed: int | None = None,
               rng: np.random.Generator | None = None, styles: tuple[str, ...] | None = None) -> TranslationTask:
    """Human-written dates to ISO 8601, `sizes` = (train, validation, test) pairs, no date in two splits.

    Each date appears once, in one random format (`styles`: keys of DATE_FORMATS, all by default)
    and casing. Sources are characters; targets are the ten characters of yyyy-mm-dd then `</s>`.
    """
    sizes = check_split_sizes(sizes, "dates_task")
    if styles is not None:
        unknown = [style for style in styles if style not in DATE_FORMATS]
        if unknown or not styles:
            raise ValueError(f"dates_task: styles must be keys of DATE_FORMATS, got {unknown or styles!r}")
    generator = resolve_rng(seed, rng, "dates_task")
    dates = random_dates(sum(sizes), generator)
    parts = split_distinct(dates, sizes, generator, "dates_task")
    splits = {name: date_pairs(part, generator, styles) for name, part in zip(SPLITS, parts)}
    return TranslationTask.from_pairs("dates", splits, "human-written dates to ISO 8601 (yyyy-mm-dd)",
                                      all_source_characters(), "0123456789-")
