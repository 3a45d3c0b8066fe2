"""Names in the sandbox world: text folding as providers do it, each provider's spelling of a venue, distractor names."""

from __future__ import annotations

import random
import re

from rapidfuzz.utils import default_process

from venue_pipeline.core.venue import Venue

_APOSTROPHES = re.compile(r"['\u2018\u2019`\u00b4]")
_AMPERSAND = re.compile(r"\s*&\s*")


def normalise_text(text: str) -> str:
    """Fold case and punctuation as providers do: "Coachmaker's" matches "Coachmakers", "&" matches "and"."""
    return default_process(_AMPERSAND.sub(" and ", _APOSTROPHES.sub("", text)))


# ------------------------------------------------------------------------------------------------
# name variants
# ------------------------------------------------------------------------------------------------
def _toggle_the(name: str, rng: random.Random) -> str:
    if name.lower().startswith("the "):
        return name[4:]
    return "The " + name


def _ampersand(name: str, rng: random.Random) -> str:
    if "&" in name:
        return re.sub(r"\s*&\s*", " and ", name)
    if re.search(r"\band\b", name, re.I):
        return re.sub(r"\s+and\s+", " & ", name, count=1, flags=re.I)
    return name


def _case(name: str, rng: random.Random) -> str:
    return name.upper() if rng.random() < 0.3 else name.title() if name != name.title() else name.lower().capitalize()


def _suffix(name: str, rng: random.Random) -> str:
    m = re.search(r"\s+(Inn|Pub|Bar|Tavern)$", name, re.I)
    if m:
        # "Rose Inn" may be listed as "Rose", but "New Inn" is never just "New"
        return name[: m.start()] if len(re.sub(r"(?i)^the\s+|\W", "", name[: m.start()])) >= 4 else name
    return name + rng.choice((" Pub", " Inn", " Bar"))


def _apostrophe(name: str, rng: random.Random) -> str:
    if "'" in name:
        return name.replace("'", "" if rng.random() < 0.6 else "\u2019")
    if "\u2019" in name:
        return name.replace("\u2019", "'")
    m = re.search(r"\b(\w+?)(s)\b", name)
    # a possessive, as people misspell it ("Chaucer's"), never "Cros's", "Marqui's" or "Wheatsheave's"
    plural_or_not_possessive = m is not None and m.group(1).lower().endswith(("s", "i", "u", "ve"))
    if m and len(m.group(1)) >= 3 and not plural_or_not_possessive and m.group(0).lower() not in {"arms", "this", "his", "was"}:
        return name[: m.start(2)] + "'" + name[m.start(2) :]
    return name


_VARIANT_OPS = (_toggle_the, _ampersand, _case, _suffix, _apostrophe)


def name_variant(name: str, rng: random.Random) -> str:
    """The venue's name as one provider spells it: 0-2 realistic edits."""
    k = rng.choices((0, 1, 2), weights=(40, 45, 15))[0]
    ops = rng.sample(_VARIANT_OPS, k)
    out = name
    for op in ops:
        out = op(out, rng).strip() or out
    return re.sub(r"\s+", " ", out)


# ------------------------------------------------------------------------------------------------
# distractors: other places nearby whose names resemble the venue's
# ------------------------------------------------------------------------------------------------
def core_name(name: str) -> str:
    """A venue's name without a leading "The" and a trailing "Inn", "Pub", "Bar", "Tavern" or "Hotel"."""
    core = re.sub(r"^the\s+", "", name.strip(), flags=re.I)
    core = re.sub(r"\s+(inn|pub|bar|tavern|hotel)$", "", core, flags=re.I)
    return core or name


def name_key(name: str) -> str:
    """A name as a person compares it: case, a leading "The", punctuation and "&"/"and" ignored."""
    return re.sub(r"^the\s+", "", normalise_text(name))


def reserved_names(v: Venue) -> frozenset[str]:
    """Name keys no distractor may take: the venue's name, its core, and the building name in its address."""
    names = [v.name, core_name(v.name)]
    first = (v.address or "").split(",")[0].strip()
    if first and not first[:1].isdigit():
        names += [first, core_name(first)]
    return frozenset(k for k in map(name_key, names) if k)


DISTRACTOR_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("The {core}", "pub"),
    ("{name} Car Park", "parking"),
    ("{core} Café", "cafe"),
    ("{core} Hotel", "hotel"),
    ("Old {core}", "pub"),
    ("{core} Fish Bar", "restaurant"),
    ("{core} Stores", "shop"),
    ("{core} Tavern", "pub"),
    ("{name} Beer Garden", "bar"),
)


def distractor_spelling(name: str, rng: random.Random, reserved: frozenset[str]) -> str:
    """Sometimes a provider's own spelling of a distractor, but never one that turns it into the venue."""
    if rng.random() >= 0.3:
        return name
    variant = name_variant(name, rng)
    return name if name_key(variant) in reserved else variant
