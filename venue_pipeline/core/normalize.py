"""Name and address normalisation, so providers' spelling differences do not look like different places."""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

from rapidfuzz.distance import Levenshtein

# Trailing words that say what kind of place it is rather than which one. They are stripped from
# the end of a name only, one at a time, and never when they are all that is left ("The Bar").
GENERIC_SUFFIXES: frozenset[str] = frozenset(
    {
        "pub", "inn", "bar", "restaurant", "cafe", "coffee", "tavern", "hotel", "grill", "bistro",
        "kitchen", "brewery", "taproom", "lounge", "club", "house", "diner", "eatery", "pizzeria",
        "ltd", "limited", "llc", "inc", "co", "company", "corp", "plc", "and", "the",
    }
)

# Leading words dropped from a name ("The Anchor" is "Anchor").
LEADING_ARTICLES: frozenset[str] = frozenset({"the", "ye", "le", "la", "el"})

# Words that, added to another place's name, usually name a part of it rather than the place
# ("Bellefield Hall Gym", "PNC Park Home Plate", "Station Square Garage"): a different photo subject.
SUB_PLACE_WORDS: frozenset[str] = frozenset(
    {
        "at", "library", "gym", "room", "rooms", "floor", "lounge", "garage", "parking", "lot", "pool",
        "court", "courts", "ballroom", "cinema", "lab", "laboratory", "trail", "trails", "underpass",
        "turnaround", "bookstore", "rectory", "nursery", "courtyard", "fitness", "optical", "circle",
        "ramp", "stop", "entrance", "exit", "lobby", "terrace", "patio", "deck", "stage", "wing",
        "annex", "cafeteria", "dining", "smoking", "area", "field", "playground", "gate", "platform",
        "booth", "suite", "studio", "auditorium", "classroom", "dorm", "residence", "halls", "tower",
        "building", "pavilion", "shelter", "fountain", "statue", "memorial", "garden", "gardens",
        "gallery", "galleries", "atm", "clinic",
    }
)

# Words whose absence or presence says nothing about which place it is ("Fat Cat & Canary").
FILLER_WORDS: frozenset[str] = frozenset({"the", "ye", "and", "a", "an"})

# Pub-type and legal-form words that providers drop from a pub's name ("Anchor Inn" / "Anchor") ...
DROPPABLE_WORDS: frozenset[str] = frozenset(
    {
        "pub", "inn", "bar", "tavern", "ph", "freehouse",
        "ltd", "limited", "plc", "llc", "inc", "co", "company", "corp",
    }
)

# ... and the ones they add ("Anchor" / "Anchor Pub"). A difference in these is weak evidence. Other
# differing words count more (matching.name_difference): a kind-of-place word from GENERIC_SUFFIXES
# added ("Golden Star Café", "… Tavern"), and most of all any distinctive word ("Old", "Stores", "Fish").
ADDABLE_WORDS: frozenset[str] = DROPPABLE_WORDS - {"tavern", "freehouse"}

# Abbreviations inside names written out one way ("St Anne" / "Saint Anne", "Mt." / "Mount").
NAME_ABBREVIATIONS: dict[str, str] = {
    "st": "saint", "ste": "sainte", "mt": "mount", "ft": "fort", "ctr": "center", "centre": "center",
    "theater": "theatre", "apts": "apartments", "apt": "apartments", "univ": "university",
    "bros": "brothers", "dept": "department", "intl": "international", "assoc": "associates",
    "hosp": "hospital", "elem": "elementary", "sch": "school", "ave": "avenue", "rd": "road",
    "sq": "square",
}

# Number words written as digits, so "Three Rivers" is "3 Rivers" and "Two Gateway" is "2 Gateway".
NUMBER_WORDS: dict[str, str] = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}

# A store or branch number at the end of a chain's name ("Second Cup 9092", "Starbucks #1234"): three or
# more digits, which no place's own name ends with, unlike "Building 7" or "Plaza 3".
_STORE_NUMBER_RE = re.compile(r"(?:\s+(?:#|no\.?\s*|store\s+)?\d{3,})+\s*$", re.IGNORECASE)

# Street-type spellings folded to one form for address comparison.
ADDRESS_ABBREVIATIONS: dict[str, str] = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd",
    "drive": "dr", "lane": "ln", "place": "pl", "square": "sq", "court": "ct", "terrace": "ter",
    "highway": "hwy", "parkway": "pkwy", "crescent": "cres", "circle": "cir", "close": "cl",
    "north": "n", "south": "s", "east": "e", "west": "w", "saint": "st", "mount": "mt",
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}

