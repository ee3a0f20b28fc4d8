"""`--since` of `pacs find` / `import-images --pacs`: a day of the calendar or exit 2."""

import pytest

from dossierkit.errors import UsageError
from dossierkit.gather.pacs.gather import _date_arg


@pytest.mark.parametrize("since", ["2026-13-01", "2026-02-30", "20261301", "yesterday", "2026-1-1"])
def test_since_must_be_a_day_of_the_calendar(since):
    with pytest.raises(UsageError, match="expected a date YYYY-MM-DD"):
        _date_arg(since)


def test_since_accepts_both_spellings_of_a_real_day():
    assert _date_arg("2026-02-28") == "20260228" and _date_arg("20260228") == "20260228"
    assert _date_arg(None) is None and _date_arg("") is None
