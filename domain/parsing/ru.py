"""Russian resolutions: executors named in any case form, and the deadline phrase.

Names: pymorphy3 tells surnames, first names and patronymics (its Surn/Name/Patr tags) and gives their
nominative form in the right gender, so «Смирновой» is Смирнова and «Иванову» is Иванов (dative) before
Иванова (accusative). A name that fits several people is reported with its candidates, never guessed.
Deadlines: a small set of patterns for the phrases of Russian records management («до пятницы»,
«в течение двух рабочих дней», «в трёхдневный срок», «в месячный срок», «срок месяц», «до 15.12» ...),
their words recognised by lemma (any case form), and working days from the `holidays` calendar of Russia.
The regulations' words of urgency state a term too, «срочно» three days and «оперативно» ten (calendar
days, a day off moved as any deadline), but only when no deadline is said outright: «срочно, до 15.12»
is the 15th.
"""
import re
from datetime import date, timedelta
from functools import lru_cache

import pymorphy3
from dateutil.relativedelta import relativedelta

from .. import workdays
from . import Lookup, Parsed, Person, Span

# Cases tried in this order: executors are addressed in the dative («Петрову»), listed in the nominative
# («Ответственный — Валиев»), or asked in the accusative («Прошу Дмитрия Олеговича»).
CASES = ("datv", "nomn", "accs", "gent", "ablt", "loct")
ROLES = {"Surn": "surname", "Name": "first_name", "Patr": "patronymic"}
WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
          "ноябрь", "декабрь")
# Numerals by lemma (the case forms come from pymorphy): «двух» -> два -> 2.
NUMBERS = {w: i for i, w in enumerate(
    ("ноль один два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать тринадцать "
     "четырнадцать пятнадцать шестнадцать семнадцать восемнадцать девятнадцать двадцать").split())}
NUMBERS.update({"тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60, "девяносто": 90, "одна": 1,
                "одно": 1, "полтора": 1})
UNITS = {"день": "d", "сутки": "d", "неделя": "w", "месяц": "m", "год": "y"}
ROLE_WORDS = re.compile(r"(?:со)?исполнител[а-я]*|ответственн[а-я]*|отв\.?")

_B = r"(?<![а-я0-9])"
_TERM = r"(?:срок(?:ом)?(?:\s+исполнения)?\s*[-—–:]?\s*)?"
_BY = _TERM + r"(?:до|к|не\s+позднее|в\s+срок\s+до|по)\s+"
PATTERNS = [
    ("date_num", _B + _BY + r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})(?:\.(?P<y>\d{4}|\d{2}))?(?![0-9])"),
    ("date_word", _B + _BY + r"(?P<d>\d{1,2})(?:-?г?о)?\s+(?P<month>[а-я]+)(?:\s+(?P<y>\d{4})(?:\s*(?:года|г\.?))?)?"),
    ("end", _B + _TERM + r"(?:до|к)\s+конц[а-я]*\s+(?:(?:текущ|эт|нынешн)[а-я]*\s+)?(?P<what>[а-я]+)"),
    ("weekday", _B + _TERM + r"(?:до|к|не\s+позднее|в|во)\s+(?:(?:ближайш|следующ)[а-я]*\s+)?(?P<wd>[а-я]+)"),
    ("within", _B + r"(?:в\s+течени[ея]|в\s+срок|за|через)\s+(?:(?P<n>\d{1,3}|[а-я]+)\s+)?"
               r"(?:(?P<bd>рабоч[а-я]*|календарн[а-я]*)\s+)?(?P<unit>[а-я]+)"),
    ("n_day", _B + r"(?:в\s+течени[ея]\s+|в\s+пределах\s+|в\s+)(?P<n>\d{1,3}-?|[а-я]*?)"
               r"(?P<unit>дневн|недельн|месячн)[а-я]*\s+срок[а-я]*"),
    ("term", _B + r"срок(?:ом)?(?:\s+исполнения)?\s*[-—–:]?\s*(?:(?P<n>\d{1,3}|[а-я]+)\s+)?"
             r"(?:(?P<bd>рабоч[а-я]*|календарн[а-я]*)\s+)?(?P<unit>[а-я]+)"),
    ("day", _B + r"(?:(?:до|не\s+позднее)\s+)?(?P<rel>послезавтра|завтра|сегодня|завтрашнего\s+дня)"),
]
PATTERNS = [(kind, re.compile(rx + r"(?![а-я0-9])")) for kind, rx in PATTERNS]
# Urgency said instead of a deadline: «срочно», «очень срочно», «срочное», «в (самом) срочном порядке»;
# «оперативно», «в оперативном порядке» (not «оперативное совещание»). «Не срочно» states nothing.
_NOT = r"(?<!не\s)(?<!не\s\s)"
URGENCY = {"urgent": 3, "prompt": 10}
URGENCY_PATTERNS = [(kind, re.compile(_B + _NOT + rx + r"(?![а-я0-9])")) for kind, rx in (
    ("urgent", r"(?:(?:очень|крайне|весьма)\s+)?(?:срочн(?:о|ое|ый|ая)|в\s+(?:(?:самом|самые)\s+)?срочн[а-я]*\s+"
               r"порядк[а-я]*)"),
    ("prompt", r"(?:(?:очень|максимально|весьма)\s+)?(?:оперативн(?:о|ейшим\s+образом)|в\s+оперативн[а-я]*\s+"
               r"порядк[а-я]*)"),
)]
TOKEN = re.compile(r"(?P<num>\d[\d.]*)|(?P<word>[^\W\d_]+(?:-[^\W\d_]+)*)|(?P<punct>[^\w\s])")
CONNECTORS = {"и", ",", ";", ":", "—", "–", "-", ".", "а", "также"}