# Unit / floor noise in street addresses ("Suite 200", "#4", "Fl 2").
_UNIT_RE = re.compile(r"\b(?:suite|ste|unit|apt|floor|fl|room|rm)\b\.?\s*[\w-]+|#\s*[\w-]+", re.IGNORECASE)
_RANGE_RE = re.compile(r"\b(\d+[A-Za-z]?)\s*(?:-|\u2013|/|;|&)\s*\d+[A-Za-z]?\b")
# A house number followed by a fraction ("2304 1/2") keeps the whole number.
_FRACTION_RE = re.compile(r"\b(\d+)\s+1/2\b")
# Singapore and Hong Kong style: "Block 106" / "Blk 106A" is the building's number.
_BLOCK_RE = re.compile(r"\b(?:block|blk|bldg)\.?\s+(\d+[A-Za-z]?)\b", re.IGNORECASE)
# A US formatted address's last part: the state and the ZIP ("pa 15213", "pa 15213-1234").
_STATE_ZIP_RE = re.compile(r"^[a-z]{2}\s+\d{5}(?:-\d{4})?$")
_HOUSE_NUMBER_RE = re.compile(r"^\d+[a-z]?(?:-\d+[a-z]?)?$")
_APOSTROPHES = str.maketrans({"'": "", "\u2019": "", "\u2018": "", "`": "", "\u00b4": ""})


def fold(text: str | None) -> str:
    """Lower-case ASCII-ish text with accents removed and all punctuation as single spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_APOSTROPHES)
    text = text.replace("&", " and ").replace("+", " and ")
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def strip_store_number(name: str | None) -> str:
    """A name without a trailing store number ("Second Cup 9092" -> "Second Cup"); never empties a name."""
    if not name:
        return ""
    stripped = _STORE_NUMBER_RE.sub("", name).rstrip(" -#,")
    return stripped if stripped.strip() else name


def normalize_name(name: str | None) -> str:
    """A place name as compared: folded, store number and leading article dropped ("The Anchor" -> "anchor")."""
    tokens = [NUMBER_WORDS.get(t, NAME_ABBREVIATIONS.get(t, t)) for t in fold(strip_store_number(name)).split()]
    while len(tokens) > 1 and tokens[0] in LEADING_ARTICLES:
        tokens = tokens[1:]
    return " ".join(tokens)


def name_words(name: str | None) -> frozenset[str]:
    """A name's words as compared for differences: normalised, "public house" read as "pub"."""
    text = f" {normalize_name(name)} ".replace(" public house ", " pub ")
    return frozenset(text.split())


def core_name(name: str | None) -> str:
    """The distinctive part of a name: generic trailing words removed ("Anchor Inn" -> "anchor")."""
    tokens = normalize_name(name).split()
    while len(tokens) > 1 and tokens[-1] in GENERIC_SUFFIXES:
        tokens = tokens[:-1]
    return " ".join(tokens)


def is_abbreviation(short: str, long: str) -> bool:
    """Whether one word abbreviates another: a prefix of 3+ letters ("Deli" / "Delicatessen", "Univ") or the
    same first letter and its letters in order ("Mjd" / "Masjid", "Kg" / "Kampong", "Ctr" / "Center", "PA")."""
    if len(short) >= len(long) or len(short) < 2 or not short.isalpha() or short[0] != long[0]:
        return False
    if len(short) >= 3 and long.startswith(short):
        return True
    if len(short) > 4:
        return False
    it = iter(long[1:])
    return all(ch in it for ch in short[1:])


def token_alignment(a: str | None, b: str | None) -> float:
    """Share of both names' words that pair up (equal, one misspelt, one an abbreviation of the other, or
    two words written as one: "SouthSide" / "South Side"), in [0, 1]; 0 when either is empty."""
    ta, tb = normalize_name(a).split(), normalize_name(b).split()
    if not ta or not tb:
        return 0.0
    left, right = list(ta), list(tb)
    matched = 0

    def pair(x: str, y: str) -> bool:
        if x == y:
            return True
        if min(len(x), len(y)) >= 5 and Levenshtein.normalized_similarity(x, y) >= 0.8:
            return True
        return is_abbreviation(x, y) or is_abbreviation(y, x)

    def take(rule: Callable[[str, str], bool]) -> None:
        nonlocal matched
        for x in list(left):
            y = next((y for y in right if rule(x, y)), None)
            if y is not None:
                left.remove(x)
                right.remove(y)
                matched += 2

    take(lambda x, y: x == y)
    # two words of one side written as one word of the other
    for side, other in ((left, right), (right, left)):
        for i in range(len(side) - 1):
            joined = side[i] + side[i + 1]
            if side[i] and side[i + 1] and joined in other:
                other.remove(joined)
                side[i] = side[i + 1] = ""
                matched += 3
    left[:] = [x for x in left if x]
    right[:] = [y for y in right if y]
    take(pair)
    return min(1.0, matched / (len(ta) + len(tb)))


def normalize_postcode(postcode: str | None) -> str:
    """Postcodes compared without spaces or case; US ZIP+4 and float artefacts ("15237.0") trimmed."""
    if not postcode:
        return ""
    text = str(postcode).strip().upper()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    text = re.sub(r"[^0-9A-Z]", "", text)
    if re.fullmatch(r"\d{9}", text):
        text = text[:5]
    return text


