"""Roles across time: a title ("the Russian president", "NATO chief") resolved to its holder on a date.

Each role in the dictionary lists its title patterns and its holders with ``from`` / ``until`` dates
(``until`` is the first day the next holder held it). A title in a dated document counts for the holder
on that date. In an undated document it counts only when one holder spans the corpus's whole date
range (a corpus of 2022 news: the German chancellor is Olaf Scholz throughout); otherwise, and when the
corpus has no dates at all, the mention goes to ``actor_ambiguous`` with the reason. A title followed by
a person's name ("German Chancellor Olaf Scholz") is not counted twice, and one after "former", "then",
"next", "vice"... names someone else than the holder of the day: listed as ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["holder_on", "resolve_holder", "corpus_span", "find_role_mentions", "NOT_THE_HOLDER"]

# a word before the title that points away from the holder on the document's date
NOT_THE_HOLDER = ("former", "ex", "late", "then", "future", "next", "incoming", "outgoing", "previous", "past",
                  "vice", "deputy", "acting", "would-be", "first")


def holder_on(role: dict, date: str) -> str | None:
    """The holder of ``role`` on ``date`` (ISO ``YYYY-MM-DD``), or None.

    Example:
        >>> role = {"holders": [{"actor": "A", "until": "2024-10-01"}, {"actor": "B", "from": "2024-10-01"}]}
        >>> holder_on(role, "2024-09-30"), holder_on(role, "2024-10-01")
        ('A', 'B')
    """
    for h in role.get("holders", []):
        if (not h.get("from") or date >= str(h["from"])) and (not h.get("until") or date < str(h["until"])):
            return h["actor"]
    return None


def resolve_holder(role: dict, date: str, span: tuple[str, str] | None) -> tuple[str | None, str]:
    """The holder for a title in a document dated ``date`` ("" when undated), or None and why not.

    ``span`` is the corpus's first and last date (None: no document is dated).

    Example:
        >>> role = {"role": "NATO Secretary General", "holders": [
        ...     {"actor": "A", "until": "2024-10-01"}, {"actor": "B", "from": "2024-10-01"}]}
        >>> resolve_holder(role, "", ("2022-02-01", "2022-09-30"))
        ('A', '')
        >>> resolve_holder(role, "", ("2024-06-01", "2024-12-31"))[1]
        "role 'NATO Secretary General': document undated, and the corpus's dates (2024-06-01 to 2024-12-31) span holders A, B"
    """
    name = role.get("role", "?")
    if date:
        holder = holder_on(role, date)
        return (holder, "") if holder else (None, f"role '{name}': no holder listed on {date}")
    if not span:
        return None, f"role '{name}': document undated and the corpus has no dates, so the holder is unknown"
    lo, hi = span
    spanning = [h["actor"] for h in role.get("holders", [])
                if (not h.get("from") or lo >= str(h["from"])) and (not h.get("until") or hi < str(h["until"]))]
    if len(spanning) == 1:
        return spanning[0], ""
    within = [h["actor"] for h in role.get("holders", [])
              if (not h.get("from") or hi >= str(h["from"])) and (not h.get("until") or lo < str(h["until"]))]
    return None, (f"role '{name}': document undated, and the corpus's dates ({lo} to {hi}) span holders "
                  f"{', '.join(within) or 'none listed'}")


def corpus_span(dates: Iterable[str]) -> tuple[str, str] | None:
    """The first and last of the corpus's document dates (ISO strings; empty ones ignored), or None."""
    ds = sorted(d[:10] for d in dates if isinstance(d, str) and re.match(r"\d{4}-\d\d-\d\d", d))
    return (ds[0], ds[-1]) if ds else None


def _pattern(role: dict) -> re.Pattern:
    pats = sorted({p for p in role.get("patterns", [])}, key=len, reverse=True)
    alts = "|".join(re.escape(p).replace("'", "['’]").replace("’", "['’]") for p in pats)
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.I)


def find_role_mentions(roles: list[dict], texts: dict[str, str], dates: dict[str, str],
                       span: tuple[str, str] | None, person_starts: set[tuple[str, int]]
                       ) -> tuple[list[tuple], list[tuple[str, int, int, str, str]]]:
    """Title mentions: (counted rows, ambiguous rows).

    Counted rows are ``(doc_id, holder, surface, start, end)``; ambiguous rows ``(doc_id, start, end,
    surface, reason)``. ``person_starts`` holds ``(doc_id, start)`` of person mentions: a title directly
    followed by one is that person's title, already counted.
    """
    rows, ambiguous = [], []
    for role in roles:
        if not role.get("patterns"):
            continue
        pat = _pattern(role)
        for doc_id, text in texts.items():
            for m in pat.finditer(text):
                gap = re.match(r"[\s,]*", text[m.end(): m.end() + 10]).end()
                if (doc_id, m.end() + gap) in person_starts:
                    continue  # "NATO Secretary General Jens Stoltenberg": the person is counted already
                before = re.search(r"([\w-]+)[\s-]*(?:the\s+)?$", text[max(0, m.start() - 30): m.start()])
                word = before.group(1).strip("-").lower() if before else ""
                if word in NOT_THE_HOLDER:
                    ambiguous.append((doc_id, m.start(), m.end(), m.group(0),
                                      f"role '{role.get('role')}' after '{word}': not the holder of the day"))
                    continue
                holder, why = resolve_holder(role, dates.get(doc_id, ""), span)
                if holder:
                    rows.append((doc_id, holder, m.group(0), m.start(), m.end()))
                else:
                    ambiguous.append((doc_id, m.start(), m.end(), m.group(0), why))
    return rows, ambiguous
