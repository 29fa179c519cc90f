"""The dates task (every format reads back to its ISO target, no date in two splits, seeded) and
the reversal and sorting tasks; encoding refuses what a vocabulary cannot encode."""

import datetime
import re

import numpy as np
import pytest

from seqgrad.data import (
    DATE_FORMATS,
    TranslationTask,
    UnencodableTextError,
    dates_task,
    format_date,
    reversal_task,
    sorting_task,
)
from seqgrad.data.dates import CASINGS, MONTHS, ordinal

SMALL = (300, 60, 60)

# How strptime reads the formats it can (English month names; ordinals stripped first).
STRPTIME = {
    "d MMMM yyyy": "%d %B %Y", "dd/mm/yy": "%d/%m/%y", "dd/mm/yyyy": "%d/%m/%Y", "EEEE, MMMM d, yyyy": "%A, %B %d, %Y",
    "do of MMMM, yyyy": "%d of %B, %Y", "MMMM do yyyy": "%B %d %Y", "MMM d, yyyy": "%b %d, %Y", "d MMM yy": "%d %b %y",
    "EEE d MMM yyyy": "%a %d %b %Y", "d.m.yyyy": "%d.%m.%Y", "yyyy-mm-dd": "%Y-%m-%d", "yyyymmdd": "%Y%m%d",
}


def _read_back(style: str, text: str) -> datetime.date:
    if style in STRPTIME:
        text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text, flags=re.IGNORECASE)
        return datetime.datetime.strptime(text, STRPTIME[style]).date()
    language = style[:2]
    day, month_name, year = re.fullmatch(r"(\d+)\.? (?:de )?(\w+) (?:de )?(\d{4})", text, re.IGNORECASE).groups()
    months = [name.lower() for name in MONTHS[language]]
    return datetime.date(int(year), months.index(month_name.lower()) + 1, int(day))


@pytest.mark.parametrize("style", list(DATE_FORMATS))
def test_every_format_and_casing_reads_back_to_its_date(style):
    rng = np.random.default_rng(0)
    for offset in rng.integers(0, 36000, size=40):
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(offset))
        for casing in CASINGS:
            assert _read_back(style, format_date(date, style, casing)) == date, (style, casing, date)


def test_examples_from_the_issue():
    march_3 = datetime.date(2021, 3, 3)
    assert format_date(march_3, "d MMMM yyyy") == "3 March 2021"
    assert format_date(march_3, "dd/mm/yy") == "03/03/21"
    assert format_date(march_3, "EEEE, MMMM d, yyyy") == "Wednesday, March 3, 2021"
    assert format_date(march_3, "do of MMMM, yyyy", "lower") == "3rd of march, 2021"
    assert [ordinal(day) for day in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_splits_share_no_date_and_targets_are_iso():
    task = dates_task(SMALL, seed=3)
    seen = [{target for _, target in task.split(name)} for name in ("train", "validation", "test")]
    assert [len(dates) for dates in seen] == list(SMALL)   # one pair per date
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    for _, target in task.train[:50]:
        assert datetime.date.fromisoformat(target).isoformat() == target


def test_seeded_and_varied():
    first, again, other = dates_task(SMALL, seed=1), dates_task(SMALL, seed=1), dates_task(SMALL, seed=2)
    assert first.train == again.train and first.test == again.test
    assert first.train != other.train
    styles_seen = {source.lower()[:2] for source, _ in first.train}
    assert len(styles_seen) > 20


def test_encoding_shapes_and_vocabularies():
    task = dates_task(SMALL, seed=0)
    sources, lengths = task.encode_sources(["3 March 2021", "03/03/21"])
    assert sources.shape == (12, 2) and lengths.tolist() == [12, 8] and (sources[8:, 1] == 0).all()
    targets = task.encode_targets(["2021-03-03"])
    assert targets.shape == (11, 1) and targets[-1, 0] == task.eos_id
    assert task.decode_target(targets[:, 0]) == "2021-03-03"
    assert {"<s>", "</s>"} <= set(task.target.tokens)
    # any well-formed date is encodable, even with letters the training pairs never used
    task.encode_sources([format_date(datetime.date(2000, 8, 15), "fr: d MMMM yyyy", "upper")])


def test_unencodable_text_is_refused_with_the_characters_named():
    task = dates_task(SMALL, seed=0)
    with pytest.raises(UnencodableTextError, match=r"cannot encode '#', '€' in source 1"):
        task.encode_sources(["3 March 2021", "€3 #March"])
    with pytest.raises(ValueError, match="source 0 is empty"):
        task.encode_sources([""])
    with pytest.raises(TypeError, match="one str"):
        task.encode_sources("3 March 2021")


def test_bucketed_batches_cover_the_split_once():
    task = dates_task(SMALL, seed=0)
    seen = []
    for sources, lengths, targets in task.batches("train", 32, bucket=4, seed=0):
        assert sources.shape[1] == targets.shape[1] == len(lengths) <= 32
        seen += [task.decode_target(targets[:, b]) for b in range(targets.shape[1])]
    assert sorted(seen) == sorted(target for _, target in task.train)


@pytest.mark.parametrize("make,rule", [(reversal_task, lambda text: text[::-1]),
                                       (sorting_task, lambda text: "".join(sorted(text)))])
def test_reversal_and_sorting(make, rule):
    task = make((200, 20, 20), seed=0)
    assert isinstance(task, TranslationTask)
    sources = [[source for source, _ in task.split(name)] for name in ("train", "validation", "test")]
    assert not set(sources[0]) & set(sources[2])
    for source, target in task.train + task.test:
        assert target == rule(source)
    with pytest.raises(ValueError, match="sizes must be three positive ints"):
        make((10, 0, 5))