def is_fine_postcode(postcode: str | None) -> bool:
    """A postcode that narrows to a street or less (UK "SW1A 1AA", Canadian "K1A 0B1"), unlike a US ZIP."""
    pc = normalize_postcode(postcode)
    return len(pc) >= 5 and any(c.isalpha() for c in pc) and any(c.isdigit() for c in pc)


def split_address(address: str | None, *, postcode: str | None = None, city: str | None = None) -> tuple[str, str]:
    """(house number, street) from a one-line address, in either "10 High St" or "High St, 10" order; the
    town, the postcode and a US "PA 15213" part are left out, so a formatted line without a street
    ("Pittsburgh, PA 15213") has no house number rather than the ZIP as one."""
    if not address:
        return "", ""
    address = _clean_numbers(address)
    parts = [fold(_UNIT_RE.sub(" ", p)) for p in address.split(",")]
    parts = [p for p in parts if p and not _is_town_or_postcode(p, postcode, city)]
    if not parts:
        return "", ""
    # OSM style: "Picardy Place, 10" (the number is its own trailing part).
    if len(parts) >= 2 and _HOUSE_NUMBER_RE.match(parts[1].replace(" ", "")):
        return parts[1].replace(" ", ""), normalize_street(parts[0])
    # Open Pubs style: "Coach And Horses, 82 Thorpe Road, Norwich" (a building name leads).
    if not _starts_with_number(parts[0]):
        numbered = next((p for p in parts[1:3] if _starts_with_number(p)), None)
        if numbered is not None:
            parts = [numbered]
    tokens = parts[0].split()
    if tokens and _HOUSE_NUMBER_RE.match(tokens[0]):
        return tokens[0], normalize_street(" ".join(tokens[1:]))
    if len(tokens) >= 2 and _HOUSE_NUMBER_RE.match(tokens[-1]) and not re.fullmatch(r"\d+(st|nd|rd|th)", tokens[-1]):
        return tokens[-1], normalize_street(" ".join(tokens[:-1]))
    return "", normalize_street(" ".join(tokens))


def _is_town_or_postcode(part: str, postcode: str | None, city: str | None) -> bool:
    """An address part that names the town or the postcode (or a US state and ZIP), not the street: also the
    two together in either order ("10997 Berlin", Foursquare's formatted_address), where what is left beside
    the town is one number, a postcode."""
    if city and part == fold(city):
        return True
    if postcode and normalize_postcode(part) == normalize_postcode(postcode):
        return True
    if _STATE_ZIP_RE.match(part):
        return True
    town = fold(city)
    if town and f" {town} " in f" {part} ":
        rest = f" {part} ".replace(f" {town} ", " ").split()
        if postcode and normalize_postcode(" ".join(rest)) == normalize_postcode(postcode):
            return True
        return len(rest) == 1 and rest[0].isdigit()
    return False


def _clean_numbers(address: str) -> str:
    """House-number forms read one way: ranges and lists ("7-9", OSM's "7; 9") keep the first number, a
    fraction is dropped ("2304 1/2"), and a block number leads ("Block 106, #01-52" -> "106, #01-52")."""
    address = _FRACTION_RE.sub(r"\1", address)
    address = _BLOCK_RE.sub(r"\1", address)
    return _RANGE_RE.sub(r"\1", address)


def _starts_with_number(part: str) -> bool:
    tokens = part.split()
    return bool(tokens) and bool(_HOUSE_NUMBER_RE.match(tokens[0])) and len(tokens) > 1


def address_streets(address: str | None, city: str | None = None) -> list[str]:
    """Every part of a one-line address that may name the street, house numbers and the town left out."""
    if not address:
        return []
    town = fold(city)
    out: list[str] = []
    for part in _clean_numbers(address).split(","):
        tokens = fold(_UNIT_RE.sub(" ", part)).split()
        while tokens and _HOUSE_NUMBER_RE.match(tokens[0]):
            tokens = tokens[1:]
        text = " ".join(tokens)
        if text and text != town and any(ch.isalpha() for ch in text):
            out.append(normalize_street(text))
    return out


def normalize_house_number(number: str | None) -> str:
    """House numbers compared folded; a range "12-14" keeps its first number."""
    if not number:
        return ""
    return fold(str(number).split("-")[0]).replace(" ", "")


def normalize_street(street: str | None) -> str:
    """A street name with its type and direction words abbreviated one way."""
    return " ".join(ADDRESS_ABBREVIATIONS.get(t, t) for t in fold(street).split())


def category_tokens(categories: tuple[str, ...] | list[str]) -> frozenset[str]:
    """Category labels as a bag of folded words ("Bar > Pub", "catering.pub" -> {"bar", "pub", "catering"})."""
    out: set[str] = set()
    for cat in categories:
        out.update(t for t in fold(cat).split() if len(t) > 2 and t not in {"and", "the", "other"})
    return frozenset(out)
