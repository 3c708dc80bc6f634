"""Groups of words that say the same thing, by stem, for recognising a claim that rewords its evidence.

The encoder sees that "Sales grew" and "Sales rose" are close, but word coverage counts "grew"
as missing; a claim is a rewording when every word it lacks has a synonym in its evidence.
Small and general on purpose: common verbs of change, reporting, buying and making, adjectives of
size, and units with their abbreviations; not a thesaurus.
"""
from __future__ import annotations

from . import text, thesaurus

_GROUPS = """
rise rose risen grow grew grown increas climb climbed jump gain go_up surg soar
fall fell fallen drop dropp declin decreas slid slide sank sink plung shrank shrink
buy bought purchas acquir
sell sold
say said stat report announc told tell declar
begin began begun start commenc launch
end ended finish conclud complet
big large larg huge major
small little minor tiny
show shown demonstrat reveal indicat
use utiliz employ
help assist aid
need requir
get got obtain receiv
make made creat produc manufactur
build built construct erect
die died pass_away kill
car automobil vehicl
doctor physician
child kid
film movie
company firm
approv authoriz
fast quick rapid
main principal primary
about approximately around roughly
lead led head headed
found establish set_up
win won victory
price cost
kg kilogram kilogramme kilo
mg milligram milligramme
km kilometre kilometer
cm centimetre centimeter
mm millimetre millimeter
metre meter
gb gigabyte
mb megabyte
tb terabyte
kb kilobyte
hr hour
min minute
sec second
lb pound
oz ounce
mph miles_per_hour
""".strip().splitlines()

SYNONYMS: dict[str, frozenset[str]] = {}
for line in _GROUPS:
    group = frozenset(text.stem(w) for w in line.split())
    for member in group:
        SYNONYMS[member] = SYNONYMS.get(member, frozenset()) | group


def found(stem: str, pool: frozenset[str] | set[str]) -> bool:
    """True when the stem, a listed synonym, or a word that states it (thesaurus.py) is in the pool of stems."""
    return (stem in pool or bool(SYNONYMS.get(stem, frozenset()) & pool)
            or not thesaurus.implied_by(stem).isdisjoint(pool))