@lru_cache(maxsize=1)
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer(lang="ru")


def _readings(word: str) -> list:
    """pymorphy3's readings of `word`; none for a word it cannot read.

    Every word this module reads goes through here. pymorphy3 asks `unicodedata.name` whether a letter
    is Latin and raises ValueError for a letter Unicode has no name for (U+18259, say): such a word
    names no one and states no deadline, so it has no reading rather than failing the whole text.
    """
    try:
        return _morph().parse(word)
    except ValueError:
        return []


def norm(word: str) -> str:
    return word.lower().replace("ё", "е")


@lru_cache(maxsize=200_000)
def _lemmas(word: str) -> frozenset[str]:
    return frozenset(norm(p.normal_form) for p in _readings(word))


@lru_cache(maxsize=200_000)
def analyses(word: str) -> tuple[tuple[str, str, str | None], ...]:
    """(role, nominative key, case) for each reading of `word` as a surname, first name or patronymic."""
    out = set()
    has_surname = False
    for p in _readings(word):
        role = next((ROLES[g] for g in ROLES if g in p.tag.grammemes), None)
        if role is None:
            continue
        has_surname |= role == "surname"
        nominative = p.inflect({"nomn"}) if "Fixd" not in p.tag.grammemes else None
        out.add((role, norm(nominative.word if nominative else p.word), p.tag.case))
    if not has_surname:  # a surname the dictionary does not decline: take it as said, in any case
        out.add(("surname", word, None))
    return tuple(out)


@lru_cache(maxsize=200_000)
def _top_is_name(word: str) -> str | None:
    top = next(iter(_readings(word)), None)
    return next((ROLES[g] for g in ROLES if g in top.tag.grammemes), None) if top else None


