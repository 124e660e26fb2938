"""Reading a resolution: who is to do what by when, from the words an executive said or typed.

One parser per language (`ru.py`, ...). A language without one gets the text back untouched: nothing
is guessed. A parser sees the organization's people only through `Lookup`, so it stays free of the
database and can be measured on its own.
"""
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Person:
    """What a parser needs of a person: normalised name parts (lower case, ё as е)."""

    id: int
    short_name: str
    surname: str
    first_name: str
    patronymic: str


# Lookup(surnames, first_names) -> the active people of the organization having any of them.
Lookup = Callable[[Iterable[str], Iterable[str]], list[Person]]


@dataclass
class Span:
    said: str
    start: int  # character offsets in the text, end exclusive
    end: int


@dataclass
class Parsed:
    text: str
    executors: list[tuple[Person, Span]] = field(default_factory=list)
    deadline: date | None = None
    deadline_span: Span | None = None
    ambiguous: list[tuple[Span, list[Person]]] = field(default_factory=list)
    unmatched: list[Span] = field(default_factory=list)


def _ru():
    from . import ru
    return ru.parse


PARSERS: dict[str, Callable[[], Callable]] = {"ru": _ru}


def languages() -> list[str]:
    return sorted(PARSERS)


def addressed_forms(language: str, surname: str, first_name: str) -> list[str]:
    """The forms in which a person is named when dictating (for a recogniser's phrase list)."""
    if (language or "").split("-")[0].lower() == "ru":
        from . import ru
        return ru.addressed_forms(surname, first_name)
    return [surname]


def parse(text: str, language: str, today: date, lookup: Lookup, day_off_rule: str = "before") -> Parsed:
    """What `text` says, read by the parser of its language; any other language keeps the text as it is."""
    loader = PARSERS.get((language or "").split("-")[0].lower())
    if loader is None:
        return Parsed(text=text)
    return loader()(text, today, lookup, day_off_rule)
