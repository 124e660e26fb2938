"""A person's name: the columns derived from its parts, and the search form they are compared in.

Search keys are normalised once, when a person is written (lower case, ё as е), into indexed columns
compared byte by byte, so a prefix search is an index range on SQLite and PostgreSQL alike.
"""
from models import User


def norm(text: str | None) -> str:
    """The search form of a name or position: lower case, ё as е, single spaces."""
    return " ".join((text or "").lower().replace("ё", "е").split())


def full_name(surname: str, first: str, patronymic: str) -> str:
    return " ".join(p for p in (surname, first, patronymic) if p)


def short_name(surname: str, first: str, patronymic: str) -> str:
    """«Хабибуллин М.А.»"""
    initials = "".join(f"{p[0].upper()}." for p in (first, patronymic) if p)
    return f"{surname} {initials}".strip()[:80]


def name_fields(surname: str, first: str, patronymic: str | None, position: str | None) -> dict:
    """Every column derived from a person's name parts and position."""
    surname, first, patronymic = surname.strip(), first.strip(), (patronymic or "").strip()
    return {
        "surname": surname, "first_name": first, "patronymic": patronymic or None,
        "position": (position or "").strip() or None,
        "name": full_name(surname, first, patronymic)[:200], "short_name": short_name(surname, first, patronymic),
        "search": norm(full_name(surname, first, patronymic))[:300], "surname_key": norm(surname)[:300],
        "name_key": norm(first)[:300], "position_key": norm(position)[:300] or None,
    }


def set_name(user: User, surname: str, first: str, patronymic: str | None, position: str | None = None) -> None:
    for key, value in name_fields(surname, first, patronymic, position).items():
        setattr(user, key, value)