def _number(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return 1
    raw = raw.rstrip("-")
    if raw.isdigit():
        return int(raw)
    return next((NUMBERS[lemma] for lemma in _lemmas(raw) if lemma in NUMBERS), None)


def _unit(raw: str) -> str | None:
    return next((UNITS[lemma] for lemma in _lemmas(raw) if lemma in UNITS), None)


def _rule(kind: str, m: re.Match, today: date):
    """The deadline rule a matched phrase states: ("date", d) | ("days", n) | ("workdays", n) | ("months", n)."""
    g = m.groupdict()
    if kind in ("date_num", "date_word"):
        if kind == "date_num":
            month = int(g["m"])
        else:
            month = next((MONTHS.index(lemma) + 1 for lemma in _lemmas(g["month"]) if lemma in MONTHS), None)
            if month is None:
                return None
        year = int(g["y"]) if g["y"] else today.year
        year += 2000 if year < 100 else 0
        try:
            day = date(year, month, int(g["d"]))
            if not g["y"] and day < today:
                day = date(year + 1, month, int(g["d"]))
        except ValueError:
            return None
        return ("date", day)
    if kind == "weekday":
        wd = next((WEEKDAYS.index(lemma) for lemma in _lemmas(g["wd"]) if lemma in WEEKDAYS), None)
        if wd is None:
            return None
        return ("date", today + timedelta(days=(wd - today.weekday()) % 7 or 7))
    if kind == "end":
        what = _unit(g["what"]) or ("q" if "квартал" in _lemmas(g["what"]) else None)
        if what == "m":
            return ("date", today + relativedelta(day=31))
        if what == "w":
            return ("date", today + timedelta(days=(4 - today.weekday()) % 7))
        if what == "q":
            return ("date", today + relativedelta(month=((today.month - 1) // 3 + 1) * 3, day=31))
        if what == "y":
            return ("date", date(today.year, 12, 31))
        return None
    if kind == "day":
        rel = g["rel"]
        return ("date", today + timedelta(days=2 if rel == "послезавтра" else 0 if rel == "сегодня" else 1))
    n, unit = _number(g.get("n")), None
    if kind == "n_day":
        unit = {"дневн": "d", "недельн": "w", "месячн": "m"}[g["unit"]]
    else:
        unit = _unit(g["unit"])
    if n is None or unit is None or not 0 < n <= 400:
        return None
    if unit == "d":
        return ("workdays" if (g.get("bd") or "").startswith("рабоч") else "days", n)
    if unit == "w":
        return ("days", 7 * n)
    return ("months", n * (12 if unit == "y" else 1))


def deadline(s: str, today: date, day_off_rule: str) -> tuple[date, int, int] | None:
    """The first deadline phrase of the normalised text `s`: the date and its character span."""
    found = []
    for kind, rx in PATTERNS:
        for m in rx.finditer(s):
            rule = _rule(kind, m, today)
            if rule is not None:
                found.append((m.start(), -m.end(), rule))
                break
    if not found:  # no deadline said outright: the urgency said, if any
        found = [(m.start(), -m.end(), ("days", URGENCY[kind])) for kind, rx in URGENCY_PATTERNS
                 for m in rx.finditer(s)]
    if not found:
        return None
    start, neg_end, (how, value) = min(found, key=lambda f: (f[0], f[1]))
    if how == "workdays":
        return workdays.add_working_days(today, value), start, -neg_end
    day = value if how == "date" else today + (timedelta(days=value) if how == "days"
                                                else relativedelta(months=value))
    return workdays.off_day_shift(day, day_off_rule, not_before=today), start, -neg_end


class _Token:
    __slots__ = ("kind", "raw", "key", "start", "end", "removed", "initial")

    def __init__(self, m: re.Match):
        self.kind, self.raw = m.lastgroup, m.group()
        self.key, self.start, self.end = norm(self.raw), m.start(), m.end()
        self.removed, self.initial = False, False


def _tokens(text: str) -> list[_Token]:
    tokens = [_Token(m) for m in TOKEN.finditer(text)]
    for i, t in enumerate(tokens):  # «И.В.»: capital letters each followed by a full stop
        t.initial = (t.kind == "word" and len(t.raw) == 1 and t.raw.isupper() and i + 1 < len(tokens)
                     and tokens[i + 1].raw == ".")
    return tokens


def _match(person: Person, group: list[_Token], case: str) -> bool:
    """Do the words of `group` name `person`, each a different part of the name, all in `case`?"""
    used = set()
    for t in group:
        if t.initial:
            role = "first_name" if "first_name" not in used else "patronymic"
            if not getattr(person, role).startswith(t.key):
                return False
            used.add(role)
            continue
        for role, key, c in analyses(t.key):
            if role not in used and (c is None or c == case) and getattr(person, role) == key:
                used.add(role)
                break
        else:
            return False
    return "surname" in used or {"first_name", "patronymic"} <= used


def _who(group: list[_Token], people: list[Person]) -> list[Person]:
    """The people `group` names, read in the first case (of CASES) in which it names anyone."""
    for case in CASES:
        found = [p for p in people if _match(p, group, case)]
        if found:
            return found
    return []


def parse(text: str, today: date, lookup: Lookup, day_off_rule: str = "before") -> Parsed:
    tokens = _tokens(text)
    s = "".join(c if len(c.lower()) != 1 else c.lower() for c in text).replace("ё", "е")
    out = Parsed(text=text)

    found = deadline(s, today, day_off_rule)
    if found:
        out.deadline, start, end = found
        out.deadline_span = Span(text[start:end].strip(), start, end)
        for t in tokens:
            if t.start >= start and t.end <= end:
                t.removed = True

    words = [t for t in tokens if t.kind == "word" and not t.removed and not t.initial]
    surnames = {k for t in words for role, k, _ in analyses(t.key) if role == "surname"}
    names = {k for t in words for role, k, _ in analyses(t.key) if role == "first_name"}
    people = lookup(surnames, names) if words else []
    keys = {(role, getattr(p, role)) for p in people for role in ROLES.values()}

    def candidate(t: _Token) -> bool:
        return t.kind == "word" and not t.removed and (
            t.initial or any((role, k) in keys for role, k, _ in analyses(t.key)))

    seen: set[int] = set()
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if not candidate(t) or t.initial:
            i = _unmatched(tokens, i, out)
            continue
        # The longest run of words (and initials) from here that names someone.
        run = []
        j = i
        while j < len(tokens) and len(run) < 5 and candidate(tokens[j]):
            run.append(tokens[j])
            j += 2 if tokens[j].initial else 1
        for length in range(len(run), 0, -1):
            group = run[:length]
            who = _who(group, people)
            if who:
                break
        if not who:
            i = _unmatched(tokens, i, out)
            continue
        last = group[-1]
        end = last.end + (1 if last.initial else 0)
        span = Span(text[t.start:end], t.start, end)
        for g in tokens[i:tokens.index(last) + 1 + (1 if last.initial else 0)]:
            g.removed = True
        if len(who) == 1:
            if who[0].id not in seen:
                seen.add(who[0].id)
                out.executors.append((who[0], span))
        else:
            out.ambiguous.append((span, sorted(who, key=lambda p: (p.surname, p.first_name, p.id))))
        i = tokens.index(last) + 1 + (1 if last.initial else 0)

    out.text = _clean(text, tokens)
    return out


def _unmatched(tokens: list[_Token], i: int, out: Parsed) -> int:
    """A surname (or a first name with patronymic) of no one in the organization: report it, take it out."""
    t = tokens[i]
    if t.kind != "word" or t.removed:
        return i + 1
    run = [t]
    while (len(run) < 3 and i + len(run) < len(tokens) and tokens[i + len(run)].kind == "word"
           and _top_is_name(tokens[i + len(run)].key)):
        run.append(tokens[i + len(run)])
    roles = [_top_is_name(x.key) for x in run]
    if roles[0] is None or not ("surname" in roles or {"first_name", "patronymic"} <= set(roles)):
        return i + 1
    start, end = run[0].start, run[-1].end
    out.unmatched.append(Span(" ".join(x.raw for x in run), start, end))
    for x in run:
        x.removed = True
    return i + len(run)


def _clean(text: str, tokens: list[_Token]) -> str:
    """The instruction alone: names, their role words and the deadline phrase taken out; a capital first."""
    def neighbour(i: int, step: int) -> _Token | None:
        i += step
        while 0 <= i < len(tokens) and (tokens[i].kind == "punct" or tokens[i].key in CONNECTORS):
            i += step
        return tokens[i] if 0 <= i < len(tokens) else None

    for i, t in enumerate(tokens):  # «Ответственный — Валиев», «соисполнители Смирнова и ...»
        nxt = neighbour(i, 1)
        if not t.removed and ROLE_WORDS.fullmatch(t.key) and nxt is not None and nxt.removed:
            t.removed = True
    for i, t in enumerate(tokens):  # «и», commas and dashes that joined only what was taken out
        if not t.removed and (t.kind == "punct" or t.key in CONNECTORS):
            left, right = neighbour(i, -1), neighbour(i, 1)
            if (left is None or left.removed) and (right is None or right.removed):
                t.removed = True
    parts, last_end = [], None
    for t in tokens:
        if t.removed:
            continue
        if last_end is not None and text[last_end:t.start]:
            parts.append(" ")
        parts.append(t.raw)
        last_end = t.end
    cleaned = " ".join("".join(parts).split())
    cleaned = re.sub(r"\s+([,.;:!?»)])", r"\1", cleaned)
    cleaned = re.sub(r"([«(])\s+", r"\1", cleaned)
    cleaned = re.sub(r"^[\s,.;:—–\-]+|[\s,;:—–\-]+$", "", cleaned)
    if cleaned.split(" ", 1)[0].lower() in ("и", "а"):
        cleaned = cleaned.split(" ", 1)[1] if " " in cleaned else ""
    return cleaned[:1].upper() + cleaned[1:]


def addressed_forms(surname: str, first_name: str) -> list[str]:
    """How a person is named in a resolution: the surname as listed and in the dative («Хабибуллину»)."""
    gender = next((p.tag.gender for p in _readings(norm(first_name)) if "Name" in p.tag.grammemes), None)
    forms = [surname]
    for p in _readings(norm(surname)):
        if "Surn" in p.tag.grammemes and p.tag.case == "nomn" and (gender is None or p.tag.gender == gender):
            dative = p.inflect({"datv"})
            if dative:
                forms.append(dative.word.capitalize() if surname[:1].isupper() else dative.word)
            break
    return list(dict.fromkeys(forms))
