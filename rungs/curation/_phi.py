"""De-identification: replace HIPAA Safe Harbor identifiers in free text with [KIND] placeholders.

Rule-based and offline: regular expressions, cue words and three word lists shipped in rungs/curation/gazetteers/ —
names.txt (~21,000 given names and ~97,000 surnames: project list + Faker, MIT + US Census 1990, public domain), cities.txt (15,000 places: GeoNames data, CC BY 4.0, via
corpora/phi/build_cities.py) and words.txt (ordinary English and medical words, which make a
capitalised word weak evidence of a name; corpora/phi/build_words.py). Nothing is downloaded at run
time, and every decision can be read here. Measured on corpora/phi/annotated.jsonl by bench/phi_eval.py (results in bench/RESULTS.md).

Policy (the annotation guidelines in corpora/phi/README.md say the same):
- Years standing alone ("in 2019", "since 2015") are kept: Safe Harbor allows the year. Every other
  date element goes: full dates, month + day, month + year, a month named alone after a date cue
  ("in March"), ordinal days ("on the 3rd" -> "on [DATE]": the article goes with the day), holidays in
  any case, dates of birth. Birth years ("born in 1931")
  go too, because they can reveal an age over 89. Weekdays, times and relative dates stay.
- Ages over 89 become [AGE]; younger ages are kept (Safe Harbor allows them).
- Labels stay, values go: "MRN: 00482913" -> "MRN: [MRN]", "Dr. Kumar" -> "Dr. [NAME]", so the note
  still reads as a note.
- States and countries are kept (allowed); street lines, cities/towns/counties/districts (also inside
  facility names: "[CITY] Family Health") and ZIP/postcodes go.
- Clinical content must survive: doses ("5 mg"), vitals ("BP 120/80", "T 99 F"), scores ("8/10",
  "5/5 strength"), lab values, ICD-10 codes, times and eponyms (Parkinson's disease, Glasgow Coma
  Scale) are not PHI.
- When in doubt between two kinds the higher-priority one is kept (an e-mail is not also a URL); a
  scrubbed note never contains two placeholders for one identifier.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["KINDS", "PhiSpan", "ScrubResult", "find_spans", "scrub"]

KINDS: tuple[str, ...] = (
    "NAME",  # people: patients, relatives, clinicians
    "DATE",  # every date element except the year alone
    "AGE",  # ages over 89
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",  # medical record / chart / hospital / NHS numbers
    "ACCOUNT",  # account, billing, encounter and visit numbers
    "HEALTH_PLAN",  # health plan beneficiary, member, policy, group, Medicare/Medicaid numbers
    "LICENSE",  # certificate and licence numbers: DEA, NPI, GMC, state licence, driver's licence
    "VEHICLE",  # VINs and licence plates
    "DEVICE",  # device identifiers, serial and lot numbers
    "ADDRESS",  # street address lines, PO boxes
    "CITY",  # cities, towns, counties, districts (geographic subdivisions smaller than a state)
    "ZIP",  # ZIP codes and postcodes
    "URL",
    "IP",
    "BIOMETRIC",  # identifiers of finger, voice, iris, face or palm prints (templates, enrolments)
    "PHOTO",  # full-face photographs and comparable images: their file names and photo IDs
    "ID",  # any other unique identifying number (accession, specimen, case, claim numbers)
)


@dataclass(frozen=True)
class PhiSpan:
    """One identifier: [start, end) character offsets into the ORIGINAL text, and its kind."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text and the spans (offsets in the original text) that were replaced."""

    text: str
    spans: list[PhiSpan]


# Higher wins when two candidate spans overlap; equal priority -> the longer span wins.
_PRIORITY = {
    "EMAIL": 100, "URL": 95, "IP": 90, "SSN": 85, "PHOTO": 84, "BIOMETRIC": 82,
    "MRN": 80, "ACCOUNT": 80, "HEALTH_PLAN": 80, "LICENSE": 80, "VEHICLE": 80, "DEVICE": 80,
    "FAX": 76, "PHONE": 75, "ID": 74, "ADDRESS": 70, "ZIP": 65, "DATE": 60, "AGE": 55,
    "NAME": 45, "CITY": 44,
}

# Latin letters with their accented forms, Latin Extended-A too (Echeverría, Szymańska, Łukasz):
# that block alternates capital and small letters, so its capitals are listed. Vietnamese needs the
# horned Ơ/Ư and Latin Extended Additional (Nguyễn, Phạm, Đặng), whose block alternates the same way.
_VI_UP = "ƠƯ" + "".join(chr(c) for c in range(0x1EA0, 0x1EFA, 2))
_VI_LO = "ơư" + "".join(chr(c) for c in range(0x1EA1, 0x1EFA, 2))
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ" + _VI_UP
_LO = "a-zß-öø-ÿāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįıĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷźżž" + _VI_LO
_H = r"[ \t]"  # horizontal space: identifiers never span a line break

# ---------------------------------------------------------------------------------------------
# Word lists


def _words(block: str) -> list[str]:
    return block.split()


def _lead(*alternations: str) -> str:
    """A lookahead for the first letters of a pattern's alternatives: with it, Python's regex engine
    skips positions that cannot start a match instead of trying every alternative there (2x faster)."""
    first: set[str] = set()
    for alts in alternations:
        depth, start = 0, True
        for i, ch in enumerate(alts):
            if start:
                if not ch.isalpha():
                    return ""
                first.update({ch.lower(), ch.upper()})
                start = False
            if ch == "\\" :
                continue
            if ch == "(" and (i == 0 or alts[i - 1] != "\\"):
                depth += 1
            elif ch == ")" and alts[i - 1] != "\\":
                depth -= 1
            elif ch == "|" and depth == 0:
                start = True
    return "(?=[" + "".join(sorted(first)) + "])" if first else ""


def _read_data(name: str) -> str:
    return resources.files("rungs.curation").joinpath(f"gazetteers/{name}").read_text(encoding="utf-8")


def parse_name_lists(text: str) -> tuple[set[str], set[str]]:
    """(given names, surnames), lower-cased, of a name list: one name a line, `# first` and `# last` open
    the two sections (the gazetteer and corpora/phi/names_extra.txt share this form)."""
    first: set[str] = set()
    last: set[str] = set()
    target = first
    for line in text.splitlines():
        line = line.strip()
        if line == "# first":
            target = first
        elif line == "# last":
            target = last
        elif line and not line.startswith("#"):
            target.add(line.lower())
    return first, last


@lru_cache(maxsize=1)
def _names() -> tuple[frozenset[str], frozenset[str]]:
    first, last = parse_name_lists(_read_data("names.txt"))
    return frozenset(first), frozenset(last)


@lru_cache(maxsize=1)
def _cities() -> tuple[frozenset[str], int]:
    """The city gazetteer and the most words a city name has."""
    cities = [ln.strip() for ln in _read_data("cities.txt").splitlines() if ln.strip() and not ln.startswith("#")]
    return frozenset(cities), max(len(c.split()) for c in cities)


def _is_city(name: str) -> bool:
    return " ".join(name.split()) in _cities()[0]


def _ends_with_city(before: str) -> bool:
    words = before.rstrip(" \t,").split()
    return any(_is_city(" ".join(words[-k:])) for k in range(1, min(len(words), _cities()[1]) + 1))


# Car models named after places ("Chevrolet Malibu", "Hyundai Tucson") and scales scored with a
# fraction ("Epworth 6/24") are not places.
_CAR_MAKES = (
    r"(?:Chevrolet|Chevy|Ford|Toyota|Honda|Nissan|Hyundai|Kia|Dodge|Jeep|Buick|GMC|Subaru|Mazda|Volkswagen|"
    r"VW|Chrysler|Pontiac|Lincoln|Cadillac|Mercury|Plymouth|Oldsmobile|Vauxhall|Renault|Seat)"
)
_CAR_MAKE_BEFORE = re.compile(rf"{_CAR_MAKES}[ \t]+$")
_MODEL_AFTER = re.compile(r"[ \t]+[A-Z][\w\-]+")  # "Toyota Camry": the make, not the town
_SCORE_AFTER = re.compile(r"[ \t]+\d{1,2}/\d{1,2}\b")
# Scales named after a town, scored with a bare number ("STOP-BANG 6, Epworth 15"), and insurers
# named after one ("Keystone Mutual PPO").
_SCALE_PLACES = frozenset({"Epworth", "Glasgow", "Edinburgh", "Bristol", "Richmond", "Norton", "Waterlow",
                           "Ottawa", "Montreal", "Geneva", "Padua", "Wells", "Rankin", "Manchester"})
_BARE_SCORE_AFTER = re.compile(r"[ \t]*(?:score|scale)?[ \t]*[:=]?[ \t]*\d{1,2}\b(?![/.:]\d|\d)")
_INSURER_AFTER = re.compile(r"[ \t]+(?:Mutual|PPO|HMO|EPO|Insurance|Assurance|Health Plan|Life)\b")


def _not_a_place(text: str, s: int, e: int) -> bool:
    return (_CITY_INSTRUMENT.match(text, e) is not None or _SCORE_AFTER.match(text, e) is not None
            or _INSURER_AFTER.match(text, e) is not None
            or text[s:e] in _SCALE_PLACES and _BARE_SCORE_AFTER.match(text, e) is not None
            or _CAR_MAKE_BEFORE.search(text, max(0, s - 14), s) is not None
            or re.fullmatch(_CAR_MAKES, text[s:e]) is not None and _MODEL_AFTER.match(text, e) is not None)


_COMPASS = frozenset({"North", "South", "East", "West", "Central"})


def _city_spans(text: str) -> list[PhiSpan]:
    """Gazetteer cities: runs of capitalised words looked up in a set, longest name first."""
    cities, longest = _cities()
    out: list[PhiSpan] = []
    for run in _CAP_RUN.finditer(text):
        words = [(m.start() + run.start(), m.end() + run.start()) for m in _WORD_IN_RUN.finditer(run.group())]
        i = 0
        while i < len(words):
            for k in range(min(longest, len(words) - i), 0, -1):
                s, e = words[i][0], words[i + k - 1][1]
                name = " ".join(text[a:b] for a, b in words[i : i + k])
                if name not in cities and name.rstrip(".,") in cities:
                    e -= len(name) - len(name.rstrip(".,"))
                    name = name.rstrip(".,")
                if name in cities and not _not_a_place(text, s, e):
                    if i + k < len(words) and text[slice(*words[i + k])] in _COMPASS:  # "Durban North": a suburb
                        e, k = words[i + k][1], k + 1
                    out.append(PhiSpan(s, e, "CITY"))
                    i += k - 1
                    break
            i += 1
    return out


# Gazetteer names that are also ordinary words, months or clinical terms: never a name on their own
# (a title, "Patient:", a relative's cue or a known surname next to them still makes them one).
AMBIGUOUS = frozenset(
    _words(
        """
        april may june august will mark bill grace hope faith joy rose ivy pat sandy dawn summer art
        chase max jack long young white black brown green gray grey king hill wood woods rice stone hunt
        price ford cook bell bailey mason hunter fox west wells mills grant ward hart major gene lee kim
        min jin wei yan li chan dale glen jordan carter parker cole dean ray don eve baker fisher fuller
        turner webb weaver carpenter gardner palmer porter payne pierce iris ruby crystal amber daisy
        hazel jesus angel carol sharon penny pearl olive violet jade holly robin clay drew lane guy
        miles frank earl sue jean norman virginia georgia madison austin ivory genesis cherry
        """
    )
)

# Words a capitalised-token rule can meet that are never names: clinical vocabulary, eponyms,
# drug brands, function words that start sentences. Lowercase.
_NOT_NAMES = frozenset(
    _words(
        """
        patient patients doctor doctors nurse nurses the a an and or of in on at to for with no not yes
        hello hi hey thanks thank mr mrs ms dr pt md do rn np pa he she they his her him i we you it
        this that these those who what how when where why which there here then so but if as um uh oh
        okay ok well sure yeah yep nope sorry please good great fine terrible bad like just also maybe
        about around after before during since until because all any some my your our their its me us
        them history physical exam examination assessment plan impression diagnosis diagnoses discharge
        admission admitted hospital clinic emergency department unit ward floor service medicine surgery
        cardiology neurology oncology radiology pathology pediatrics psychiatry orthopedics urology
        chief complaint hpi ros pmh psh fh sh meds medications allergies vitals labs results review
        follow followup follow-up return instructions condition stable signed dictated transcribed
        normal abnormal negative positive left right bilateral mild moderate severe acute chronic
        parkinson parkinson's alzheimer alzheimer's crohn crohn's hodgkin hodgkin's graves graves'
        cushing cushing's addison addison's bell bell's down foley babinski murphy murphy's apgar apgars
        glasgow homan homan's homans whipple nissen roux tanner mallampati gleason holter swan ganz
        wells kernig brudzinski romberg tinel phalen lachman mcmurray trendelenburg epley valsalva
        heimlich fontan kussmaul cheyne stokes guillain barre barré hashimoto hashimoto's raynaud
        raynaud's tourette tourette's huntington huntington's wilson wilson's kaposi kawasaki meniere
        meniere's tylenol advil motrin aleve lasix coumadin eliquis xarelto lipitor crestor norvasc
        zoloft prozac lexapro xanax valium ativan keppra dilantin insulin heparin lantus humalog novolog
        ozempic metformin januvia jardiance farxiga synthroid plavix zithromax augmentin keflex cipro
        flagyl monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday tonight
        january february march april may june july august september october november december street
        avenue road drive lane court boulevard suite apt apartment subjective objective plan s o a p hpi
        exam general heent neck lungs heart abdomen extremities neuro skin psych cv resp gi gu msk ekg
        ecg cxr ct mri echo labs imaging procedure procedures pre post preoperative postoperative
        operative anesthesia consent findings specimen specimens complications disposition impression
        recommendations recommendation consult consultation note daughter son wife husband mother father
        sister brother mom dad family friend partner medicare medicaid aetna cigna humana kaiser blue
        shield cross unitedhealthcare walgreens cvs walmart costco target rite aid english spanish
        american african asian caucasian hispanic latino white black god lord christmas easter
        thanksgiving covid mister miss sir madam ma'am doc folks guys everyone everybody there memorial
        general regional center centre hospital medical saint st charcot marie-tooth tooth
        guillain-barre hirschsprung horner osgood schlatter american mexican cuban puerto
        rican dominican haitian jamaican canadian british irish scottish english welsh german french
        italian spanish portuguese polish russian ukrainian greek turkish chinese japanese korean
        vietnamese filipino indian pakistani bengali arab arabic persian iranian nigerian ghanaian
        ethiopian somali kenyan african european latina catholic jewish muslim hindu buddhist christian
        protestant baptist methodist mormon amish diabetic asthmatic candida gay unknown triage
        rev fr prof sgt capt lt det cpl col maj
        """
    )
)

# Eponyms that are also surnames: not names in "Murphy's sign", names after a title ("Dr. Murphy").
_EPONYMS = frozenset(
    _words(
        """
        murphy wells bell wilson graves tanner holter whipple huntington stokes kernig romberg phalen
        tinel lachman mcmurray cushing addison parkinson alzheimer crohn hodgkin hashimoto raynaud
        tourette kaposi kawasaki meniere babinski foley apgar nissen roux mallampati gleason swan ganz
        fontan kussmaul cheyne guillain barre epley valsalva heimlich trendelenburg brudzinski homan
        charcot horner osgood schlatter hirschsprung pugh glasgow down marie barrett mohs
        """
    )
)
# Words for the people around a patient: a cue for the name after them, never a name themselves
# ("Granddaughter Chioma" must not make "granddaughter" a name word elsewhere in the note).
_RELATION_WORDS = frozenset(
    _words(
        """
        wife husband partner spouse son daughter mother mom mum father dad sister brother niece nephew
        grandson granddaughter grandmother grandfather grandma grandpa grandad granddad granny gran nana
        aunt auntie uncle cousin friend buddy neighbor neighbour roommate housemate flatmate caregiver carer
        fiance fiancé fiancee fiancée boyfriend girlfriend stepson stepdaughter stepmother stepfather
        stepmom stepdad son-in-law daughter-in-law mother-in-law father-in-law brother-in-law
        sister-in-law guardian sibling child twin co-worker coworker colleague boss landlord landlady
        godmother godfather
        """
    )
)
_NOT_NAMES = _NOT_NAMES | _EPONYMS | _RELATION_WORDS | frozenset(["child-pugh", "marie-tooth"])
_RELATIONS = "|".join(re.escape(w) for w in sorted(_RELATION_WORDS, key=len, reverse=True))

# ---------------------------------------------------------------------------------------------
# Dates

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_ORD = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:(?:19|20)\d{2}|'\d{2})"

_DATE_PATTERNS = [
    # 03/14/2023, 3-14-23, 14.03.2023
    re.compile(r"\b(?:0?[1-9]|[12]\d|3[01])([/\-.])(?:0?[1-9]|[12]\d|3[01])\1(?:19|20)?\d{2}\b"
               r"(?![/.]\d|-(?!(?:0?[1-9]|[12]\d|3[01])([/.])(?:0?[1-9]|[12]\d|3[01])\2\d))"),  # a range: "12/01/2024-01/29/2025"
    # 2023-03-14, 2023/03/14, 2024-04-07T02:13:44Z: the time goes with its date (some writers mark the whole stamp)
    re.compile(r"\b(?:19|20)\d{2}([/\-.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
               r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?(?![\w:])|\b|(?=T\d))"),
    # March 14, 2023 / Mar. 14th 2023 / March 14
    re.compile(rf"\b{_MONTHS}\.?{_H}+{_ORD}\b(?:,?{_H}+{_YEAR}\b)?(?!{_H}*(?:mg|mcg|g|ml|mL|%|units?)\b)"),
    # 14 March 2023 / 14th of March / 14-Mar-2023 / 07/Apr/2024 (server logs) / 3 Mar 24 (a two-digit
    # year after a day and month, unless a unit follows: "3 Mar 24 h"). A spaced dash is a range
    # ("Feb 14 - Feb 28"), not a day-month separator.
    re.compile(rf"\b{_ORD}(?:{_H}+of)?(?:{_H}+|[\-/]){_MONTHS}\b\.?(?:[ \t\-,/]+(?:{_YEAR}|\d{{2}}(?![\d:]|{_H}*(?:h|hrs?|hours?|mg|%|units?)\b))\b)?"),
    # March 2023, Mar-2023, March of 2023
    re.compile(rf"\b{_MONTHS}\.?(?:{_H}+of)?[ \t\-,]+(?:19|20)\d{{2}}\b"),
    # 03/2023
    re.compile(r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b"),
    # 2019 March: the year first, as some writers put it
    re.compile(rf"\b(?:19|20)\d{{2}}{_H}+(?:January|February|March|April|May|June|July|August|September|October|November|December)\b"),
    # French (Quebec, France, West Africa): "le 19 février", "1er mars 2024"
    re.compile(r"\b(?:[12]\d|3[01]|0?[1-9]|1er)[ \t]+(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|"
               r"septembre|octobre|novembre|décembre|decembre)(?:[ \t]+(?:19|20)\d{2})?\b"),
    # the first month of a range with one year: "Jun-Sep 2024"
    re.compile(rf"\b{_MONTHS}\.?(?=[ \t]*[\-–][ \t]*{_MONTHS}\.?[ \t,]+(?:19|20)\d{{2}}\b)"),
    # december 2019, sept. 2021, may of 2020: lower case (transcripts, portal messages); with a year
    # after it even "may" is the month
    re.compile(
        r"\b(?:january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|"
        r"mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?,?(?:[ \t]+of)?[ \t]+(?:19|20)\d{2}\b"
    ),
]
# "version 5.2.11", "firmware 3.1.20": software releases share the shape of dotted dates.
_VERSION_BEFORE = re.compile(r"(?i)\b(?:version|ver|v|release|build|firmware|software|update|patch|rev)\.?[ \t]*$")
_DATE_VALUE = re.compile("|".join(p.pattern for p in _DATE_PATTERNS[2:]))  # for DOB values
_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
# on the 3rd / since the 21st / Tuesday the 4th
_ORDINAL_DAY = re.compile(
    rf"(?i:\b(?:(?:on|by|of|since|until|from|before|after|till)\s+the|(?:{_WEEKDAYS})(?:\s+the)?)\s+)(\d{{1,2}}(?:st|nd|rd|th))\b"
)
# Dates spoken in words, as transcripts write them: "june third nineteen thirty", "the fourteenth".
_UNITS = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_ORD_WORD = (
    r"(?:(?:twenty|thirty)[ \-](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|first|second|"
    r"third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|"
    r"sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth)"
)
_YEAR_WORDS = (
    rf"(?:(?:nineteen|twenty)(?:[ \-]hundred)?(?:[ \-](?:and[ \-])?(?:oh[ \-]{_UNITS}|(?:twenty|thirty|forty|fifty|"
    rf"sixty|seventy|eighty|ninety)(?:[ \-]{_UNITS})?|ten|eleven|twelve|\w+teen|{_UNITS}))|"
    rf"two thousand(?:[ \-](?:and[ \-])?(?:twenty(?:[ \-]{_UNITS})?|ten|eleven|twelve|\w+teen|{_UNITS}))?)"
)
# Lower-case month names (transcripts, portal messages); "may" is left out: it is a verb first.
_MONTHS_ANY_CASE = (
    r"(?:[Jj]anuary|[Ff]ebruary|[Mm]arch|[Aa]pril|May|[Jj]une|[Jj]uly|[Aa]ugust|[Ss]eptember|[Oo]ctober|"
    r"[Nn]ovember|[Dd]ecember)"
)
# "sept 3", "jan 14th", "march 3": lower-case months with a day number ("mar", "dec" and "may" are
# words first, so only their full forms, and "may" not at all)
_LOWER_MONTH_DAY = re.compile(
    r"\b(?:january|february|march|april|june|july|august|september|october|november|december|jan|feb|apr|"
    r"jun|jul|aug|sept?|oct|nov)\.?[ \t]+(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b(?![.,:]?\d|[ \t]*(?:mg|mcg|g|ml|%|units?)\b)"
)
_WORD_DATE = re.compile(
    rf"\b{_MONTHS_ANY_CASE}[ \t]+(?:the[ \t]+)?{_ORD_WORD}\b(?:,?[ \t]+(?:of[ \t]+)?(?:{_YEAR}|{_YEAR_WORDS})\b)?"
    # "the second of may nineteen thirty one": after "<ordinal> of" even "may" is the month
    rf"|\b(?<=the[ \t]){_ORD_WORD}[ \t]+of[ \t]+(?:{_MONTHS_ANY_CASE}|may)\b(?:,?[ \t]+(?:{_YEAR}|{_YEAR_WORDS})\b)?"
    # lower-case "may" is a verb first, a month when a year follows: "may fifth nineteen thirty-three",
    # or when its ordinal ends the clause ("back on may fifteenth.")
    rf"|\bmay[ \t]+(?:the[ \t]+)?{_ORD_WORD}(?:,?[ \t]+(?:of[ \t]+)?(?:{_YEAR}|{_YEAR_WORDS})\b|(?=[ \t]*(?:(?m:$)|[.,;!?])))"
    # "mid may", "early may": no verb follows those words
    rf"|(?<=\bmid[ \t\-])may\b|(?<=\blate[ \t])may\b|(?<=\bearly[ \t])may\b"
)
# "on the nineteenth." - an ordinal word after a date cue, followed by nothing a count would take.
_ORDINAL_WORD_DAY = re.compile(
    rf"(?i:\b(?:on|by|since|until|till|before|after|from|{_WEEKDAYS})\s+the\s+)({_ORD_WORD})\b"
    r"(?=\s*(?:$|[.,;:!?)\"'”’]|at\b|in the\b|and\b|or\b))"
)
# "around the 20th", "a note for the 18th through the 20th", "starting the 11th": "the" and an ordinal
# is a day of the month when what follows it (after any "and 4th", ", 5th") cannot be counted: the
# end of the clause, a word that starts a clause or a range, or "of <month>". "the 3rd time", "the
# 5th percentile" and "the 4th and 5th digits" are counts. Ordinal words need "fourth" or more:
# "the first." and "the second," are rarely days.
_ORDINAL_VALUE = rf"(?:(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)|{_ORD_WORD})"
_THE_ORDINAL = re.compile(rf"(?i:\bthe)[ \t]+((?i:{_ORDINAL_VALUE}))\b")
_ORDINAL_CHAIN = re.compile(rf"(?i:[ \t]*(?:,|and|or|to|through|thru|-|–)[ \t]*(?:the[ \t]+)?)((?i:{_ORDINAL_VALUE}))\b")
_DAY_FOLLOWS = re.compile(
    r"[ \t]*(?:$|[.,;:!?)\"'”’]|(?i:and|or|to|through|thru|till|until|at|in|when|because|but|so|she|he|they|we|i|"
    r"you|it|her|his|my|our|their|for|with|from|after|before|as|is|was|will|if|then|please)\b|"
    rf"(?i:of[ \t]+(?:this|next|last|that)[ \t]+month\b)|of[ \t]+{_MONTHS_ANY_CASE}\b)",
    re.MULTILINE,
)
_SMALL_ORDINAL_WORD = re.compile(r"(?i)first|second|third")
_MORE_ORDINALS = re.compile(r"[ \t]*(?:,|and|or)[ \t]*\d+(?:st|nd|rd|th)\b")
# After a date cue ("on the 3rd", "since the 21st") only a counted noun makes the ordinal a count:
# "on the 3rd floor", "of the 4th and 5th metatarsals".
_COUNTED_AFTER = re.compile(
    r"[ \t]+(?i:times?|floors?|percentiles?|digits?|fingers?|toes?|ribs?|metatarsals?|metacarpals?|vertebrae?|"
    r"nerves?|ventricles?|intercostal|spaces?|cycles?|doses?|days?|weeks?|months?|years?|grades?|trimesters?|"
    r"degrees?|generations?|centur(?:y|ies)|lines?|rounds?|attempts?|tries|sessions?|visits?|pregnanc(?:y|ies)|"
    r"child|children|sons?|daughters?|births?|deliver(?:y|ies)|cervical|lumbar|thoracic|sacral|molars?|"
    r"premolars?|teeth|tooth|compartments?|ray|rays|toe|web|stage|place|row|level|levels|sector)\b"
)
# An ordinal day with the article before it: the span takes "the" ("on [DATE]" reads as well, and
# writers differ on where such a span starts).
_ARTICLE_BEFORE = re.compile(r"\b[Tt]he[ \t]+$")
_ORDINAL_START = re.compile(rf"(?i:{_ORDINAL_VALUE})\b")
# m/d (and d/m) without a year share their shape with scores and fractions ("8/10 pain", "5/5
# strength", "2/6 murmur", "1/2 tab", "Apgars 8/9", "Epworth 6/24", "24/7"): see _short_dates.
_SLASH_PAIR = re.compile(r"(?<![\w/.\-+])(\d{1,2})/(\d{1,2})(?![\w/]|[.,]\d)")
_SHORT_DATE_CUE = re.compile(
    r"(?i)\b(?:on|since|from|until|till|through|thru|dated|date|by|after|before|seen|visited|reviewed|admitted|discharged|"
    r"started|stopped|visit|due|scheduled|placed|held|given|collected|received|drawn|onset|born|last|next|"
    r"around|about|circa|as of|week of|effective|resumed|changed|returned|called|reported|dc'?d|d/c|f/u|"
    r"follow-?up|appointment|appt|surgery|admit|admission|discharge|transfer(?:red)?|arrival|disabled|expired?)\W{0,3}$"
    # the second date of a range or list: "held on 11/1 and 11/2", "from 3/1 to 3/5"
    r"|\d{1,2}/\d{1,2}\s*(?:to|and|or|through|thru|-|–)\s*$"
)
_SCORE_BEFORE = re.compile(
    r"(?i)(?:\b(?:pain|strength|power|motor|murmur|grade|scored?|scale|apgars?|moca|mmse|slums|gcs|epworth|ess|"
    r"phq-?\d*|gad-?\d*|audit(?:-c)?|clock|drawing|compliance|used|ratio|vision|acuity|va|iop|reflexes|dtrs?|"
    r"rated|rates|rating|out of|total|tanner|ecog|zubrod|nyha|kps|recall|cytokeratin|ck)|=|%\s*\()\W{0,3}$"
)
_FRACTION_AFTER = re.compile(
    r"(?i)\s*(?:of|pain|strength|power|murmur|score|scale|vessels?|in\b|inch(?:es)?|days?|weeks?|wks?|months?|"
    r"hours?|hrs?|nights?|tabs?|tablets?|caps?|capsules?|cups?|times|x\b|nodes|cores|sessions|doses?|breast|"
    r"formula|ratio|sets|reps|cm|mm|mg|mcg|g\b|ml|units?|%|throughout|bilateral\w*|bilat|symmetric\w*|"
    r"sensation|reflexes|systolic|diastolic|holosystolic|positive|negative|lymph|split|normal|dilution|titer|"
    r"stairs|flights?|blocks?|pillows?|puffs?|sprays?|drops?|servings?|glasses|drinks?|packs?|cigarettes|meals?|"
    r"correct|words?|objects?|items?|points?|of\b|fingers?|beds?|patients?|subjects?|cases?|participants?|"
    r"had|were|history|hx|ago|old|post)\b"
    r"|\s*\(\s*\d+(?:\.\d+)?\s*%"  # a proportion: "7/13 (54%)"
)
_TIME_AFTER = re.compile(r"\s*(?:at\s+|@\s*)?\d{1,2}:\d{2}\b|\s*(?:at|@)\s*\d{3,4}\b")
# Denominators of the usual scores and fractions: with these, m/d needs a date cue to be a date.
_FRACTION_DENOMINATORS = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10})
# A month named alone after a cue: "in March", "since last May", "in late August", "back in february".
_MONTH_ALONE = re.compile(
    r"\b(?:[Ii]n|[Ss]ince|[Dd]uring|[Uu]ntil|[Tt]ill|[Bb]y|[Oo]f|[Ee]arly|[Ll]ate|[Mm]id|[Ll]ast|[Nn]ext|"
    r"[Tt]his|[Ff]rom|[Tt]hrough|[Bb]efore|[Aa]fter|[Ss]tarting|[Bb]eginning|[Ee]nd of|[Aa]round|[Aa]bout)[ \t\-]+"
    # "early March": the qualifier goes with the month (writers mark it either way; scrubbing it costs nothing)
    rf"((?:(?:early|late|mid|the end of|the beginning of|the middle of)[ \t-]+)?{_MONTHS_ANY_CASE})\b"
)
# Holidays, in any case, with a year if one follows ("Whitsun 2022"). Names that are also ordinary
# words or clinical abbreviations count only as written with a capital ("Holi", "Tet", "Eid",
# "New Year"; "labor day 2" is obstetrics), or after a date cue when lower case ("born on tet",
# not "tet booster").
_APOS = "['’]"
_HOLIDAY_NAMES = (
    rf"(?:christmas|xmas|x-mas)(?:[ \t]+(?:eve|day))?(?![ \t]+(?:tree|card|present|gift|party|lights?)s?\b)|"
    r"thanksgiving(?:[ \t]+day)?|easter(?:[ \t]+(?:sunday|monday|weekend))?|good[ \t]+friday|palm[ \t]+sunday|"
    r"ash[ \t]+wednesday|shrove[ \t]+tuesday|pancake[ \t]+day|mardi[ \t]+gras|whitsun(?:day)?|pentecost|"
    rf"new[ \t]+year{_APOS}?s?[ \t]+(?:eve|day)|(?:lunar|chinese)[ \t]+new[ \t]+year|halloween|hallowe'en|"
    r"independence[ \t]+day|fourth[ \t]+of[ \t]+july|memorial[ \t]+day|veterans?" + _APOS + r"?[ \t]+day|"
    rf"columbus[ \t]+day|presidents?{_APOS}?[ \t]+day|juneteenth|martin[ \t]+luther[ \t]+king(?:,?[ \t]+jr\.?)?[ \t]+day|"
    rf"mlk[ \t]+day|valentine{_APOS}?s[ \t]+day|(?:st\.?|saint)[ \t]+(?:patrick|paddy|stephen|david|andrew|george){_APOS}?s[ \t]+day|"
    rf"paddy{_APOS}?s[ \t]+day|boxing[ \t]+day|mother{_APOS}?s[ \t]+day|father{_APOS}?s[ \t]+day|"
    r"remembrance[ \t]+(?:day|sunday)|armistice[ \t]+day|anzac[ \t]+day|canada[ \t]+day|australia[ \t]+day|"
    r"bastille[ \t]+day|guy[ \t]+fawkes(?:[ \t]+night)?|bonfire[ \t]+night|burns[ \t]+night|hogmanay|"
    r"cinco[ \t]+de[ \t]+mayo|d[ií]a[ \t]+de[ \t]+(?:los[ \t]+)?muertos|day[ \t]+of[ \t]+the[ \t]+dead|"
    r"hanukk?ah|chanukk?ah|rosh[ \t]+hashanah?|yom[ \t]+kippur|passover|purim|sukkot|ramadan|ramadhan|"
    r"eid[ \t\-]+(?:al|ul)[ \t\-]+(?:fitr|adha)|diwali|deepavali|vaisakhi|baisakhi|navratri|kwanzaa|"
    r"la?bou?r[ \t]+day(?![ \t]*\d)|"
    # the rest of the world's public and religious days: a writer from Nairobi, Auckland or Chennai dates by them
    r"holy[ \t]+week|maundy[ \t]+thursday|holy[ \t]+(?:thursday|saturday)|three[ \t]+kings?" + _APOS + r"?[ \t]+day|"
    rf"all[ \t]+(?:saints|souls){_APOS}?[ \t]+day|"
    r"eid[ \t\-]+(?:el|al|ul)[ \t\-]+(?:fitr|adha|kabir|maulud)|sallah|hari[ \t]+raya(?:[ \t]+(?:puasa|haji|aidilfitri))?|"
    r"mawlid|ashura|shavuot|simchat[ \t]+torah|yom[ \t]+ha" + _APOS + r"?atzmaut|lag[ \t]+b" + _APOS + r"?omer|tisha[ \t]+b" + _APOS + r"?av|"
    r"waitangi[ \t]+day|matariki|jamhuri[ \t]+day|madaraka[ \t]+day|mashujaa[ \t]+day|human[ \t]+rights[ \t]+day|"
    r"day[ \t]+of[ \t]+reconciliation|emancipation[ \t]+day|victoria[ \t]+day|"
    rf"(?:king|queen){_APOS}s[ \t]+birthday|"
    r"pongal|lohri|ugadi|durga[ \t]+puja|dussehra|dasara|ganesh[ \t]+chaturthi|raksha[ \t]+bandhan|"
    r"janmashtami|makar[ \t]+sankranti|karva[ \t]+chauth|thaipusam|vesak|wesak|songkran|nowruz|norouz|navruz|"
    r"t[eế]t[ \t]+holiday|tết|mid[ \t\-]+autumn[ \t]+festival|moon[ \t]+festival|dragon[ \t]+boat[ \t]+festival|"
    r"lantern[ \t]+festival|qingming|chuseok|seollal"
)
_HOLIDAY_YEAR = r"(?:,?[ \t]+(?:19|20)\d{2}\b)?"
_NOT_TETANUS = r"(?![ \t]+(?i:shot|booster|vaccine|jab|tox|toxoid|dose|immuni[sz]ation)\b)"
# ordinary words in lower case: "a family day out", "the epiphany came to me"
_HOLIDAY_CAPITALISED = r"Epiphany|(?:Family|Youth|Freedom|Heritage|Republic|Democracy) Day|Golden Week|Obon|Onam|Vishu|Bihu"
_HOLIDAY = re.compile(
    rf"\b(?:(?i:{_HOLIDAY_NAMES})|{_HOLIDAY_CAPITALISED}|New Year(?:{_APOS}s)?|Holi|Tet{_NOT_TETANUS}|Eid)\b{_HOLIDAY_YEAR}"
)
_HOLIDAY_CUED = re.compile(
    rf"\b(?:on|at|for|during|since|before|after|over|until|till|by)[ \t]+((?:tet|eid)\b{_NOT_TETANUS}{_HOLIDAY_YEAR})"
)
_BIRTH_YEAR = re.compile(r"(?i:\b(?:born|birth|b\.)\s+(?:in\s+)?)((?:18|19|20)\d{2})\b")
_DOB = re.compile(r"(?i:\b(?:DOB|D\.O\.B\.?|date of birth|birth ?date|born(?: on)?)\s*[:#]?\s*)(?=\S)")

# ---------------------------------------------------------------------------------------------
# Contacts and numbers

# Each pattern starts only where a run of its characters starts (lookbehind) and bounds its repeats:
# without that, a long run such as "a.a.a.a..." costs quadratic time.
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8}\b")
_TLDS = r"(?:com|org|net|gov|edu|io|health|care|info|biz|us|uk|ca|au|de|fr|co|app|ai|ie|nz|es|nl|ch|se|dk|jp|za|mx|br|online|site|clinic)"
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]", re.IGNORECASE)
# A bare domain ("labs.example.com/r/1"): scanned only when the text has a ".com"-like ending at all.
_URL_DOMAIN = re.compile(
    rf"(?<![\w.\-])[a-z0-9\-]{{1,63}}(?:\.[a-z0-9\-]{{1,63}}){{0,8}}\.{_TLDS}"
    r"(?:/[^\s<>\"')\]]*[^\s<>\"')\].,;:!?])?(?![\w@])",
    re.IGNORECASE,
)
_TLD_ANY = re.compile(rf"\.{_TLDS}\b", re.IGNORECASE)
_ANY_DIGIT = re.compile(r"\d")
_MONTH_WORD = re.compile(r"(?i)january|february|march|april|may|june|july|august|september|october|november|december")
# A sentence may end right after an address ("from 10.0.0.5."), so only ".<digit>" continues it.
_IPV4 = re.compile(r"(?=\d{1,3}\.\d)(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d|\.\d)")
# IPv6 has too many spellings for one readable pattern ("::" compression, embedded IPv4, zone ids):
# this finds hex-and-colon runs with at least two colons, and the ipaddress module decides. A time
# ("10:30:15") or a ratio is not a valid address, so it is never taken.
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{2,45}(?:%\w+)?(?![\w:])")
_SSN = re.compile(r"\b(?!000|666)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
_SSN_CUE = re.compile(
    r"(?i:\b(?:SSN|social security(?: number| no\.?| #)?|SS#|SS No\.?)\s*[:#]?\s*)"
    r"(\d{9}|\d{3}[- ]\d{2}[- ]\d{4})"
)
# A masked SSN keeps the shape and the last four ("XXX-XX-6624", "***-**-6614", "###-##-8815"): the
# four digits still identify, cue or not.
_SSN_MASKED = re.compile(r"(?<![\w*#\-])[*xX#]{3}[- ][*xX#]{2}[- ]\d{4}\b")
# "SSN last four 3318", "last 4 of her social 2290", "last four digits: 6614"
_SSN_LAST_FOUR = re.compile(
    r"(?i:\blast[ \t]+(?:four|4)(?:[ \t]+digits)?(?:[ \t]+of[ \t]+(?:the[ \t]+|his[ \t]+|her[ \t]+|their[ \t]+)?"
    r"(?:SSN|social(?:[ \t]+security)?(?:[ \t]+(?:number|no\.?|#))?))?[ \t]*(?:is|was|=)?[ \t]*[:#]?[ \t]*)(\d{4})\b(?![.,]\d|[ \t]*(?:mg|units?|%))"
)
_PHONE = re.compile(
    # North America: (617) 555-0134, 617-555-0134, 617.555.0134, +1 617 555 0134, 1-800-555-0143 x12
    r"(?=[+(\d])(?<![\w/.\-])(?:\+?1[ \t.\-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.\-])\d{3}[ \t.\-]\d{4}"
    r"(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,5})?(?![\w/])"
    # international: +44 20 7946 0958
    r"|(?<![\w/.])\+\d{1,3}(?:[ \t.\-]\(?\d{1,4}\)?\d{0,4}){2,4}(?![\w/])"
    # UK national: 0113 392 4000, 07700 900123, 020 7946 0958, 01953 555 0127 (the 555 drama range)
    r"|(?<![\w/.\-])0\d{2,4}[ \t\-]\d{3,4}[ \t\-]?\d{3,4}(?![\w/\-]|\.\d)"
    # Australia and New Zealand, a one-digit area code: (08) 5550 1234, 07 555 0193
    r"|(?<![\w/.\-(])(?:\(0\d\)|0\d)[ \t\-]\d{3,4}[ \t]\d{4}(?![\w/\-]|\.\d)"  # and Malaysia: 03-5550 1172
    # India, mobiles printed five and five: 98555 50143, +91 98555 50143
    r"|(?<![\w/.\-])(?:\+91[ \t\-]?)?[6-9]\d{4}[ \t]\d{5}(?![\w/\-]|\.\d)"
)
# "ext 5-0128": a hospital extension with its exchange digit. "x" after a dash is part of a code
# ("VAR-X88120"), not an extension.
_PHONE_CUE_SHORT = re.compile(
    r"(?i:(?<![\w\-/])(?=[BbCcEeFfMmPpTtXx])(?:phone|tel|telephone|cell|mobile|pager|beeper|bleep|ph|fax|extension|ext|x)\.?[ \t]*"
    r"(?:number|no\.?|#)?[ \t]*[:#]?[ \t]*)(\d{3}-\d{4}|\d-\d{4}|\d{4,5})\b(?![.,]\d)"
)
# A number read out in words in a transcript: "five seven oh, five five five, oh one four two".
_SPOKEN_DIGITS = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_DIGIT_WORD = rf"(?:{_SPOKEN_DIGITS}|double[ \t]+\w+)"
_PHONE_WORD = rf"{_DIGIT_WORD}(?:[ \t]+hundred)?"
_PHONE_WORDS = re.compile(
    rf"(?i)\b{_PHONE_WORD}(?:[ \t,\-]+(?:dash[ \t]+)?{_PHONE_WORD}){{6,}}"
    rf"(?:,?[ \t]+(?:extension|ext\.?)[ \t]+{_DIGIT_WORD}(?:[ \t,\-]+{_DIGIT_WORD})*)?\b"
)
# Five digits read out after an address or a ZIP cue, and the last four of a phone or a social: "the zip
# is zero one zero six zero", "zip code? / daughter: zero eight eight two zero", "the last four of your
# social? / patient: four three two one". The cue must come first: five digits on their own are as often
# a digit-span test ("repeat after me: two one eight five four").
_ANSWER = r"(?:[^\n]{0,40}?\n[ \t]*(?:[\w .'’\-]{1,20}:)?|[^\n]{0,40}?)[ \t,.:]*"
_SPOKEN_ZIP_CUED = re.compile(
    rf"(?i:\b(?:zip|zip code|postcode|post code|postal code)\b{_ANSWER}|"
    rf"\b(?:street|st|road|rd|avenue|ave|drive|dr|lane|ln|boulevard|blvd|court|ct|place|way|apartment|apt|unit|suite)\b"
    rf"[^\n]{{0,60}}?,?[ \t]+)((?<![\w\-]){_SPOKEN_DIGITS}(?:[ \t]+{_SPOKEN_DIGITS}){{4}})(?![ \t,\-]+{_SPOKEN_DIGITS}\b)\b"
)
_SPOKEN_LAST_FOUR = re.compile(
    rf"(?i:\b(?P<cue>social|ssn|mobile|cell|phone|number)\b(?:[^\n]{{0,20}}?\b(?:ending|ends)(?:[ \t]+in)?|{_ANSWER}))"
    rf"[ \t]*(?P<value>(?<![\w\-]){_SPOKEN_DIGITS}(?:[ \t]+{_SPOKEN_DIGITS}){{3}})(?![ \t,\-]+{_SPOKEN_DIGITS}\b)\b"
)
# A code read out letter by letter and digit by digit: "k l seven two x p a" (a plate), "w x k four
# four nine ..." (a member number), "t r four four seven one" (a lot). Five characters at least, two
# of them digits and one a letter other than "a" and "i" (words on their own) and "x" ("two x two x
# three cm"), so that "a one", counting aloud or a size is not one.
# Groups may be read with a pause between them ("h four four one, two zero nine") and a UK postcode's district
# as one number ("s e fifteen, five j t").
_SPELT_TENS = (r"(?:ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
               rf"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-{_SPOKEN_DIGITS})?)")
_SPELT_TOKEN = rf"(?:{_DIGIT_WORD}|{_SPELT_TENS}|[a-z])"
_SPELT_CODE = re.compile(rf"(?<![\w'’\-]){_SPELT_TOKEN}(?:,?[ \t]+(?:dash[ \t]+)?{_SPELT_TOKEN}){{4,}}(?![\w'’\-])")
# Spelt with dashes: a name ("q-u-i-s-p-e", "m-c-g-i-l-l-i-c-u-d-d-y") or a code ("d-nine-x-r-two-seven",
# "v-five-h two-k-four"): three characters at least, one a letter other than "a", "i" and "x".
_SPELT_DASHED = re.compile(
    rf"(?<![\w'’\-]){_SPELT_TOKEN}(?:-{_SPELT_TOKEN}){{2,}}(?:[ \t]+{_SPELT_TOKEN}(?:-{_SPELT_TOKEN})+)?(?![\w'’\-])"
)
_SPELT_COMMAS = re.compile(r"(?<![\w'’\-])[a-z](?:,[ \t][a-z]){4,}(?![\w'’\-])")  # "m, a, h, a, l, a"
_SPELT_KINDS = (
    ("VEHICLE", re.compile(r"(?i)\b(?:registration|reg|plate|tag|number plate|licen[cs]e plate)\b")),
    ("HEALTH_PLAN", re.compile(r"(?i)\b(?:member|insurance|medicaid|medicare|policy|plan|subscriber)\b")),
    ("DEVICE", re.compile(r"(?i)\b(?:lot|serial|batch)\b")),
    ("LICENSE", re.compile(r"(?i)\b(?:licen[cs]e|licence|dl)\b")),
    ("ZIP", re.compile(r"(?i)\b(?:post ?code|zip|address)\b")),
)
# An e-mail address or web address read out: "seoyeon dot kim at mail dot example", "w w w dot bayside
# derm dot example slash results". The last "dot" must be followed by a domain ending.
_SPOKEN_TLD = rf"(?:{_TLDS}|example)"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![\w\-])[a-z0-9]+(?:[ \t]+(?:dot|underscore|dash)[ \t]+[a-z0-9]+)*[ \t]+at[ \t]+[a-z0-9]+(?:[ \t]+[a-z0-9]+)?"
    rf"(?:[ \t]+dot[ \t]+[a-z0-9]+)*[ \t]+dot[ \t]+{_SPOKEN_TLD}\b"
)
_SPOKEN_URL = re.compile(
    rf"(?<![\w\-])(?:w[ \t]+w[ \t]+w|h[ \t]+t[ \t]+t[ \t]+p[ \t]*s?)[ \t]+(?:dot[ \t]+)?[a-z0-9]+(?:[ \t]+[a-z0-9]+){{0,2}}"
    rf"(?:[ \t]+dot[ \t]+[a-z0-9]+)*[ \t]+dot[ \t]+{_SPOKEN_TLD}\b(?:[ \t]+slash[ \t]+[a-z0-9]+)*"
)
# A seven-digit local number after a word that gives one: "call 555-0134", "text her at 555-0199".
_PHONE_CUE_LOCAL = re.compile(
    r"(?i:\b(?:call|text|reach|contact|at|number|is|on)[ \t]+(?:(?:me|her|him|them|us)[ \t]+)?(?:at[ \t]+)?)"
    r"(\d{3}[\-.]\d{4})\b(?![.,\-]\d)"
)
# Without a cue: a seven-digit number with an exchange that cannot start a range or a count ("250-4000
# Hz" is a range); the unit after it decides.
_PHONE_LOCAL = re.compile(
    r"(?<![\w\-./])[2-9]\d{2}-\d{4}(?![\w\-]|[.,]\d|[ \t\xa0]*(?:Hz|hz|mg|mcg|mL|ml|g|kg|IU|units?|cells|copies|ms|m|km|k|%|x|"
    r"min|mins|minutes|sec|s|h|hr|hrs|hours|days|weeks|mmHg|lbs?|steps|kcal|cal|patients|cases|words)\b)"
)
_PHONE_KIND = re.compile(r"(?i)\b(fax|faks|phone|tel|telephone|cell|mobile|call|pager|ph|text)\b")

# "<label> <value>": the value is an identifier of the kind; the label stays. Labels ignore case.
_NUM = r"(?:number|num|no\.?|#|ID|identifier)"
_LABELS: list[tuple[str, str]] = [
    ("MRN", (rf"MRN|MR ?#|MR No\.?|medical record(?: {_NUM})?|med(?:ical)? rec(?:ord)?\.? ?{_NUM}?|"
            rf"chart {_NUM}|hospital {_NUM}|unit {_NUM}|patient {_NUM}|pt ID|NHS {_NUM}|record {_NUM}|"
            rf"health record {_NUM}|EMPI|MPI|"
            # New Zealand NHI, Scottish CHI, Australian UR numbers
            rf"NHI(?: {_NUM})?|CHI(?: {_NUM})?|UR(?: {_NUM})?|URN")),
    ("ACCOUNT", (rf"account(?: {_NUM})?|acct\.?(?: {_NUM})?|billing {_NUM}|encounter {_NUM}|visit {_NUM}|"
                rf"FIN|CSN|HAR|invoice {_NUM}")),
    # "per policy HIM-14" is a hospital policy, not an insurance one
    ("HEALTH_PLAN", (rf"member(?: {_NUM})?|subscriber {_NUM}|(?<!per )policy(?: {_NUM})?|group {_NUM}|"
                    # bare "group" only before a colon or a long number: "a group of 678", "group 148 (69%)"
                    rf"group(?=[ \t]*[:#]|[ \t]+[A-Z0-9\-]*\d[A-Z0-9\-]*\d{{3}})|insurance {_NUM}|"
                    rf"Medicare(?: {_NUM}| MBI)?|Medicaid(?: {_NUM})?|MBI|HICN|beneficiary(?: {_NUM})?|"
                    rf"health plan {_NUM}|plan {_NUM}|"
                    # public plans elsewhere: Irish medical card (GMS), Canadian health cards (HSN, PHN,
                    # OHIP, RAMQ), Australian Medicare and IHI
                    rf"medical card(?: {_NUM})?|GMS(?: {_NUM})?|HSN|PHN|OHIP(?: {_NUM})?|RAMQ(?: {_NUM})?|"
                    rf"health card(?: {_NUM})?|(?:personal )?health (?:services|insurance) {_NUM}|IHI(?: {_NUM})?|"
                    # Australian Medicare cards, and national insurers of Kenya, Nigeria and Ghana, the Philippines
                    rf"Medicare card(?: {_NUM})?|NHIF(?: {_NUM})?|NHIS(?: {_NUM})?|PhilHealth(?: {_NUM}| PIN)?")),
    ("LICENSE", (rf"DEA(?: {_NUM})?|NPI(?: {_NUM})?|licen[cs]e {_NUM}|lic\.? ?#|driver'?s licen[cs]e(?: {_NUM})?|"
                rf"DL ?#|certificate {_NUM}|cert\.? ?#|GMC(?: {_NUM})?|registration {_NUM}|"
                rf"board certification(?: {_NUM})?|state licen[cs]e(?: {_NUM})?|license|licence|"
                # medical and health registers of other countries (Ireland, South Africa, New Zealand,
                # Australia, Canada, UK nursing and allied professions)
                rf"IMC(?: {_NUM})?|MCNZ(?: {_NUM})?|HPCSA(?: {_NUM})?|AHPRA(?: {_NUM})?|CPSO(?: {_NUM})?|"
                rf"NMC(?: {_NUM})?|HCPC(?: {_NUM})?|GPhC(?: {_NUM})?|PSI(?: {_NUM})?|"
                # New Zealand nurses, the medical councils of Nigeria (its folio number), Kenya, Sri Lanka and Indian states
                rf"NCNZ(?: {_NUM})?|MDCN(?: folio| {_NUM})?|KMPDC(?: {_NUM})?|SLMC(?: {_NUM})?|MMC(?: {_NUM})?")),
    ("DEVICE", (rf"serial(?: {_NUM})?|S/N|SN|device {_NUM}|device serial|UDI|IMEI|model/serial|lot(?: {_NUM})?|"
               rf"implant {_NUM}")),
    ("ID", (rf"accession(?: {_NUM})?|specimen(?: {_NUM})?|claim(?: {_NUM})?|case {_NUM}|case|"
           rf"requisition(?: {_NUM})?|order {_NUM}|referral {_NUM}|reference {_NUM}|ref\.? ?#|"
           rf"authori[sz]ation {_NUM}|PA {_NUM}|tracking {_NUM}|sample {_NUM}|culture {_NUM}|badge(?: {_NUM})?|"
           rf"(?:police|crash|accident|collision|incident) report(?: {_NUM})?|incident {_NUM}|work order(?: {_NUM})?|ticket {_NUM}|"
           rf"(?:study|participant|subject|enrol?lment) {_NUM}|run(?: {_NUM})|[A-Z]{{2,6}} ID|ID(?: {_NUM})?|"
           # staff numbers in access logs: "(emp E40213)", "employee no. 88120"
           rf"emp(?:loyee)?(?: {_NUM})?|staff {_NUM}|"
           # national identity cards: Malaysia's MyKad, Singapore's NRIC
           rf"MyKad(?: {_NUM})?|NRIC(?: {_NUM})?")),
]
# An identifier value: letters, digits, - and /, at least one digit, at least 3 characters; a short
# capital prefix set off by a dot or a space goes with it ("MD.0048815", "GRP 55012", "AZH 88103-4472").
# Numbers printed in spaced groups keep their groups ("794 221 806", "2953 71648 1").
_VALUE = (
    r"(?P<value>(?:[A-Z]{1,4}[. ](?=\d))?(?=[A-Z0-9\-/]*\d)[A-Z0-9][A-Z0-9\-/]+[A-Z0-9]"
    r"(?:(?<=\d)(?:[ ]\d{3,5}){1,3}(?:[ ]\d{1,2}(?![\w.,]\d|[ \t]*(?:mg|%|units?|x|times)\b))?)?)"
)
# One pass for all labels (a named group per kind): six case-insensitive scans cost six times as much.
_LABEL_RE = re.compile(
    "(?i:\\b" + _lead(*(lab for _, lab in _LABELS)) + "(?:" + "|".join(f"(?P<{kind}>{lab})" for kind, lab in _LABELS) + "))"
    # a label ending in a letter ends a word: "SN" is a label, "SN60WF" is a model name
    + rf"(?!(?<=\w)\w)(?:{_H}*(?:is|was|of))?{_H}*[:#=]?{_H}*(?:#{_H}*)?{_VALUE}(?![\w\-%]|\.\d)"
)
_PLATE = re.compile(
    r"(?i:\b(?:licen[cs]e plate|number plate|plate|tag|reg(?:istration)?\.?|tail)(?: number| no\.?| #| mark)?"
    r"(?:[ \t]+(?:reads|is|was))?)[ \t]*[:#]?[ \t]*"
    r"((?=[A-Z0-9 \-]*\d)[A-Z0-9]{1,4}[ \-]?[A-Z0-9]{2,5})\b"
)
# Current UK registrations ("YK17 HXN") have a shape nothing clinical shares, so they need no cue.
_UK_PLATE = re.compile(r"\b[A-Z]{2}\d{2} [A-Z]{3}\b")
_VIN = re.compile(r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b")
# Identifier-shaped tokens with no label: CT23-0551987, MC-23-77104, ED0094412, long digit runs.
_ID_SHAPE = re.compile(r"(?<![\w\-.])[A-Z]{1,5}(?:-?\d+)(?:-[A-Z0-9]+)*(?![\w\-]|\.\d)")
_LONG_DIGITS = re.compile(r"(?<![\w\-.,])\d{7,}(?![\w\-]|[.,]\d)")
# ISBT 128 donation numbers on blood units, as printed: "W0417 24 118822 4" (facility, year, serial,
# check character).
# Hospital and lab numbers that carry a two-digit year between slashes: "SVMC/24/00871", "WMP/OP/22/10482"
_SLASH_YEAR_CODE = re.compile(r"(?<![\w/])[A-Z]{2,6}(?:/[A-Z]{2,6})*/\d{2}/\d{3,7}(?![\w/])")
_ISBT = re.compile(r"\b[A-Z]\d{4}[ \t]\d{2}[ \t]\d{6}(?:[ \t][0-9A-Z])?\b")
# Serial-like tokens that _ID_SHAPE misses: letters after the digits ("RNB628104S", "HB4477Q2") or a
# leading number ("2024-IN-0088173"). Five digits at least: "AU5800" (an analyser model) and
# "CYP2C19" stay; a string with that many digits mixed into capitals is an identifier.
_SERIAL = re.compile(
    r"(?<![\w\-./])(?=[A-Z0-9\-]*[A-Z])(?=(?:[A-Z\-]*\d){5})[A-Z0-9]+(?:-[A-Z0-9]+)*(?![\w\-]|\.\d)"
)
# Portal and system log-ins: lower case allowed, but a digit, dot or underscore inside, so that
# "user name confirmed" is not taken for one.
# Service accounts ("svc_adt", "system.hl7") name a program, not a person.
_USERNAME = re.compile(
    r"(?i:\b(?:user ?name|user ?ID|user|log-?in|account name|handle)(?:[ \t]+(?:is|was))?[ \t]*[:#=]?[ \t]*)"
    r"(?!(?i:svc|sys|system|service|daemon|root|admin|interface|hl7)[_.\-])((?=[\w.\-]*[\d._])[A-Za-z][\w.\-]{2,30}[A-Za-z0-9])\b"
)
# A log-in of letters only ("user=tbrennan", "user dmoreau (Delphine Moreau)"): taken in a key=value log,
# or where it holds a capitalised word of the text of four letters or more (her surname); "user reported" is not one.
_LOGIN_LETTERS = re.compile(
    r"(?i:\buser(?:[ \t]?(?:name|id))?[ \t]*(?P<eq>[=:])?[ \t]*)"
    r"(?!(?:svc|sys|system|service|daemon|root|admin|interface|guest|unknown|none|null)\b)(?P<value>[a-z]{4,20})\b(?![\-.@])"
)
# A log-in with no cue: lower-case letters, maybe a number after them and a role before or an initial after
# ("jsmith42", "akapoor", "lab_tnguyen", "mzwane_t"; _letter_logins decides).
_LOGIN_SHAPE = re.compile(r"(?<![\w.@/\-])(?P<pre>[a-z]{1,6}[_.])?(?P<core>[a-z]{5,16})(?P<num>\d{1,4})?(?P<post>_[a-z]{1,3})?(?![\w@\-]|\.\w)")
# lower-case letters with a number that are clinical shorthand, not a log-in ("covid19", "hba1c" has a letter after)
_CLINICAL_LETTERS = frozenset(_words("covid sars mers hspa spo pco etco fio paco pao hbsag"))
# Biometric identifiers and photographs are named by a cue word and then given as a value somewhere
# later in the same sentence ("fingerprint template enrolled for check-in, template ID FP-7731").
_BIOMETRIC_CUE = re.compile(
    r"(?i)\b(?:finger ?prints?|thumb ?prints?|palm ?(?:prints?|vein)|voice ?prints?|iris (?:scan|template|code)|"
    r"retina(?:l)? (?:scan|template)|face ?prints?|facial (?:recognition|geometry|template)|hand geometry|"
    r"biometrics?)\b"
)
_PHOTO_CUE = re.compile(r"(?i)\b(?:photo(?:graph)?s?|pictures?|headshot|selfie|portrait|mugshot)\b")
# A biometric or a face photograph held of the person, named with no value after it ("the caller's voiceprint is
# stored", "we'll take a photo of your face", "a full-face extraoral photograph"): Safe Harbor counts the print or
# the picture itself, so the phrase is what a note gives of it. Only where no value follows in the sentence (a
# value, "fingerprint template FP-7731", is the identifier then).
_NEWBORN = r"(?:infant|newborn|baby'?s|neonatal)"
_BIOMETRIC_PHRASE = re.compile(
    rf"(?i)\b(?:(?:maternal|paternal|{_NEWBORN})[ \t]+)?"  # whose print: "maternal right thumbprint"
    r"(?:(?:right|left)(?:[ \t]+and[ \t]+(?:right|left))?[ \t]+)?(?:(?:index|middle|ring|little)[ \t]+(?:finger[ \t]*)?)?"
    r"(?:finger|thumb|palm|voice|face|hand)[ \t-]?(?:prints?|scans?|veins?(?:[ \t]scans?)?)"
    r"(?:[ \t]+(?:templates?|authentication|readers?|scanners?|scans?|enrol(?:l?ment)?|login|unlock|recordings?|samples?))?\b"
    r"(?![ \t-]*like)|"
    r"\bvoice[ \t]+(?:recordings?|samples?)\b|"  # a recording of a person's voice: "a voice recording of my child's speech"
    r"\bface[ \t-]?match(?:ing)?(?:[ \t]+(?:verification|check))?\b|"
    rf"\b{_NEWBORN}[ \t]+foot[ \t-]?prints?\b|"  # a newborn's identification; a muddy one is none
    r"\b(?:Face[ \t]?ID|Touch[ \t]?ID)\b|"
    r"\b(?:iris|retinal?)[ \t]+(?:scans?|patterns?|templates?|images?)\b"
)
_FACE_PHOTO_PHRASE = re.compile(
    r"(?i)\b(?:patient'?s?[ \t]+)?(?:(?:frontal|front)[ \t]+)?(?:full[ \t-]?face|face|facial|passport[ \t-]style)[ \t]+(?:[a-z]+[ \t]+){0,2}?"
    r"(?:photo(?:graph)?s?|pictures?|portraits?|images?|videos?)\b|"
    r"\b(?:(?:CCTV|camera|video|security|webcam|still|identification)[ \t]+){0,2}(?:photo(?:graph)?s?|pictures?|images?|stills?)[ \t]+of[ \t]+"
    r"(?:your|his|her|their|my|the(?:[ \t]+patient'?s?)?)[ \t]+"
    r"(?:(?:whole|full)[ \t]+)?face\b|"
    r"\b(?:(?:enrol(?:l?ment)?|verification|registration|reference|profile|participant|patient)[ \t]+)?(?:selfie(?:[ \t]+photo(?:graph)?)?s?|headshots?|mugshots?)\b|"
    # the photograph on an identity document or badge: "photo ID", "passport photo", "driver's license photo"
    r"\b(?:(?:state|government|national|school|staff|employee|student|military)[ \t]+)?photo[ \t]+(?:(?-i:ID)|identification|badge|card)(?:[ \t]+card)?\b|"  # "photo id" in speech is the card more often than not
    r"\b(?:passport|(?:driver'?s?|driving)[ \t]+licen[cs]e|licen[cs]e|badge|registration(?:[ \t]+face)?|portrait|profile|"
    r"student|staff|employee|patient|(?-i:ID)|identity)[ \t]+photo(?:graph)?s?\b|"
    r"\bphoto[ \t]+(?:matched|compared|verified|checked)\b|"  # the face on a document held to the person
    r"\bface[ \t]+captures?\b|"  # a camera's still of a face (access control, CCTV)
    r"\bphoto[ \t]+on[ \t]+(?:(?:his|her|their|my|your|the|a|an)[ \t]+)?(?:[a-z]+[ \t]+){0,2}(?:ID|card|badge|licen[cs]e|passport)\b"
)
# A cued value: at least three digits, and a letter, dash or underscore unless it is all digits (4+, not a year).
_CUED_VALUE = re.compile(
    r"(?<![\w\-.])(?=[\w\-.]*\d[\w\-.]*\d[\w\-.]*\d)(?:[A-Za-z0-9]+[\-_.])*[A-Za-z0-9]*"
    r"(?:[A-Za-z_\-][A-Za-z0-9]*|\d{4,})(?<=[A-Za-z0-9])(?![\w\-]|\.\w)"
)
# Whatever a note calls a number ("Folder No. AFC/2281/24", "NHIS No. NHIS/LAG/0048121", "Reg. No. MMC 2009/04/1187",
# "MMC No. 58812"): parts joined by slashes or dashes with four digits in all, or five digits alone.
_NUMBERED = re.compile(
    r"\b(?:No|Nr|Number|Num|(?<=lab )no|[Rr]eg)\.?[ \t]*[:#]?[ \t]*"
    r"((?:[A-Z]{2,5}[ \t])?(?=(?:[A-Za-z/\-]*\d){4})[A-Z0-9]{1,10}(?:[/\-][A-Z0-9]{1,12}){1,4}|\d{5,})\b(?![/\-]\w)"
)
# MAC addresses of devices (pumps, monitors, home hubs)
_MAC = re.compile(r"(?<![\w:\-])[0-9A-Fa-f]{2}([:\-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![\w:\-])")
# GS1 unique device identifiers: "(01)00643169007222(17)250101(21)A1234"
_UDI = re.compile(r"\(01\)\d{14}(?:\(\d{2,4}\)[A-Za-z0-9\-]+)*")
_YEAR_ALONE = re.compile(r"(?:19|20)\d{2}")
_SENTENCE_END = re.compile(r"\n|[.;?!](?:\s|$)")  # "Can I send a picture? My cell is ..." 
# Image files: a picture of a person kept by name in a note is a photograph of them.
_IMAGE_FILE = re.compile(r"(?i)(?<![\w\-.])[\w\-.]{1,80}\.(?:jpe?g|png|heic|heif|gif|tiff?|bmp|webp|dcm|dicom)\b")
# A picture of a wound, a rash or a limb named by nothing but clinical words ("wound_sacrum_week3.jpg")
# shows no face and names no one; a name, a date, the face or a tattoo in it still make it a photograph
# that identifies ("Coleman_sacrum_0612.jpg", "tattoo_L_forearm.png").
_BODY_PART_PHOTO = re.compile(
    r"(?i)wound|ulcer|lesion|rash|burn|incision|scar|sacr\w*|heel|foot|feet|toe|skin|mole|knee|hand|ankle|leg|"
    r"arm|abdomen|stoma|dressing|graft|flap|site"
)
_IDENTIFYING_PARTS = frozenset(_words("tattoo face facial cheek head portrait id badge eye eyes ear lip nose chin forehead"))
# Clinical codes that look like identifiers: never replaced.
_CLINICAL_CODE = re.compile(
    r"(?i)^(?:ICD-?\d+|CPT-?\d*|PHQ-?\d+|GAD-?\d+|DSM-?\d+|HIV-?\d|COVID-?\d+|SARS-?\d*|IL-?\d+|CD\d+|"
    # a letter and at most four digits (ICD chapters, spine levels, stages); "E0044198" is an employee number
    r"HLA-?\w+|BRCA\d|HER\d|EGFR|MEN\d|CYP\w+|T\d{1,4}|L\d{1,4}|C\d{1,4}|S\d{1,4}|G\d+P\d+|E\d{1,4}|V\d{1,4}|M\d{1,4}|"
    r"A1C|HBA1C|O2|SPO2|FEV1|B12|D3|K\d{1,4}|I\d{1,4}|J\d{1,4}|N\d{1,4}|R\d{1,4}|Z\d{1,4}|F\d{1,4})$"
)

# ---------------------------------------------------------------------------------------------
# Ages

# Not after a decimal point, a range dash or "to": "range 31-92 years", "11.91 years", "from 15 to 93".
_AGE_BEFORE = r"(?<![\d.,\-–])(?<!\bto )(?<!\band )"  # not a range's end nor part of a number
_AGE_NUM = rf"{_AGE_BEFORE}(9\d|1[0-2]\d)"
_AGE_PATTERNS = [
    re.compile(rf"\b{_AGE_NUM}(?=[ \t\-]*(?:years?|yrs?|y/?o|yo|y\.o\.?|y)(?:[ \t\-]*old)?(?!\w))", re.IGNORECASE),
    re.compile(rf"(?i:\b(?:man|woman|gentleman|lady|female|male|widow|widower)[ \t]+of[ \t]+){_AGE_NUM}\b(?![.,]\d)"),
    re.compile(rf"\b({_AGE_BEFORE}(?:9\d|1[0-2]\d)(?:st|nd|rd|th))(?=[ \t]+birthday)", re.IGNORECASE),  # "103rd": the suffix too
    re.compile(rf"(?i:\b(?:age|aged|ages|age:)[ \t]*(?:of[ \t]*)?){_AGE_NUM}\b(?![.,]\d| ?%)"),
    re.compile(rf"(?i:\b(?:turned|turns|turning|turn)[ \t]+){_AGE_NUM}\b"),
    re.compile(
        rf"(?i:\b(?:you're|you are|I'm|I am|she's|he's|she is|he is|is now)[ \t]+){_AGE_NUM}\b"
        rf"(?![.,]\d)(?![ \t]*(?:%|percent|mg|kg|lbs?|pounds|beats|over|/|degrees|°))"
    ),
]
# "97F", "92 M", "93 yo F": an age with a sex, unless a temperature or a comparison came first.
_AGE_SEX = re.compile(r"(?<![\w.,/])(9\d|1[0-2]\d)(?=[ \t]?(?:yo[ \t]?|y/o[ \t]?|y[ \t]?|/[ \t]?)?[MF]\b)")
_TEMP_BEFORE = re.compile(r"(?i)(?:temp\w*|\bT|tmax|fever\w*|febrile|over|above|below|under|to|of|>|<|=|~)\W*$")
_WORD_NUM = r"(?:ninety|(?:one|a)[ \t]+hundred(?:[ \t]+and)?)(?:[ \t\-](?:one|two|three|four|five|six|seven|eight|nine))?"
# A person's age stated without "years": "Mum is 93", "his wife, who is 91", "the patient, 93,",
# "grandmother (90)", "herself ninety-one". The subject or the apposition is what makes the number an
# age: "HR is 96" and "sats 94" have neither.
_AGE_VALUE = rf"({_AGE_NUM}|{_WORD_NUM})\b(?![.,]\d)(?![ \t]*(?:%|percent|mg|kg|lbs?|pounds|beats|bpm|over|/|degrees|°))"
_AGE_SUBJECT = rf"(?:{_RELATIONS}|mum|mom|patient|pt|resident|client|who|she|he|I)"
_AGE_STATED = re.compile(
    rf"(?i:\b{_AGE_SUBJECT}[ \t]+(?:is|was|'s|’s|turned|turns|will be|has turned)[ \t]+(?:now[ \t]+|only[ \t]+|just[ \t]+)?)"
    + _AGE_VALUE
)
_APPOSITION_END = r"(?=[ \t]*(?:[,;)]|\.(?!\d)|$|years?\b|yo\b|y/o))"
_AGE_APPOSITION = re.compile(
    rf"(?i:\b(?:{_RELATIONS}|mum|mom|patient|pt|resident|client|widow(?:er)?|man|woman|gentleman|lady)(?:[ \t]*[,:][ \t]*|[ \t]*\([ \t]*)"
    rf"(?:(?:now|aged|age)[ \t]+)?|"
    rf"\b(?:herself|himself)[ \t]+){_AGE_VALUE}{_APPOSITION_END}",
    re.MULTILINE,
)
# After a name found by the name rules: "Ingeborg Lindqvist, 96, admitted", "Mrs. Adler (94)", "His
# brother Emrys is 97 and lives in ...".
_AGE_CLAUSE_END = r"(?=[ \t]*(?:[,;)]|\.(?!\d)|$|(?:and|but|now|this|last|next|in|on|years?|yo)\b|y/o))"
_AGE_AFTER_NAME = re.compile(
    rf"(?:,[ \t]*|[ \t]*\([ \t]*|[ \t]+(?:is|was|turned|turns|will be)[ \t]+(?:now[ \t]+|only[ \t]+|just[ \t]+)?)"
    rf"{_AGE_VALUE}(?:{_APPOSITION_END}|{_AGE_CLAUSE_END})",
    re.MULTILINE,
)
# "he lived to ninety-seven", "I made it to 96", "died at the age of 101"
_AGE_VALUE_AFTER_TO = _AGE_VALUE.replace(r"(?<!\bto )", "")  # "lived to 99": here "to" is no range
_AGE_REACHED = re.compile(
    rf"(?i:\b(?:lived|live|lives|living|made it|make it)[ \t]+to[ \t]+(?:be[ \t]+)?|"
    rf"\b(?:died|passed|passed away|alive(?:[ \t]+and[ \t]+well)?)[ \t]+at[ \t]+(?:the[ \t]+age[ \t]+of[ \t]+)?|"
    rf"\balive(?:[ \t]+and[ \t]+well)?,[ \t]*){_AGE_VALUE_AFTER_TO}"
)
# The answer to "how old ...?" in a transcript: a number at the start of one of the next turns
# ("Patient: ninety-four come Easter", "Husband: Ninety-three last spring").
# "how old are you", "so that makes you ...", "what age is she": the answer is an age.
_HOW_OLD = re.compile(r"(?i)\bhow old\b|\bthat makes (?:you|her|him)\b|\bwhat age\b")
# transcripts name the speaker with a colon or without one ("patient ninety two and still kicking")
_TURN_AGE = re.compile(
    rf"(?im)^[ \t]*(?:[\w .'’\-]{{1,20}}:[ \t]*|(?:patient|pt|caller|parent|mum|mom|dad|son|daughter|husband|wife)[ \t]+)?(?:(?:about|almost|nearly|just|oh|well|um|uh|I'm|I am|she's|he's)[ \t,]+)*"
    rf"{_AGE_VALUE}"
)
# Spanish ages in words over 89 before "años": "tiene noventa y dos años".
_SPANISH_AGE = re.compile(
    r"(?i)\b(?:noventa(?:[ \t]+y[ \t]+(?:uno|un|dos|tres|cuatro|cinco|seis|siete|ocho|nueve))?|cien|ciento(?:[ \t]+\w+){1,3}?)"
    r"(?=[ \t]+años\b)"
)
_WORD_AGE = [
    re.compile(rf"(?i)\b{_WORD_NUM}(?=[ \t\-]+years?(?:[ \t\-]+old)?\b)"),
    re.compile(rf"(?i:\b(?:be|turn|turned|turning|aged|age|I'm|I am|im|she's|shes|he's|hes|she is|he is|is now|makes (?:you|her|him|me))[ \t]+)({_WORD_NUM})\b(?![ \t]*(?:%|percent|per[ \t]+cent|times)\b)"),
]

# ---------------------------------------------------------------------------------------------
# Places

_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|Row|Pike|Alley|Grove|"
    r"Gardens|Mews|Walk|Loop|Plaza|Run|Path|Parade|Rise|Crossing|Ridge|Heights|Green|Wynd|Vale|"
    # British and Irish street names end in these too: "27 Balgray Hill", "4 Kirkgate Bank"
    r"Hill|Brae|Gate|Park|Croft|Meadows?|Chase|Quay|Wharf|Esplanade|Promenade|Hollow|Glen|Bank|View|"
    r"Commons|Causeway|Turnpike|Bend|Cove|Landing|Knoll)"
)
# A unit after the street ("Apt 3C", "Flat 2/1", "Floor 3", "2nd Floor"): the word must end there,
# or "Fl" takes the start of "Floor".
_UNIT_WORD = r"(?:(?:Apartment|Apt|Unit|Suite|Ste|Room|Rm|Flat|Floor|Fl|Bldg|Building|Level|[Bb]ureau|app)\b\.?|#)"  # "app. 3": Québec
_UNIT = (
    rf"(?:,?{_H}*(?:{_UNIT_WORD}{_H}*#?{_H}*[A-Za-z0-9\-/]*[A-Za-z0-9]|\d{{1,2}}(?:st|nd|rd|th){_H}+(?:Floor|Fl)\b\.?))?"
)
_STREET = re.compile(
    rf"\b(?:\d{{1,4}}[/\-](?=\d))?\d{{1,6}}[A-Za-z]?{_H}+(?:(?:NE|NW|SE|SW|[NSEW])\.?{_H}+|(?:North|South|East|West){_H}+)?"
    rf"(?:[{_UP}][{_LO}A-Za-z'\-]*|\d+(?:st|nd|rd|th)|(?<=\d\d\d[ \t])\d{{1,3}}(?={_H}+(?:Ave|Avenue|St|Street)\b))"  # "15820 84 Ave"
    rf"(?:{_H}+[{_UP}][{_LO}A-Za-z'\-]*){{0,3}}{_H}+{_STREET_TYPES}\b\.?"
    # a quadrant after the type: "1528 20th Street West," (not "West" starting a town: "Main St West Haven")
    rf"(?:{_H}+(?:N|S|E|W|NE|NW|SE|SW|Ext|Extension)\b\.?|{_H}+(?:North|South|East|West)(?={_H}*(?:,|(?m:$))))?{_UNIT}"
)
# Rural numbered roads: "4130 County Road 12", "on State Route 9".
_NUMBERED_ROAD = re.compile(
    rf"(?:\b\d{{1,6}}[A-Za-z]?{_H}+(?:(?:County|State|Township|Forest|Farm)[ \t]+)?|\b(?:County|State|Township)[ \t]+)"
    rf"(?:Road|Rd|Route|Rte|Highway|Hwy)\.?{_H}+\d{{1,4}}[A-Z]?\b{_UNIT}"
)
# A street with a quadrant before it needs no house number: "at S Figueroa St and W 7th St" (the
# quadrant rules out a title or a saint; "Dr" still is one).
_QUADRANT_STREET = re.compile(
    rf"\b(?:NE|NW|SE|SW|N|S|E|W)\.?{_H}+(?:[{_UP}][{_LO}]+|\d{{1,3}}(?:st|nd|rd|th))(?:{_H}+[{_UP}][{_LO}]+)?{_H}+"
    rf"(?:St|Ave|Blvd|Rd|Ln|Pl|Ct|Pkwy|Hwy|Street|Avenue|Boulevard|Road|Lane|Place|Parkway|Highway)\b\.?"
)
# One capitalised word of a place name, bounded ("Pant-y-Celyn", "Chandler's"): unbounded runs of
# word characters and dashes make a scan quadratic on text like "Aa-Aa-Aa-...".
_PLACE_WORD = rf"(?<![\w'’\-])[{_UP}][\w'’]{{0,30}}(?:-[\w'’]{{1,30}}){{0,3}}"
# Streets whose type comes first (Spanish, Portuguese, French, Italian, Irish, Welsh): "Calle Ocho",
# "12 Bóthar na Trá", "4 Heol y Nant", "9 Stryd Fawr", "Rue de la Paix". These words are not
# English, so no house number is needed, except for "Via" ("via Email").
_STREET_FIRST_TYPES = r"(?:Calle|Avenida|Rua|Rue|Viale|Piazza|Bóthar|Bothar|Sráid|Sraid|Heol|Stryd|Ffordd|Lôn|Carrer|Camino|Paseo|Chemin|Allée|Strada|Ulica)"
_STREET_PARTICLE = r"(?:de|del|de la|la|le|les|des|du|na|an|y|yr|di|da|dos|das|do|della|dei|degli)"
# French addresses write the type in lower case after the number: "1700 rue Saint-Denis, bureau 410".
_STREET_TYPE_FIRST = re.compile(
    rf"(?:\b\d{{1,5}}[A-Za-z]?{_H}+)?(?:\b{_STREET_FIRST_TYPES}|(?<=\d{_H})(?:Via|rue|chemin|boulevard|avenue|route|place))"
    rf"(?:{_H}+{_STREET_PARTICLE})*{_H}+{_PLACE_WORD}(?:{_H}+(?:{_STREET_PARTICLE}{_H}+)?{_PLACE_WORD}){{0,3}}{_UNIT}"
)
# "Flat 6, Wensum Court, 22 Riverside Road": a flat and a building's name before the street line.
_FLAT_BEFORE = re.compile(
    rf"\b(?:Flat|Apt\.?|Apartment|Unit|Suite|Room|Level|Floor|Shop)[ \t]*[\w/\-]{{1,8}},[ \t]*(?:{_PLACE_WORD}(?:[ \t]+{_PLACE_WORD}){{0,3}},[ \t]*)?$"
)
# Address lines that put a comma after the house number, as in India, Malaysia, and British trading estates:
# "No. 27, 2nd Cross Street", "B-702, Gokul Heights, Plot 9, Sector 35", "No. 8, Jalan Mawar 3/2, Taman Sri
# Mawar", "Unit 4, Tyne Point Industrial Estate". A lead word ("No.", "Plot", "Unit") or a block letter makes the
# number a house number, and each piece after it is a named street or estate, a numbered plot or sector, or a Malay
# street (jalan, lorong) or estate (taman).
_NUMBERED_PIECE = r"(?:Plot|Sector|Block|Pocket|Seksyen|Purok)\.?[ \t]*(?:No\.?[ \t]*)?\d{1,4}[A-Z]?\b"
_COMMA_ADDRESS = re.compile(
    rf"\b(?:(?:(?:No|Door No|House [Nn]o|H\.[ \t]?No|Unit|Flat|Shop|Building|Bldg)\.?|Plot|Purok){_H}*\d{{1,5}}(?:/\d{{1,4}})?[A-Za-z]?|"
    rf"[A-Z]{{1,2}}-\d{{1,5}}[A-Za-z]?|(?:Jalan|Jln|Lorong|Lrg){_H}+\d{{1,3}}/\d{{1,3}})"
    rf"(?:,{_H}*(?:{_NUMBERED_PIECE}|"
    rf"(?:\d{{1,3}}(?:st|nd|rd|th){_H}+)?{_PLACE_WORD}(?:{_H}+{_PLACE_WORD}){{0,3}}{_H}+"
    rf"(?:{_STREET_TYPES}|Estate|Nagar|Colony|Layout|Enclave|Residency|Towers?|Apartments|Salai|Marg|Veedhi)\b\.?|"
    rf"\d{{1,3}}(?:st|nd|rd|th){_H}+(?:Cross|Main)(?:{_H}+(?:Road|Street))?\b|"  # Bengaluru and Chennai: "2nd Cross"
    rf"(?:Sitio|Barangay|Brgy)\.?{_H}+{_PLACE_WORD}(?:{_H}+{_PLACE_WORD})?|"  # the Philippines
    rf"(?:Jalan|Jln|Lorong|Lrg|Persiaran|Lebuh|Taman)\.?(?:{_H}+(?:{_PLACE_WORD}|\d{{1,3}}(?:/\d{{1,3}})?)){{1,4}})){{1,4}}"
)
# A street named without a number: "on Carver Street", "Chapeltown Road". Full words only ("Dr" and
# "St" alone are titles and saints far more often than streets).
_STREET_NAMED = re.compile(
    rf"\b((?:[{_UP}][{_LO}]+(?:-[{_UP}][{_LO}]+)?{_H}+){{1,3}}(?:Street|Avenue|Road|Boulevard|Lane|Parkway|Terrace|"
    rf"Highway|Drive|Crescent|Grove))\b"
)
# A street that is one field of a comma-separated address line (a town follows it, see _LOCALITY).
_ADDRESS_FIELD = re.compile(r"(?:^|\n|,)[ \t]*\Z")
# "the 3300 block of Kessler Boulevard" (police and EMS reports); Scandinavian, German and Dutch streets whose type
# is the end of the word, number after: "Kungsgatan 14B", "Hauptstraße 5", "Keizersgracht 12"
_BLOCK_OF = re.compile(rf"\b\d{{2,5}}{_H}+block{_H}+of{_H}+(?:[{_UP}][{_LO}]+{_H}+){{1,3}}{_STREET_TYPES}\b\.?")
_WORD_TYPE_STREET = re.compile(
    rf"\b[{_UP}][{_LO}]+(?:gatan|gata|vägen|väg|veien|vej|gade|straße|strasse|str\.|weg|laan|straat|gracht|gasse|allee|platz)"
    rf"{_H}+\d{{1,4}}[A-Za-z]?\b"
)
_POBOX = re.compile(
    r"(?i)\b(?:P\.?\s?O\.?\s?Box|Post Office Box)[ \t]+(?-i:[A-Z]{1,3}[ \t]+)?\d+(?:-\d{5}\b)?\b"  # Ghana "P.O. Box KB 77", Kenya "P.O. Box 40217-00100"
    # "RR 18" is a respiratory rate and "HC 34" a head circumference: the abbreviations need a box
    r"|\b(?:Rural Route|Star Route)[ \t]*\d+(?:[ \t,]+Box[ \t]*\d+)?\b|\bRoute[ \t]+\d+,?[ \t]+Box[ \t]+\d+\b|\b(?:RR|HC)[ \t]*\d+[ \t,]+Box[ \t]*\d+\b"
)
_STATE_ABBR = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
    "NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC"
)
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|"
    "Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|"
    "Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|"
    "New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|"
    "South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|"
    "Wisconsin|Wyoming"
)
# Abbreviations that are also credentials or words ("Jane Roe, MD"): a city before them needs a ZIP.
_WEAK_STATES = frozenset({"MD", "PA", "ME", "OR", "IN", "DE", "OK", "HI", "CO", "MS", "ID", "DO", "MA"})
# "Springfield, IL 62704" / "Springfield, Illinois": city before a state, ZIP after it.
_CITY_STATE = re.compile(
    rf"\b([{_UP}][{_LO}]+(?:[ \t\-][{_UP}][{_LO}]+){{0,2}}),?{_H}*\b({_STATE_ABBR}|{_STATE_NAMES})\b"
    rf"(?:\.?,?{_H}*(\d{{5}}(?:-\d{{4}})?)\b)?"
)
# Canadian provinces and Australian states, kept like US states.
_OTHER_STATES = (
    "AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT|Alberta|British Columbia|Manitoba|New Brunswick|Nova Scotia|Ontario|"
    "Qu[eé]bec|Saskatchewan|Yukon|NSW|VIC|Vic|QLD|Qld|SA|TAS|Tas|ACT|New South Wales|Victoria|Queensland|"
    "Western Australia|South Australia|Tasmania|Northern Territory|"
    # states of India, Malaysia and Nigeria, which addresses there end with as a US one ends with its state
    "Maharashtra|Tamil Nadu|Karnataka|Kerala|Gujarat|Rajasthan|Uttar Pradesh|West Bengal|Telangana|Andhra Pradesh|"
    "Madhya Pradesh|Bihar|Odisha|Punjab|Haryana|Assam|Goa|Selangor|Johor|Penang|Pulau Pinang|Sabah|Sarawak|Perak|"
    "Kedah|Kelantan|Melaka|Pahang|Terengganu|Negeri Sembilan|Perlis|Lagos State|Ogun State|Oyo State|Rivers State"
)
_STATE_AT_END = re.compile(rf"\b(?:{_STATE_ABBR}|{_STATE_NAMES}),?[ \t]*$")
_ZIP_CUE = re.compile(r"(?i:\b(?:zip|zip code|postal code|postcode|post code)\s*[:#]?\s*)(\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)\b")
_ZIP_AFTER_PLACE = re.compile(rf"(?<=[{_LO}A-Z]),?{_H}+(\d{{5}}(?:-\d{{4}})?)\b(?![.,]\d|{_H}*(?:mg|units|mL|cells))")
_UK_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?[ \t]\d[ABD-HJLNP-UW-Z]{2})\b")
# Irish Eircodes ("H91 X2F7"): a routing key and four letters and digits, after a word of the address.
_EIRCODE_CORE = r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[ \t]?(?=[0-9A-Z]{0,3}[A-Z])(?=[0-9A-Z]{0,3}\d)[0-9AC-FHKNPRTV-Y]{4}\b"
_EIRCODE = re.compile(rf"(?<=[{_LO},.][ \t])\b{_EIRCODE_CORE}")
_COUNTY = re.compile(rf"\b((?:[{_UP}][{_LO}]+{_H}){{1,3}}(?:County|Parish|Borough|Township))\b")
# "<Place> Family Health", "<Place> Community Medical Group", "<Place> Medical Practice": the place
# before a facility word.
_FACILITY = re.compile(
    rf"\b((?:[{_UP}][{_LO}]+{_H}){{1,2}})(?=(?:(?:Community|General|Memorial|Regional|Family|Medical|Union|"
    rf"Teaching|University|Heights|Valley|County)\b{_H}*)*(?:Hospitals?|[Cc]linic|Medical Cent(?:er|re)|"
    rf"Medical Group|Medical Practice|Family Health|Family Practice|Family Medicine|Urgent Care|NHS|College|"
    rf"Senior Center|Nursing Home|Surgical Center|Health Cent(?:er|re)|Infirmary|Surgery|Institute|"
    rf"Visiting Nurses?|Health Services)\b)"
)
# "through the Seacroft phlebotomy service": a capitalised word before a facility noun.
_LOWER_FACILITY = re.compile(
    rf"\bthe[ \t]+([{_UP}][{_LO}]+(?:[ \t][{_UP}][{_LO}]+)?)[ \t]+(?:[a-z]+[ \t]+)?"
    r"(?:service|clinic|practice|surgery|pharmacy|hospital|hospice|health cent(?:re|er)|medical cent(?:re|er))\b"
)
# The places after a street line, up to a state, a country or a postcode: "12 Bóthar na Trá,
# Salthill, Co. Galway", "61 Wolcott Street, Floor 2, Red Hook, Brooklyn", "2207 halsted street,
# chicago, 60614".
_LOCALITY = re.compile(
    rf"[ \t]*,[ \t]*(?:(?:Co\.?|County)[ \t]+)?({_PLACE_WORD}(?:[ \t]+{_PLACE_WORD}){{0,2}}|"
    rf"[{_LO}][{_LO}'’\-]+(?:[ \t]+[{_LO}][{_LO}'’\-]+)?)"
    rf"(?=[ \t]*(?:[,.?!;]|$|[A-Z]{{1,2}}\d|-?[ \t]*\d{{4,6}}\b|{_EIRCODE_CORE}))",
    re.MULTILINE,
)
# The ZIP or postcode after those places: six digits in India ("Navi Mumbai - 410210") and Singapore; four
# (South Africa, New Zealand, Australia...) only where the line or the list ends.
_ZIP_AFTER_LOCALITY = re.compile(
    r"[ \t]*,?[ \t]*(?:-[ \t]*)?(\d{5}(?:-\d{4})?|\d{6}|\d{4}(?=[ \t]*(?:$|\n|[ \t]{2}|[,;]|\.(?!\d))))\b(?![.,]\d)",
    re.MULTILINE,
)
# A postcode before the town, after a street line (Malaysia, Germany, France...): ", 43000 Kajang".
_POSTCODE_TOWN = re.compile(rf"[ \t]*,[ \t]*(\d{{5}})[ \t]+({_PLACE_WORD}(?:[ \t]+{_PLACE_WORD}){{0,2}})(?=[ \t]*(?:[,.;]|$))", re.MULTILINE)
# Postcodes after a Canadian province ("Saskatoon, SK S7M 0Z6") or an Australian state ("Fremantle WA
# 6160"): the state alone is kept, like a US state.
_CA_POSTCODE = r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ \t]?\d[ABCEGHJ-NPRSTV-Z]\d"
_PROVINCE_POSTCODE = re.compile(
    rf"\b(?:AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT|Alberta|British Columbia|Manitoba|New Brunswick|Nova Scotia|"
    rf"Ontario|Qu[eé]bec|Saskatchewan|Yukon),?{_H}+({_CA_POSTCODE})\b"
    rf"|\b(?:NSW|VIC|Vic|QLD|Qld|WA|SA|TAS|Tas|NT|ACT),?{_H}+(\d{{4}})\b(?![.,]\d|{_H}*(?:mg|units|mL|cells|%))"
)
# The place right before a UK postcode or an Eircode: "Norwich NR1 1SR", "Balornock, G21 4QQ".
_BEFORE_POSTCODE = re.compile(
    rf"\b({_PLACE_WORD}(?:[ \t]+{_PLACE_WORD}){{0,2}}),?[ \t]+"
    rf"(?=[A-Z]{{1,2}}\d[A-Z\d]?[ \t]\d[ABD-HJLNP-UW-Z]{{2}}\b|{_EIRCODE_CORE})"
)
_COUNTRIES = frozenset(_words("""
    usa us u.s. u.s.a. uk u.k. america ireland eire england scotland wales britain canada australia mexico
    """)) | frozenset({"United States", "United Kingdom", "Northern Ireland", "New Zealand", "Great Britain"})
_NOT_PLACES = frozenset(
    _words(
        """
        st saint mercy general memorial regional community university children's childrens good
        samaritan sacred heart presbyterian baptist methodist lutheran veterans county state valley
        medical mount sinai kaiser permanente mayo hopkins johns brigham women's womens mass
        massachusetts central north south east west northern southern eastern western new united
        national royal city the our your his her their this that public mental behavioral primary urgent
        family care home dialysis cancer heart eye ear kidney rehab specialty surgical outpatient
        inpatient main downtown uptown unity hope grace providence trinity christ holy cross blue shield
        emergency department clinic health medicine teaching private local nearest nearby another
        different same walk-in pain orthopedic orthopedics orthopaedic pulmonary cardiology cardiac
        neurology oncology dermatology endocrinology endocrine rheumatology nephrology urology
        gynecology obstetrics pediatric pediatrics psychiatry psychiatric maintenance methadone sample
        spine sports wound diabetes allergy asthma sleep vascular vein breast liver transplant fertility
        travel anticoagulation coumadin hiv infectious disease geriatric geriatrics memory headache
        stroke physical therapy occupational speech hand foot ent gi surgery surgical trauma burn
        gastroenterology hepatology hematology haematology otolaryngology ophthalmology audiology podiatry
        dentistry dental immunology genetics palliative hospice radiology pathology anesthesiology
        anaesthesiology neonatology perinatology bariatric bariatrics lactation phlebotomy pharmacy
        military
        """
    )
)

# ---------------------------------------------------------------------------------------------
# Names

_TOK = (
    # an inner capital too: "LaShonda", "DeShawn", "JoAnn"
    rf"(?:(?:Mc|Mac|O'|D'|Di|De|Van|Von)?[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?(?:[\-'’](?!s\b)[{_UP}]?[{_LO}]+){{0,3}}|[{_UP}]\.)"
)
_SUFFIX = rf"(?:,?{_H}+(?:Jr|Sr)\.?|{_H}+(?:III|II|IV)(?!\w))?"
# A nickname in quotes between the given name and the surname: Reginald "Reggie" Miles.
_NICK = rf"(?:{_H}[\"“][{_UP}][{_LO}]+[\"”])"
# Lower-case particles inside a surname: "Van der Merwe", "María de la Cruz", "Ibn al Haytham".
# Welsh patronymics too: "Aled ap Rhys", "Nia ferch Owain".
_PARTICLES = ("van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "ter", "ten",
              "bin", "ibn", "al", "el", "dos", "das", "ap", "ab", "ferch", "verch", "bint")
_PARTICLE_WORD = rf"(?:{'|'.join(_PARTICLES)}|Ó|Ní|Nic|Uí|Mac)"
# a particle may follow another ("van der", "de la") before the capital
_PARTICLE = rf"(?:{_H}{_PARTICLE_WORD}(?=(?:{_H}{_PARTICLE_WORD})?{_H}[{_UP}]))"
_SEQ = rf"(?<![\w\-.]){_TOK}(?:{_NICK}?{_PARTICLE}{{0,2}}{_H}{_TOK}){{0,3}}{_SUFFIX}"  # one space between parts: two end a sentence
# "KIM, JI-HOON", "ROSE, Summer A.": the surname in capitals, the given name in capitals or not
_CAPS_LAST_FIRST = (
    rf"[A-Z]{{2,}}(?:[\-'][A-Z]{{2,}})?,[ \t]*(?:[A-Z]{{2,}}(?:-[A-Z]{{2,}})?|[{_UP}][{_LO}]+)(?:[ \t]+[A-Z]\.?(?!\w))?(?![a-z])"
)
_LAST_FIRST = rf"[{_UP}][{_LO}]+(?:[\-'][{_UP}][{_LO}]+)?,[ \t]*[{_UP}][{_LO}]+(?:[ \t]+[{_UP}]\.?(?!\w))?"

# Abbreviated titles may carry a period; full-word titles may not ("Thank you, Doctor. Tell me ...").
# Full-word titles count in lower case too ("per trooper Kowalczyk"); abbreviations only as written
# ("ms" is multiple sclerosis).
_TITLE_WORDS = (
    r"doctor|miss|mister|professor|nurse|sister|father|reverend|chaplain|pastor|rabbi|imam|judge|officer|"
    r"trooper|deputy|sergeant|detective|captain|lieutenant|constable|dame|sir|lady|lord|madam|señor|señora"
)
# After these a capitalised word is a name even when it is also a word ("Dr. Hope", "Mrs. Young");
# after "Nurse" or "Sister" it may be a job ("Sister Ward").
_HONORIFICS = frozenset(_words("dr mr mrs ms mx miss mister prof professor dame sir señor señora sra rev reverend"))
_TITLE = re.compile(
    rf"\b(?=[CDFIJLMNOPRSTcdfijlmnoprst])(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof|Rev|Sr|Sra|Messrs|Sgt|Capt|Lt|Det)\.?|"
    rf"(?i:{_TITLE_WORDS})){_H}+({_SEQ})"
)
# Job titles written before a name, in any case: "manager Delacroix", "CPN Morag", "charge nurse Ama".
_ROLE_BEFORE = re.compile(
    r"(?i:\b(?:manager|supervisor|coordinator|technician|tech|therapist|pharmacist|interpreter|hospitalist|"
    r"attending|resident|fellow|intern|surgeon|scribe|analyst|aide|sitter|midwife|paramedic|physio|"
    r"physiotherapist|dietitian|counsell?or|navigator|colleague|CPN|HCA|CNA|social worker|case manager|doula|"
    r"hygienist|registrar|"
    rf"charge nurse|house sup|house supervisor))[ \t]+(?=[{_UP}])({_SEQ})"
)
# A role in brackets after a name: "Gallardo (house sup)", "Whitfield (IT security)".
_ROLE_AFTER = re.compile(
    r"[ \t]*\((?:[^()\n]{0,25}?\b)?(?i:sup|supervisor|charge|manager|IT|security|pharmacy|lab|"
    r"registration|billing|scheduling|front desk|admin|attending|resident|fellow|intern|hospitalist|"
    r"surgeon|nurse|RN|LPN|CNA|PT|OT|SLP|RT|MD|NP|PA|SW|pharmacist|therapist|tech|technician|"
    r"interpreter|chaplain|sitter|aide|coordinator|case manager|social work|counsell?or|doula|registrar|"
    r"PGY-?\d|hygienist)\b[^()\n]{0,20}\)"
)
# A capital there is no evidence of a name ("Reply (M. Ashworth, MD)").
_SENTENCE_START = re.compile(r"(?:^|[.!?:\n][ \t]*)$")
# The next name in a list: "daughters Isla (14) and Ailsa (11)", "Omar, Leila and Yusuf".
_NEXT_IN_LIST = re.compile(
    rf"(?:[ \t]*\([^()\n]{{0,12}}\))?(?:[ \t]*,)?[ \t]+(?:and|&|or)[ \t]+({_TOK}(?:{_H}{_TOK})?)|"
    rf"[ \t]*,[ \t]*({_TOK})(?=[ \t]*(?:,|and\b|&))"
)
_CREDENTIALS = (
    r"(?:MD|M\.D\.|DO|D\.O\.|RN|R\.N\.|NP|FNP|FNP-BC|FNP-C|ANP|AGNP|APRN|ARNP|PA-C|PA|PhD|Ph\.D\.|PharmD|"
    r"LPN|LVN|LCSW|LICSW|MSW|DPM|DDS|DMD|CNM|CRNA|RD|RDN|DPT|OTR|OTR/L|MBBS|MBChB|FRCP|FACP|FACS|MPH|MSN|"
    r"BSN|DNP|CNA|MA|EMT|EMT-P|RT|RRT|PsyD|LMFT|LPC|CCC-SLP|SLP|MS|NP-C|CNS|PHN|CCRP|CCRC|CCDS|MLS|CLS|"
    r"MLT|CMA|RPh|LMSW|CHW|CPhT|RPSGT|RDMS|RVT|CDE|CDCES|IBCLC|ATC|PT|OT|PTA|COTA|RDH|NREMT|AuD|Au\.D\.|OD|"
    r"O\.D\.|DC|EdD|DrPH|ScD|CCC-A|FAAA|CPN|HCA|LADC|LCADC|CADC|CGC|LMHC|LCPC|CPRS|CCM|MFT|CNP|BCBA|Esq\.?)"
)
# "Priya Raman, MD", "Okonkwo (PT)", "D. Okafor-Mensah, MLS(ASCP)"
_NAME_CRED = re.compile(rf"\b(?=[{_UP}])({_SEQ}),?{_H}+\(?{_CREDENTIALS}(?![\w\-])")
# Labels whose value is a person: the value needs no gazetteer support.
# Header fields whose value is a person ("Attending: Priya Raman"): only with a colon or dash, so
# that title-case prose ("Prompting Primary Care Providers") is not read as a field.
_FIELD_WORDS = (
    r"patient name|pt name|name|full name|caller|signed|attending(?: physician)?|resident|fellow|intern|"
    r"surgeon|assistant|assistant surgeon|anesthesia|anesthesiologist|anaesthetist|referring(?: physician|"
    r" provider| doctor)?|ordering(?: provider| physician)?|submitting physician|pathologist|radiologist|"
    r"pcp|gp|primary care(?: physician| provider| doctor)?|provider|physician|prescriber|cc|copy to|"
    r"copies to|emergency contact|nok|next of kin|guardian|caregiver|interpreter|witness|author|"
    r"consultant|therapist|identifying data|scribe|clinician|nurse|rn|mother|father|parents?|contact|from|"
    r"to|requested by|referred by|counsell?or|case manager|care manager|care coordinator|coordinator|navigator|"
    r"social worker|chaplain|pharmacist|dietitian|midwife|nurse practitioner|physician assistant|technologist|team|"
    r"phlebotomist|advocate|attorney|poa|health care proxy|proxy|surrogate|spouse|husband|wife|son|daughter|"
    r"re(?=:)"
)
# "Name: ...", "pt=\"Quennell, Ambrose\"" (logs), with the value on the same or the next line.
_FIELD_SEP = rf"{_H}*[:\-=]{_H}*[\"']?"
_FIELD_LABEL = re.compile(
    rf"(?im:(?:^|(?<=[\s(;,|])){_lead(_FIELD_WORDS)}(?:{_FIELD_WORDS})"
    rf"{_FIELD_SEP}(?:\n{_H}*)?)"
    rf"({_CAPS_LAST_FIRST}|{_LAST_FIRST}(?={_H}*(?:$|\n|{_H}{{2}}|\(|,|MRN|DOB))|{_SEQ})"
)
# "... by <name>" / "... with <name>": a person follows, colon or not.
_BY_WORDS = (
    r"electronically signed by|e-?signed by|signed by|dictated by|transcribed by|referred by|requested by|"
    r"reviewed by|seen by|seen with|discussed with|spoke with|spoke to|accompanied by|cared for by|ordered by|"
    r"copy to|followed by|examined by|evaluated by|performed by|under the care of|verified by|completed by|"
    r"interviewed by|reported by|witnessed by|obtained by|prepared by|entered by|approved by|authored by|"
    r"d/w|discussed w/|spoke w/|reviewed with|report given to|handed over to|audited by|"
    r"electronically signed|e-?signed|referred to|referral to|access by|accessed by|"
    # the person a visit is booked with: "Hygiene with Jade."
    r"(?:appointment|appt|session|visit|hygiene|therapy|follow-?up|f/u|booked in) with"
)
_BY_LABEL = re.compile(
    rf"(?i:\b{_lead(_BY_WORDS)}(?:{_BY_WORDS}){_H}*:?{_H}*)"
    rf"({_SEQ})"
)
# Labels that often precede other things ("Patient: Yes.", "Pt: denies pain"): the value needs support.
_WEAK_LABEL = re.compile(
    rf"(?im:(?:^|(?<=[\s(;,|]))(?=[PpCcRrMmSsIi])(?:patient|pt|client|resident|member|subscriber|insured){_FIELD_SEP})"
    rf"({_CAPS_LAST_FIRST}|{_LAST_FIRST}|{_SEQ})"
)
_RELATION = re.compile(
    rf"(?i:\b{_lead(_RELATIONS)}(?:{_RELATIONS})"
    rf"(?:[ \t]+(?:is|was|named|called))?[ \t]*[,:]?[ \t]*\(?[ \t]*)({_SEQ})"
)
_GREETING_WORDS = (
    r"hi|hello|hey|good (?:morning|afternoon|evening)|thanks|thank you|bye|goodbye|dear|sincerely|regards|"
    r"best|cheers|welcome|faithfully|truly|kind regards|warm regards|best wishes|many thanks|with thanks|"
    r"respectfully"
)
_GREETING = re.compile(
    rf"(?i:\b{_lead(_GREETING_WORDS)}(?:{_GREETING_WORDS})[ \t]*,?[ \t]*(?:\n[ \t]*)?)({_SEQ})"
)
_INTRO = re.compile(
    rf"(?i:\b(?=[AaCcGgIiKkMmNnTtYy])(?:I'm|I am|my name is|name's|this is|you must be|you're|are you|meet|"
    rf"call me|known as|goes by|named)[ \t]+)({_SEQ})"
)
# "Pt Ramírez, Teodoro - 74M", "Thackeray, Imogen - 34F": last-name-first before an age and sex.
_LAST_FIRST_AGE = re.compile(
    rf"(?m:(?:^|:{_H}*|\b(?i:pt|patient|resident|client|name)\.?{_H}+))({_LAST_FIRST}|{_CAPS_LAST_FIRST})"
    rf"(?={_H}*[\-–,(]?{_H}*\d{{1,3}}{_H}*(?:[MF]\b|y\b|yo\b|y/o|yrs?\b|years?\b|-year)"
    rf"|{_H}*[,(]?{_H}*(?:DOB|D\.O\.B|MRN|born)\b)"
)
# A cell of a log or table holding "Last, First" alone (an access log's user): "| Morrow, Jessica (emp E40213) |".
_CELL_LAST_FIRST = re.compile(
    rf"(?m:(?<=\|)){_H}*({_LAST_FIRST}|{_CAPS_LAST_FIRST})(?={_H}*(?:\([^()\n]{{0,30}}\))?{_H}*(?:\||$))"
)
# A name with its nickname in brackets after it: 'Olufemi Adebayo-Williams ("Femi")'.
_NAME_NICK_BRACKETS = re.compile(rf"(?=[{_UP}])({_SEQ})(?={_H}*\([\"“][{_UP}][{_LO}]+[\"”]\))")
# The display name before an e-mail address: "Rhiannon Pugh <rpugh77@mail.example>".
_NAME_BEFORE_EMAIL = re.compile(rf"(?=[{_UP}])({_SEQ})(?={_H}*<[^<>\s@]+@)")
# "Pt Avery Nakamura-Blake (they/them), 27": a patient named after the word, no colon.
_PT_NAME = re.compile(rf"\b(?:Pt|Patient|Resident|Client)\.?{_H}+({_SEQ})")
# A credential written before the name: "night RN Miles", "day RN Faith.", "LPN Okafor".
_CRED_BEFORE = re.compile(rf"(?<![\w/])(?:RN|LPN|LVN|NP|CNA|PCT|APRN|CRNA|RRT|SLP|LCSW|HCA|CPN)[ \t]+({_SEQ})")
# "call Grace at 269-555-0191", "page Hope on 4471": a person to be reached.
_CALL_NAME = re.compile(
    rf"(?i:\b(?:call|text|page|contact|ask for|reach))[ \t]+({_TOK}(?:{_H}{_TOK})?)"
    r"(?=[ \t]+(?:at|on)[ \t]+(?:\+|\(?\d|ext|x\d))"
)
# "access by M. Kowalski", "signed O. Pennington": an initial and a known surname.
_INITIAL_SURNAME = re.compile(
    rf"(?<![\w.])((?:[{_UP}]\.[ \t]?){{1,2}}[{_UP}][{_LO}]+(?:[\-'’][{_UP}][{_LO}]+)?)(?![\w\-])"
)
# "Mei-Ling Chou is a 29 y/o", "Kwame Boateng, a 45-year-old"
_AGE_PHRASE = re.compile(
    rf"(?=[{_UP}])({_SEQ})(?=(?:[ \t]+(?:is|was)[ \t]+an?|,[ \t]+an?)[ \t]+(?:\d{{1,3}}|[a-z]+(?:-[a-z]+)?)"
    rf"[ \t\-]*(?:years?|yrs?|y/?o|yo|month|week|day)\b)"
)
_CAP_RUN = re.compile(rf"(?<![\w\-])[{_UP}][\w'.\-]*(?:{_H}+[{_UP}][\w'.\-]*)*")
_WORD_IN_RUN = re.compile(r"\S+")
# Eponymous scales and rules are not places: Glasgow Coma Scale, Ottawa ankle rules, New York Heart
# Association class, Pittsburgh Sleep Quality Index.
_CITY_INSTRUMENT = re.compile(
    rf"(?:{_H}+[A-Z][\w-]*){{0,3}}{_H}+(?i:coma|scales?|score|rules?|criteria|classification|index|"
    rf"association|examination|inventory|test|database|grades?|clinic foundation|outcome|depression|anxiety|"
    rf"rating|agitation|protocol|syndrome|scientific|ankle|knee|equation|formula|grading|staging|system|"
    rf"questionnaire|method|technique|type|procedure|operation|library|register|study|neuroma|disease|sign|"
    rf"repair|shunt|catheter|maneuver|cancer)\b"
)
_SAINT_BEFORE = re.compile(r"\b(?:St\.?|Saint|San|Santa|Mount|Mt\.?|Fort|Ft\.?)[ \t]$")
_NEXT_TOK = re.compile(rf"{_H}+({_TOK})")
_CAP_WORD = re.compile(rf"(?<![\w'’\-])[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?(?:[\-'’][{_UP}]?[{_LO}]+){{0,3}}(?![\w\-])")


def _common(tok: str, strict: bool = True) -> bool:
    """A stop word, clinical word or (strict only) an eponym: "Dr. Murphy" is a name, "Murphy's sign" not."""
    t = tok.lower().rstrip(".,").replace("’", "'")
    t = t.removesuffix("'s") if t.endswith("'s") else t.removesuffix("'")
    if t in _NOT_NAMES:
        return strict or t not in _EPONYMS
    return False


@lru_cache(maxsize=1)
def _lexicon() -> frozenset[str]:
    text = _read_data("words.txt")
    return frozenset(ln for ln in text.splitlines() if ln and not ln.startswith("#"))


def _english(tok: str) -> bool:
    """An ordinary lowercase word (rungs/curation/gazetteers/words.txt), stop words and clinical vocabulary included."""
    t = tok.lower().rstrip(".,").replace("’", "'")
    t = t.removesuffix("'s")
    return t in _lexicon() or t in _NOT_NAMES


def _plausible(seq: str, strict: bool = True, words_ok: bool = False) -> bool:
    """Could this capitalised sequence after a cue be a name? Not when its first word is a stop word,
    nor when every word is an ordinary word and none is a known name ("Health Computing System").
    words_ok: after an honorific a name that is also a word will do ("Dr. Hope")."""
    toks = [t for t in re.split(r"[\s,]+", seq) if t and not _is_initial(t)]
    if not toks or _common(toks[0], strict):
        return False
    if all(_english(t) for t in toks):
        known = _name_like if words_ok else (lambda t: any(_known(t)))
        return any(known(t) or not strict and t.lower() in _EPONYMS for t in toks if not _common(t, strict))
    return True


def _is_initial(tok: str) -> bool:
    return len(tok) == 2 and tok[1] == "." and tok[0].isupper()


def _known(tok: str) -> tuple[bool, bool]:
    """(a known given name, a known surname). Accented letters count ("Māori" is not "mori"); the
    gazetteer's hyphenated names ("amy-lee") match as written, other names without their hyphens."""
    first, last = _names()
    t = tok.lower().strip(".,;:()\"'’").replace("’", "'").removesuffix("'s")
    forms = (t, re.sub(r"[\W\d_]", "", t), _unaccented(t))
    return any(f in first for f in forms), any(f in last for f in forms)


_VIETNAMESE = re.compile(f"[{_VI_UP}{_VI_LO}đĐ]")


def _unaccented(tok: str) -> str:
    """Vietnamese names are listed without their tone marks only ("Nguyễn" as "nguyen"): look their
    bare form up. Other accented names are listed as written, and folding them would read words of
    other languages as names (Māori "tēnā" is not "Tena")."""
    if not _VIETNAMESE.search(tok):
        return tok
    bare = unicodedata.normalize("NFKD", tok.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in bare if not unicodedata.combining(c))


def _tokens(text: str, s: int, e: int) -> list[tuple[int, int, str]]:
    return [(m.start() + s, m.end() + s, m.group()) for m in re.finditer(r"[^\s,]+(?:,(?=\s*(?:Jr|Sr)))?", text[s:e])]


def _trim(text: str, s: int, e: int, strict: bool = True) -> tuple[int, int] | None:
    """Drop leading/trailing words that are not names ('Smith Today' -> 'Smith')."""
    toks = _tokens(text, s, e)
    while toks and (_common(toks[0][2], strict) or _is_initial(toks[0][2]) and len(toks) == 1):
        toks.pop(0)
    # a last initial stays with the name ("TREVASKIS, PRUDENCE A"): "a" is a stop word only alone
    while toks and _common(toks[-1][2], strict) and not (len(toks) > 1 and re.fullmatch(r"[A-Z]\.?", toks[-1][2])):
        toks.pop()
    if not toks:
        return None
    return toks[0][0], toks[-1][1]


def _supported(seq: str) -> bool:
    """Does a candidate name have gazetteer support (a known first name, or first + known surname)?"""
    toks = [t for t in re.split(r"[\s,]+", seq) if t and not _is_initial(t)]
    if not toks or any(_common(t) for t in toks):
        return False
    for i, t in enumerate(toks):
        f, la = _known(t)
        if f and t.lower() not in AMBIGUOUS:
            return True
        if la and i > 0:
            return True
    return False


_Add = Callable[..., None]


def _name_spans(text: str) -> list[PhiSpan]:
    found: list[tuple[int, int]] = []

    def add(s: int, e: int, strict: bool = True, trim: bool = True) -> None:
        t = _trim(text, s, e, strict) if trim else (s, e)
        if t and not _organisation(text, *t):
            found.append(_grow(text, *t))
            found.extend(_nickname_after(text, found[-1][1]))

    _label_names(text, add)
    _context_names(text, add)
    _gazetteer_names(text, add)
    found += _lower_case_names(text)
    found += _listed_with(text, found)
    found = [(s, e) for s, e in found if not _eponym(text, e)]
    spans = [sp for sp in _propagate(text, found) if not _eponym(text, sp.end)]
    return _grow_lower_case(text, spans)


def _eponym(text: str, end: int) -> bool:
    """Is the name ending at end an eponym ("Paget's disease", "Parker's mobility score")?"""
    if text[end - 2 : end] in ("'s", "’s"):
        end -= 2
    return _EPONYM_AFTER.match(text, end) is not None


def _label_names(text: str, add: _Add) -> None:
    """Names after a title, a field label, a "signed by" phrase or with a credential."""
    for m in _TITLE.finditer(text):
        honorific = text[m.start() : m.start(1)].strip().rstrip(".").lower() in _HONORIFICS
        if _plausible(m.group(1), strict=False, words_ok=honorific) or _is_initial(m.group(1).split()[0]):
            add(m.start(1), m.end(1), strict=False)
    for m in _NAME_CRED.finditer(text):
        if _plausible(m.group(1)) and not _credential_is_a_prefix(text, m.end()) and not _job_word(m.group(1)):
            add(m.start(1), m.end(1))
    for pat in (_FIELD_LABEL, _BY_LABEL, _ROLE_BEFORE, _LAST_FIRST_AGE, _CELL_LAST_FIRST, _NAME_NICK_BRACKETS):
        for m in pat.finditer(text):
            if _plausible(m.group(1)):
                add(m.start(1), m.end(1))
    # an e-mail's display name is a person even when a word of it names a sign ("Pugh")
    for m in _NAME_BEFORE_EMAIL.finditer(text):
        if _plausible(m.group(1), strict=False):
            add(m.start(1), m.end(1), strict=False)
    for m in _WEAK_LABEL.finditer(text):
        seq = m.group(1)
        after = text[m.end(1) : m.end(1) + 6]
        two_plus = len([t for t in seq.split() if not _is_initial(t)]) >= 2 or "," in seq
        header_like = two_plus and re.match(r"[ \t]*(?:$|\n|[ \t]{2}|,|\(|\"|'|MRN|DOB)", after) is not None
        if (header_like and _plausible(seq)) or _supported(seq):
            add(m.start(1), m.end(1))
    for m in _PT_NAME.finditer(text):
        seq = m.group(1)
        if (len([t for t in seq.split() if not _is_initial(t)]) >= 2 and _plausible(seq)) or _supported(seq):
            add(m.start(1), m.end(1))
    for m in _CRED_BEFORE.finditer(text):
        first = m.group(1).split()[0]
        if _plausible(m.group(1)) or _name_like(first) and _PERSON_AFTER.match(text, m.start(1) + len(first)):
            add(m.start(1), m.end(1))
    for m in _CAP_WORD.finditer(text):
        if (_ROLE_AFTER.match(text, m.end()) and not _common(m.group()) and not _english(m.group())
                and not _SENTENCE_START.search(text, max(0, m.start() - 4), m.start())):
            add(m.start(), m.end())


def _context_names(text: str, add: _Add) -> None:
    """Names after a relative, a greeting or an introduction, before an age, after a word that takes
    a person, or to be called at a number."""
    for pat in (_RELATION, _GREETING, _INTRO):
        for m in pat.finditer(text):
            toks = m.group(1).split()
            if not toks or _is_initial(toks[0]):
                continue
            # A capital right after a lower-case "wife" or "son" is a name even when it is also a
            # word ("son Per", "wife Pilar", "daughter-in-law June."); the stop and clinical words
            # still are not.
            mid_sentence = pat is _RELATION and m.group(0)[0].islower() and not _common_here(text, m.start(1), toks[0])
            if mid_sentence and _common(toks[0]):  # a name that is also a month: "daughter-in-law June."
                add(m.start(1), m.start(1) + len(toks[0]), trim=False)
            elif mid_sentence or _plausible(m.group(1)):
                add(m.start(1), m.end(1))
    for m in _AGE_PHRASE.finditer(text):
        seq = m.group(1)
        toks = seq.split()
        if (len(toks) >= 2 and _plausible(seq)) or _supported(seq):
            add(m.start(1), m.end(1))
    for m in _SURNAME_CUE.finditer(text):
        if _lone_surname(text, m):
            add(m.start(2), m.end(2))
    for m in _CALL_NAME.finditer(text):
        first = m.group(1).split()[0]
        if not _common(first) and (_name_like(first) or not _english(first)):
            add(m.start(1), m.end(1))
    for m in _INITIAL_SURNAME.finditer(text):
        surname = m.group(1).split(".")[-1].strip()
        if any(_known(part)[1] and not _english(part) and not _common(part) for part in re.split(r"[\-'’]", surname)):
            add(m.start(1), m.end(1))


def _gazetteer_names(text: str, add: _Add) -> None:
    # A known, unambiguous first name, with the capitalised words after it.
    for m in _CAP_WORD.finditer(text):
        tok = m.group()
        if _common(tok) or tok.lower() in AMBIGUOUS or not _known(tok)[0] or _english(tok):
            continue
        if _SAINT_BEFORE.search(text, max(0, m.start() - 8), m.start()):
            continue
        s, e = m.start(), m.end()
        n = _NEXT_TOK.match(text, e)
        if n and not _common(n.group(1)) and (not _english(n.group(1)) or _known(n.group(1))[1]):
            e = n.end()
        elif _is_city(tok):  # "Houston, Texas": the place rules take it
            continue
        add(s, e)
    # First name (even ambiguous) followed by a known surname: "Mark Smith", "Grace Patel"; not a
    # two-word place ("Los Angeles").
    for m in re.finditer(rf"({_TOK}){_H}+({_TOK})", text):
        a, b = m.group(1), m.group(2)
        if (_known(a)[0] and _known(b)[1] and not _common(a) and not _common(b) and b.lower() not in AMBIGUOUS
                and not _is_city(m.group())):
            add(m.start(), m.end())


def _name_like(tok: str) -> bool:
    """A known given name or surname, also one that is a word ("Grace", "Miles")."""
    return any(_known(tok)) or tok.lower() in AMBIGUOUS


def _common_here(text: str, start: int, tok: str) -> bool:
    """_common, except for a name that is also a month when no day follows it ("daughter June.", not
    "son June 3")."""
    return _common(tok) and not (tok.lower() in AMBIGUOUS and not _DIGIT_NEXT.match(text, start + len(tok)))


_DIGIT_NEXT = re.compile(r"[ \t]*\d")
# A credential followed by a label colon or by a name is a prefix: "Triage RN: Lorelei",
# "Supervising RN Araceli Quintanilla-Reyes" - the word before it is no name.
_AFTER_CREDENTIAL = re.compile(rf"{_H}*:|[ \t]({_TOK})")


def _job_word(seq: str) -> bool:
    """"Supervising RN", "Covering NP": one word in -ing before a credential says what the person
    does; a surname in -ing is a known one ("Manning RN")."""
    return " " not in seq.strip() and seq.strip().endswith("ing") and not any(_known(seq.strip()))


def _credential_is_a_prefix(text: str, end: int) -> bool:
    m = _AFTER_CREDENTIAL.match(text, end)
    if not m:
        return False
    return m.group(1) is None or not _common(m.group(1)) and (any(_known(m.group(1))) or not _english(m.group(1)))


# A candidate that names an organisation: "From: Desert Bloom Family Practice", "Client: Lancaster
# Surgical Associates".
_ORG_WORDS = frozenset(
    _words(
        """
        practice clinic clinics associates group pharmacy surgery centre center hospital health healthcare
        services partners inc llc ltd foundation trust institute university college school laboratories
        laboratory labs lab imaging radiology therapy care home hospice agency church department unit ward
        team network system systems solutions medical dental pediatrics surgical specialists physicians
        dept dept. management office desk bureau division
        """
    )
)


_ORG_AFTER = re.compile(r"(?:['’]s)?((?:[ \t]+[A-Z][\w'’\-]*){1,3})")


def part_of_an_organisation(text: str, s: int, e: int) -> bool:
    """Whether text[s:e] begins the name of a hospital, practice or firm: "Riverbend" in "Riverbend Medical
    Center", "Kenyatta" in "Kenyatta National Hospital" (a name in an organisation's name is no patient's)."""
    m = _ORG_AFTER.match(text, e)
    return bool(m) and any(w.lower().strip(".,'’") in _ORG_WORDS for w in m.group(1).split())


def _organisation(text: str, s: int, e: int) -> bool:
    toks = text[s:e].split()
    return len(toks) > 1 and any(t.lower().strip(".,") in _ORG_WORDS for t in toks[1:])


# Around a name: initials before it ("O. Pennington"), a suffix after it ("Fairweather III"), and a
# nickname in quotes followed by the surname (Marcus "Moe" Abernathy-Cole).
_INITIALS_BEFORE = re.compile(rf"(?<![\w.'’\-])(?:[{_UP}]\.[ \t]?){{1,2}}[ \t]*$")
_SUFFIX_AFTER = re.compile(rf"(?:,?{_H}+(?:Jr|Sr)\.?|{_H}+(?:III|II|IV))(?!\w)")
_NICK_THEN_SURNAME = re.compile(rf"{_NICK}(?:{_H}({_TOK}(?:{_H}{_TOK})?))?")
# "Young, Harold (Hal)": a nickname in brackets after the name is a name of its own.
_NICK_IN_BRACKETS = re.compile(rf"[ \t]*\([\"“]?([{_UP}][{_LO}]+)[\"”]?\)")


def _grow(text: str, s: int, e: int) -> tuple[int, int]:
    m = _INITIALS_BEFORE.search(text, max(0, s - 8), s)
    if m:
        s = m.start()
    m = _NICK_THEN_SURNAME.match(text, e)
    if m and not (m.group(1) and _common(m.group(1).split()[0])):
        e = m.end()
    m = _SUFFIX_AFTER.match(text, e)
    return s, m.end() if m else e


def _nickname_after(text: str, end: int) -> list[tuple[int, int]]:
    m = _NICK_IN_BRACKETS.match(text, end)
    return [m.span(1)] if m and not _common(m.group(1)) and not _english(m.group(1)) else []


def _listed_with(text: str, found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Names listed after a found name, when they are not ordinary words ("Isla (14) and Ailsa")."""
    out: list[tuple[int, int]] = []
    for _, e in found:
        m = _NEXT_IN_LIST.match(text, e)
        if not m:
            continue
        g = 1 if m.group(1) else 2
        seq = m.group(g)
        if _is_city(seq) or re.fullmatch(_STATE_NAMES, seq):  # "Cheyenne, Wyoming", "Kingston and Montego Bay"
            continue
        if _plausible(seq) and not any(_english(t) and not _known(t)[0] for t in seq.split()):
            out.append(m.span(g))
    return out


# Transcripts and portal messages are often all lower case: "hi maria", "thanks dr. patel", "my wife
# bisi", "this is keisha". There a name is only told by its cue, and by not being an ordinary word.
_LOWER_TOK = rf"[{_LO}][{_LO}'’\-]*[{_LO}]"
_LOWER_CUE = re.compile(
    rf"(?:\b(?P<title>(?:dr|mr|mrs|ms|mx)\.?|{_TITLE_WORDS})|\b(?P<relation>{_RELATIONS})|\b(?P<intro>my name is|"
    rf"name's|you must be|call me)|\b(?P<greeting>hi|hello|hey|thanks|thank you|bye|goodbye|okay|ok|morning|"
    rf"i'm|i am|this is|meet|it's)[ \t]*,?)[ \t]+(?={_LOWER_TOK})"
)
# After a relative, a name is followed by what a person does or by punctuation: "my wife bisi says",
# "brother tunde is on", "sister renee,", "his grandma pearl usually brings him", "her son quang took
# her home" - not "my mom dealt with", "my wife freaks out".
_AFTER_RELATIVE_NAME = re.compile(
    r"[ \t]*(?:$|[,.;:?!)]|(?:and|is|was|who|says|said|has|had|will|can|could|would|should|to|at|on|in|lives|"
    r"called|calls|thinks|usually|always|never|also|just|brings|brought|came|comes|took|takes|wants|wanted|"
    r"told|tells|asked|asks|helps|helped|drives|drove|picks|picked|works|does|did|gets|got|knows|'s|’s)\b)",
    re.MULTILINE,
)
_LOWER_NAME = re.compile(rf"({_LOWER_TOK})(?:[ \t]+({_LOWER_TOK}))?")
# A lower-case speaker label that is a name ("renee: yes, please call him").
_LOWER_SPEAKER = re.compile(rf"({_LOWER_TOK}):[ \t]")
_LOWER_PAIR = re.compile(rf"(?<![\w\-])({_LOWER_TOK})[ \t]+({_LOWER_TOK})(?![\w\-])")


def _lower_case_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of the lines written without capitalised words (codes and acronyms such as "ECG",
    "HA20-551873" may be there). In text that uses capitals, a lower-case word after "wife" or "Dr."
    is a verb or a noun ("my mom dealt with", "nurse staffing"), not a name."""
    out: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        if _CAPITALISED_WORD.search(line) is None and len(line) > 12:
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


_CAPITALISED_WORD = re.compile(f"[{_UP}][{_LO}]")


def _lower_case_names(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for s, e in _lower_case_lines(text):
        found += _lower_case_names_in(text, s, e)
    return found + _answered_names(text)


# The answer to "what's your name?" in a transcript: the words at the start of the next turn that are
# not ordinary words ("pt: nkechi. nkechi obiora-dike", "Caller: Bronwyn Tregaskis-Pyle, her daughter").
_NAME_QUESTION = re.compile(
    r"(?i)\b(?:what(?:'s|’s| is) your (?:full )?name|(?:and )?your name\?|and you are\?|who am i speaking (?:to|with)|"
    r"(?:can|could|may) i (?:get|have|take) your name|name,? please)"
)
_TURN_START = re.compile(r"[ \t]*(?:[\w .'’\-]{1,20}:[ \t]*)?(?:(?:it's|it is|i'm|i am|my name is|this is|yes|yeah|um|uh)[ \t,]+)*")
_ANSWER_WORD = re.compile(rf"({_TOK}|{_LOWER_TOK})[ \t.,]*")


def _answered_names(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for q in _NAME_QUESTION.finditer(text):
        pos = text.find("\n", q.end()) + 1
        if pos <= 0:
            continue
        pos = _TURN_START.match(text, pos).end()
        for _ in range(4):
            m = _ANSWER_WORD.match(text, pos)
            if not m or _ordinary(m.group(1)) or _common(m.group(1)):
                break
            found.append(m.span(1))
            pos = m.end()
    return found


# A known given name in a lower-case line, no word and of four letters at least: "kasey will take
# you", "isn't it? gareth?", "can josie at the front desk book him in?"
_LOWER_WORD = re.compile(rf"(?<![\w'’\-]){_LOWER_TOK}(?![\w'’\-])")


def _lower_given_names(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [m.span() for m in _LOWER_WORD.finditer(text, start, end)
            if len(m.group()) >= 4 and _known(m.group())[0] and not _ordinary(m.group())
            and not _LOWER_SAINT_BEFORE.search(text, max(0, m.start() - 8), m.start())]


_LOWER_SAINT_BEFORE = re.compile(r"(?i)\b(?:st\.?|saint|san|santa|mount|mt\.?|fort|ft\.?)[ \t]$")


# "i'm linh, the interpreter": a speaker naming herself with her role.
_SELF_ROLE = re.compile(
    rf"\b(?:i'm|i am|this is|it's|me)[ \t]+({_LOWER_TOK})(?=[ \t]*,[ \t]*(?:the|your|a)[ \t]+(?:[a-z]+[ \t]+)?"
    r"(?:interpreter|translator|nurse|doctor|physician|pharmacist|aide|tech|therapist|social worker|chaplain|"
    r"daughter|son|wife|husband|caregiver|carer|resident|student|midwife|paramedic|medic|scribe|receptionist|"
    r"coordinator|neighbou?r|friend)\b)"
)


def _self_introduced(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [m.span(1) for m in _SELF_ROLE.finditer(text, start, end) if not _ordinary(m.group(1))]


def _lower_case_names_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    found = [span for cue in _LOWER_CUE.finditer(text, start, end) for span in _after_lower_cue(text, cue)]
    m = _LOWER_SPEAKER.match(text, start, end)
    if m and not _ordinary(m.group(1)) and _known(m.group(1))[0]:
        found.append(m.span(1))
    found += _lower_given_names(text, start, end) + _self_introduced(text, start, end)
    # a known first name and a known surname, neither a word: "walter kaminski"
    for m in _LOWER_PAIR.finditer(text, start, end):
        a, b = m.group(1), m.group(2)
        if _known(a)[0] and not _ordinary(a) and not _ordinary(b) and (_known(b)[1] or not any(_known(b))) and len(b) > 3:
            found.append(m.span())
    return found


def _after_lower_cue(text: str, cue: re.Match) -> list[tuple[int, int]]:
    """The name after a lower-case cue, if any."""
    m = _LOWER_NAME.match(text, cue.end())
    first = m.group(1)
    if len(first) < 3:
        return []
    if first in AMBIGUOUS:
        # "grace lindahl": a first name that is also a word, made a name by the surname after it;
        # after a title or a relative also by a person's verb or the clause's end ("miss june, wants",
        # "the nurse rose said", "his grandma pearl usually brings him").
        if _known(first)[0] and m.group(2) and not _ordinary(m.group(2)):
            return [m.span()]
        if (cue.group("title") or cue.group("relation")) and _AFTER_RELATIVE_NAME.match(text, m.end(1)):
            return [m.span(1)]
        return []
    if _ordinary(first):
        return []
    # After a greeting or "this is", a known name is needed; after a title, "my name is" or a
    # relative any non-word will do ("dr. nkemelu", "my wife bisi").
    if cue.group("greeting") and not any(_known(first)):
        return []
    if cue.group("relation") and not any(_known(first)) and not _AFTER_RELATIVE_NAME.match(text, m.end(1)):
        return []
    second = m.group(2)
    return [(m.start(1), m.end(2) if second and not _ordinary(second) and any(_known(second)) else m.end(1))]


def _grow_lower_case(text: str, spans: list[PhiSpan]) -> list[PhiSpan]:
    """In lower-case lines, a name takes the words next to it that are no ordinary words: "thi lan
    phan" from "lan phan"."""
    lines = _lower_case_lines(text)
    out: list[PhiSpan] = []
    for sp in spans:
        if any(s <= sp.start and sp.end <= e for s, e in lines):
            start, end = sp.start, sp.end
            while (m := _LOWER_WORD_BEFORE.search(text, max(0, start - 30), start)) and not _ordinary(m.group(1)):
                start = m.start(1)
            while (m := _LOWER_WORD_AFTER.match(text, end)) and not _ordinary(m.group(1)):
                end = m.end(1)
            sp = PhiSpan(start, end, sp.kind)
        out.append(sp)
    return out


_LOWER_WORD_BEFORE = re.compile(rf"(?<![\w'’\-])({_LOWER_TOK})[ \t]+$")
_LOWER_WORD_AFTER = re.compile(rf"[ \t]+({_LOWER_TOK})(?![\w'’\-])")


def _ordinary(tok: str) -> bool:
    """A word that cannot be a lower-case name: common, clinical, English, a contraction ("i'm") or a
    name that is also a word."""
    t = tok.lower().replace("’", "'")
    return (_common(t) or _english(t) or t in AMBIGUOUS or t in _PARTICLES
            or re.search(r"'(?:m|ll|ve|re|d|t)$", t) is not None)


# A lone surname after a word that introduces a person: "ambulated with Okonkwo", "d/w Haddad",
# "pulled by Whitfield". A known surname will do after any of them; an unknown word only after those
# that nearly always take a person ("per", "d/w", "paged").
_SURNAME_CUE = re.compile(
    rf"\b(with|w/|per|by|and|d/w|paged|notified|called|asked|told|informed|updated)[ \t]+"
    rf"([{_UP}][{_LO}]+(?:[\-'’][{_UP}][{_LO}]+)?)(?![\w\-'’])"
)
_PERSON_ONLY_CUES = frozenset({"per", "d/w", "w/", "paged", "notified", "informed", "updated"})


# What follows a person named alone: the end of the clause, a verb or a function word ("with
# Okonkwo.", "d/w Haddad who agrees", "Lee called"); not a noun, which makes the word a modifier
# ("and Doppler signal", "with Rasch analysis", "by Candida spp").
_PERSON_AFTER = re.compile(
    r"[ \t]*(?:$|[.,;:!?)\]\"'”’(/]|(?:is|was|has|had|and|or|to|at|on|in|for|from|re|regarding|about|who|will|"
    r"would|can|could|should|did|does|said|says|aware|today|yesterday|tonight|this|that|as|of|via|by|with|the|"
    r"a|an|her|his|their|our|my|also|again|now|already|if|when|while|after|before|[a-z]+ed|"
    r"(?:state|report|note|feel|think|agree|recommend|want|ask|call|say)s)\b)",
    re.MULTILINE,
)


def _lone_surname(text: str, m: re.Match) -> bool:
    tok = m.group(2)
    if _common(tok) or _english(tok) or tok.lower() in AMBIGUOUS or _is_city(tok):
        return False
    # "with Shepherd Pratt", "and Edwards Perimount": a company or a product, not a person
    if _NEXT_TOK.match(text, m.end()) and not _known(_NEXT_TOK.match(text, m.end()).group(1))[1]:
        return False
    if not _PERSON_AFTER.match(text, m.end()):
        return False
    return _known(tok)[1] or m.group(1) in _PERSON_ONLY_CUES


# A name followed by one of these words is an eponym, not a person: "Paget's disease", "Wolfram
# syndrome", "Treacher Collins syndrome", "Cohen kappa".
_EPONYM_AFTER = re.compile(
    # after a possessive one word of any case may come between: "Parker's mobility score"
    r"(?:['’]s?[ \-](?:[A-Za-z]+[ \-])?|[ \-](?:[A-Z][a-z]+[ \-])?)(?i:syndromes?|diseases?|disorders?|signs?|tests?|sequence|"
    r"anomaly|dystrophy|myopathy|atrophy|ataxia|palsy|phenomenon|reflex|maneuver|manoeuvre|procedure|"
    r"operation|classification|criteria|score|scale|index|law|equation|formula|type|lesions?|tumou?rs?|"
    r"fracture|nodes?|cells?|bod(?:y|ies)|glands?|ducts?|canal|deformit(?:y|ies)|contractures?|neuromas?|ulcers?|hernias?|"
    r"catheter|shunt|stent|method|technique|approach|incision|repair|kappa|coefficient|correlation|"
    r"distribution|curve|plot|models?|effect|hypothesis|principle|rule|ratio|institute|angle|reaction|diet|"
    r"regression|proportional|hazards?|exact|coefficients?|correlations?|inventory|questionnaire|scores|scales|"
    r"valves?|(?:bio)?prosthes[ie]s|fractures|antibod(?:y|ies)|antigens?|chain|"
    r"foundation|center|centre|hospital|university|college|school|clinic|library|database|study|trial|"
    r"o?esophagus|epiphys[ie]s|spots?|grades?|grading|stag(?:e|ing))\b"
    # a named score with its value: "Berg Balance 38/56"
    r"|[ \-][A-Z][a-z]+[ \t]\d{1,3}/\d{1,3}\b"
)


def _propagate(text: str, found: list[tuple[int, int]]) -> list[PhiSpan]:
    """Every other occurrence of a detected name word is a name too, with the name word before it. A
    second pass takes the words joined on in the first ("femi" from "femi oyelowo", found by "oyelowo")."""
    spans = [PhiSpan(s, e, "NAME") for s, e in found]
    words = _name_words(text, found)
    done: set[str] = set()
    for _ in range(2):
        new = words - done
        if not new:
            break
        done |= new
        matched = _occurrences(text, new)
        spans += matched
        words |= _name_words(text, [(sp.start, sp.end) for sp in matched])
    return spans


def _name_words(text: str, found: list[tuple[int, int]]) -> set[str]:
    """The words of found names worth looking for elsewhere: not stop words, and not ordinary words
    unless they are names too ("Grace" yes, "Surgical" from a misread "Lancaster Surgical" no)."""
    words: set[str] = set()
    for s, e in found:
        for t in re.findall(rf"[{_UP}{_LO}][{_UP}{_LO}'’\-]+", text[s:e]):
            t = re.sub(r"['’]s$", "", t)
            if len(t) >= 3 and not _common(t) and t not in _PARTICLES and (not _english(t) or _name_like(t)):
                words.add(t)
    return words


def _occurrences(text: str, words: set[str]) -> list[PhiSpan]:
    # Case variants: "Brandt", "BRANDT", and "brandt" unless that is also an ordinary word.
    variants = {v for w in words for v in (w, w.upper(), w[0].upper() + w[1:])}
    variants |= {w.lower() for w in words if not _english(w)}
    alt = "|".join(re.escape(w) for w in sorted(variants, key=len, reverse=True))
    spans: list[PhiSpan] = []
    # not inside an e-mail address or a domain ("kwame.bmensah@..." is the EMAIL's)
    for m in re.finditer(rf"(?<![\w\-.@])(?:({_TOK}|{_LOWER_TOK}){_H}+)?({alt})(?![\w\-]|[.@][\w])", text):
        before = m.group(1)
        joins = before and (
            not before[0].islower() and not _common(before) and (before.lower() not in AMBIGUOUS or _known(before)[0])
            or before[0].islower() and m.group(2)[0].islower() and not _ordinary(before)
        )
        spans.append(PhiSpan(m.start() if joins else m.start(2), m.end(), "NAME"))
    return spans


# ---------------------------------------------------------------------------------------------


def _group(pattern: re.Pattern, text: str, kind: str, group: int = 0) -> list[PhiSpan]:
    return [PhiSpan(m.start(group), m.end(group), kind) for m in pattern.finditer(text) if m.group(group)]


def _group_at(pattern: re.Pattern, text: str, pos: int, kind: str) -> list[PhiSpan]:
    """The pattern's first group as a span, when the pattern matches right at pos."""
    m = pattern.match(text, pos)
    return [PhiSpan(m.start(1), m.end(1), kind)] if m else []


# A date of birth read out as numbers after its cue: "oh-four, twelve, eighty-nine", "ten, two, nineteen ninety",
# "the twelfth of december ninety-four" (a bare "twelve" elsewhere is a count, so only after the cue).
_SPOKEN_NUMBER = (rf"(?:{_ORD_WORD}|{_YEAR_WORDS}|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[ \-]{_UNITS})?|"
                  rf"ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|oh[ \-]{_UNITS}|{_UNITS})")
_SPOKEN_DATE_TOKEN = rf"(?:{_SPOKEN_NUMBER}|{_MONTHS_ANY_CASE}|may)"
_SPOKEN_DOB = re.compile(
    rf"(?i:\b(?:date of birth|birth ?date|d\.?o\.?b\.?|birthday|born(?:[ \t]+on)?)\b{_ANSWER})"
    rf"(?:the[ \t]+)?((?<![\w\-]){_SPOKEN_DATE_TOKEN}(?:(?:,?[ \t]+|-)(?:of[ \t]+(?:the[ \t]+)?)?{_SPOKEN_DATE_TOKEN}){{1,5}})\b(?![ \t]*(?:years?|months?|weeks?|days?|kg|pounds?)\b)"
)


def _dates(text: str, digits: bool) -> list[PhiSpan]:
    out = _group(_SPOKEN_DOB, text, "DATE", 1)
    if _MONTH_WORD.search(text):
        out += _group(_MONTH_ALONE, text, "DATE", 1)
        out += _group(_WORD_DATE, text, "DATE")
    if digits:
        out += _group(_LOWER_MONTH_DAY, text, "DATE")
    out += _group(_HOLIDAY, text, "DATE") + _group(_HOLIDAY_CUED, text, "DATE", 1)
    out += _group(_ORDINAL_WORD_DAY, text, "DATE", 1)
    out += _days_of_month(text)
    if digits:
        out += _digit_dates(text)
    return [_with_article(text, sp) for sp in out]


def _days_of_month(text: str) -> list[PhiSpan]:
    """"the 12th", "the 18th through the 20th", "the 3rd and 4th of July": see _THE_ORDINAL."""
    out: list[PhiSpan] = []
    for m in _THE_ORDINAL.finditer(text):
        if not _ANY_DIGIT.match(m.group(1)) and _SMALL_ORDINAL_WORD.fullmatch(m.group(1)):
            continue
        values, pos = [m.span(1)], m.end()
        while chained := _ORDINAL_CHAIN.match(text, pos):
            values.append(chained.span(1))
            pos = chained.end()
        if _DAY_FOLLOWS.match(text, pos) and not _MORE_ORDINALS.match(text, pos):
            out += [PhiSpan(s, e, "DATE") for s, e in values]
    return out


def _counted(text: str, pos: int) -> bool:
    """Does a counted noun follow the ordinal at pos (after any "and 5th", ", 6th")?"""
    while chained := _ORDINAL_CHAIN.match(text, pos):
        pos = chained.end()
    return _COUNTED_AFTER.match(text, pos) is not None


def _with_article(text: str, sp: PhiSpan) -> PhiSpan:
    article = _ORDINAL_START.match(text, sp.start) and _ARTICLE_BEFORE.search(text, max(0, sp.start - 5), sp.start)
    return PhiSpan(article.start(), sp.end, sp.kind) if article else sp


def _digit_dates(text: str) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    for pat in _DATE_PATTERNS:
        out += [sp for sp in _group(pat, text, "DATE")
                if not _VERSION_BEFORE.search(text, max(0, sp.start - 12), sp.start)]
    out += [sp for sp in _group(_ORDINAL_DAY, text, "DATE", 1) if not _counted(text, sp.end)]
    if "/" in text:
        out += _short_dates(text)
    out += _group(_BIRTH_YEAR, text, "DATE", 1)
    for m in _DOB.finditer(text):
        rest = text[m.end() : m.end() + 40]
        for pat in (_DATE_PATTERNS[0], _DATE_PATTERNS[1], _DATE_VALUE):
            dm = pat.match(rest)
            if dm:
                out.append(PhiSpan(m.end(), m.end() + dm.end(), "DATE"))
                break
    return out


def _short_dates(text: str) -> list[PhiSpan]:
    """m/d and d/m without a year. A date cue before, or a time after, makes one a date; otherwise a
    score or fraction context rules it out, and so does a usual score denominator (1/2, 3/4, 8/10) or
    a day-first reading (24/7), which need the cue."""
    out: list[PhiSpan] = []
    for m in _SLASH_PAIR.finditer(text):
        a, b = int(m.group(1)), int(m.group(2))
        month_first = 1 <= a <= 12 and 1 <= b <= 31
        if not month_first and not (13 <= a <= 31 and 1 <= b <= 12):
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[max(line_start, m.start() - 30) : m.start()]
        if _SCORE_BEFORE.search(before) or _FRACTION_AFTER.match(text, m.end()):
            continue
        cued = _SHORT_DATE_CUE.search(before) is not None or _TIME_AFTER.match(text, m.end()) is not None
        shaped = month_first and (a > b or b not in _FRACTION_DENOMINATORS)
        if cued or shaped:
            out.append(PhiSpan(m.start(), m.end(), "DATE"))
    return out


def _ages(text: str, digits: bool) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    if digits:
        for pat in _AGE_PATTERNS:
            out += _group(pat, text, "AGE", 1 if pat.groups else 0)
        for m in _AGE_SEX.finditer(text):
            if not _TEMP_BEFORE.search(text[max(0, m.start() - 15) : m.start()]):
                out.append(PhiSpan(m.start(1), m.end(1), "AGE"))
    out += _group(_AGE_STATED, text, "AGE", 1) + _group(_AGE_APPOSITION, text, "AGE", 1)
    out += _group(_AGE_REACHED, text, "AGE", 1) + _answered_ages(text)
    lower = text.lower()
    if "ninety" in lower or "hundred" in lower or "noventa" in lower or "cien" in lower:
        out += _group(_WORD_AGE[0], text, "AGE")
        out += _group(_WORD_AGE[1], text, "AGE", 1)
        out += _group(_SPANISH_AGE, text, "AGE")
    return out


def _answered_ages(text: str) -> list[PhiSpan]:
    """Ages given as answers in the four lines after a "how old" question."""
    out: list[PhiSpan] = []
    for m in _HOW_OLD.finditer(text):
        start = text.find("\n", m.end()) + 1
        for _ in range(4):
            if start <= 0:
                break
            end = text.find("\n", start)
            out += _group_at(_TURN_AGE, text, start, "AGE")
            start = end + 1
    return out


def _letter_logins(text: str) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    surnames = {w.lower() for w in re.findall(r"\b[A-Z][a-z]+", text) if len(w) >= 4}
    for m in _LOGIN_LETTERS.finditer(text):
        value = m.group("value")
        if m.group("eq") == "=" or any(w in value for w in surnames):
            out.append(PhiSpan(m.start("value"), m.end("value"), "NAME"))
    # Log-ins without a cue: an initial or two and a surname of the text ("akapoor" beside Arjun Kapoor), or
    # letters that are no word with a number after them ("dkowalczyk2", "jsmith42", "btrujillo58").
    for m in _LOGIN_SHAPE.finditer(text):
        letters = m.group("core")  # an initial or two and a surname ("tnguyen"), or a surname and an initial ("mzwane_t")
        named = letters[1:] in surnames or letters[2:] in surnames or (m.group("post") and letters in surnames)
        if (m.group("num") or named) and not (_english(letters) or _common(letters) or letters in _CLINICAL_LETTERS):
            out.append(PhiSpan(m.start(), m.end(), "ID"))
    return out


def _numbers(text: str, digits: bool) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    if "@" in text:
        out += _group(_EMAIL, text, "EMAIL")
    out += _group(_URL, text, "URL")
    if _TLD_ANY.search(text):
        out += _group(_URL_DOMAIN, text, "URL")
    codes = _spelt_codes(text)  # a code with letters in it is not a phone number read out
    out += [sp for sp in _group(_PHONE_WORDS, text, "PHONE") if not any(c.start <= sp.start and sp.end <= c.end for c in codes)]
    out += codes
    spoken = _group(_SPOKEN_ZIP_CUED, text, "ZIP", 1)
    for m in _SPOKEN_LAST_FOUR.finditer(text):
        spoken.append(PhiSpan(m.start("value"), m.end("value"), "SSN" if m.group("cue").lower() in ("social", "ssn") else "PHONE"))
    out += [sp for sp in spoken if not any(c.start < sp.end and sp.start < c.end for c in codes)]  # "w g four four one seven"
    out += _letter_logins(text)
    out += _group(_SPOKEN_EMAIL, text, "EMAIL") + _group(_SPOKEN_URL, text, "URL")
    if not digits:  # everything below needs a digit
        return out
    if ":" in text:
        out += _ipv6(text)
    out += _group(_IPV4, text, "IP")
    out += _group(_SSN, text, "SSN")
    out += _group(_SSN_CUE, text, "SSN", 1) + _group(_SSN_MASKED, text, "SSN") + _group(_SSN_LAST_FOUR, text, "SSN", 1)
    for pat, group in ((_PHONE, 0), (_PHONE_CUE_SHORT, 1)):
        for m in pat.finditer(text):
            digits = re.sub(r"\D", "", m.group(group))
            if group == 0 and m.group(0).lstrip("(").startswith("0") and not 9 <= len(digits) <= 12:
                continue
            cues = _PHONE_KIND.findall(text[max(0, m.start(group) - 30) : m.start(group)])
            kind = "FAX" if cues and cues[-1].lower() in ("fax", "faks") else "PHONE"
            out.append(PhiSpan(m.start(group), m.end(group), kind))
    for m in _LABEL_RE.finditer(text):
        kind = next(k for k, _ in _LABELS if m.group(k) is not None)
        out.append(PhiSpan(m.start("value"), m.end("value"), kind))
    out += _group(_PLATE, text, "VEHICLE", 1)
    out += _group(_UK_PLATE, text, "VEHICLE")
    out += _group(_VIN, text, "VEHICLE")
    out += _group(_USERNAME, text, "ID", 1)
    out += _cued(text, _BIOMETRIC_CUE, "BIOMETRIC") + _cued(text, _PHOTO_CUE, "PHOTO")
    out += _group(_IMAGE_FILE, text, "PHOTO")
    out = [sp for sp in out if not (sp.kind == "PHOTO" and _body_part_photo(text, sp))]
    out += _group(_MAC, text, "DEVICE") + _group(_UDI, text, "DEVICE")
    out += _group(_PHONE_CUE_LOCAL, text, "PHONE", 1) + _group(_PHONE_LOCAL, text, "PHONE")
    for m in _SERIAL.finditer(text):
        if not _CLINICAL_CODE.match(m.group()) and not _DATE_PATTERNS[1].match(m.group()):
            out.append(PhiSpan(m.start(), m.end(), "ID"))
    for m in _ID_SHAPE.finditer(text):
        tok = m.group()
        if sum(c.isdigit() for c in tok) >= 5 and not _CLINICAL_CODE.match(tok):
            out.append(PhiSpan(m.start(), m.end(), "ID"))
    out += _group(_LONG_DIGITS, text, "ID") + _group(_ISBT, text, "ID") + _group(_NUMBERED, text, "ID", 1)
    out += _group(_SLASH_YEAR_CODE, text, "ID")
    return out


def _body_part_photo(text: str, sp: PhiSpan) -> bool:
    """An image file named only by clinical words and short counters: "wound_sacrum_week3.jpg"."""
    stem = text[sp.start : sp.end].rsplit(".", 1)[0]
    parts = [w.lower() for w in re.split(r"[\W_\d]+", stem) if len(w) > 1]
    return (bool(parts) and any(_BODY_PART_PHOTO.fullmatch(w) for w in parts)
            and all(_english(w) and w not in _IDENTIFYING_PARTS for w in parts) and not re.search(r"\d{4}", stem))


def _spelt_codes(text: str) -> list[PhiSpan]:
    """Codes read out in characters; the kind is that of the last cue word in the 80 characters before."""
    out: list[PhiSpan] = []
    for m in _SPELT_CODE.finditer(text):
        toks = m.group().replace(",", " ").split()
        digit_words = sum(len(t) > 1 for t in toks)
        if digit_words < 2 or not any(len(t) == 1 and t not in "aix" for t in toks):
            continue
        out.append(PhiSpan(m.start(), m.end(), _spelt_kind(text, m.start())))
    for m in _SPELT_COMMAS.finditer(text):
        letters = m.group().replace(",", "").split()
        # an enumeration ("a, b, c, d, e") runs through the alphabet; a name does not
        if any(ord(b) != ord(a) + 1 for a, b in zip(letters, letters[1:])):
            out.append(PhiSpan(m.start(), m.end(), "NAME"))
    for m in _SPELT_DASHED.finditer(text):
        toks = re.split(r"[ \t-]+", m.group())
        if not any(len(t) == 1 and t not in "aix" for t in toks):
            continue
        if all(len(t) == 1 for t in toks):
            out.append(PhiSpan(m.start(), m.end(), "NAME"))
            continue
        out.append(PhiSpan(m.start(), m.end(), _spelt_kind(text, m.start())))
    return out


def _spelt_kind(text: str, start: int) -> str:
    """The kind of the last cue word in the 80 characters before `start` ("plate", "member", "lot"), else ID."""
    before = text[max(0, start - 80) : start]
    cued = [(c.start(), kind) for kind, cue in _SPELT_KINDS for c in cue.finditer(before)]
    return max(cued)[1] if cued else "ID"


def _ipv6(text: str) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    for m in _IPV6_CANDIDATE.finditer(text):
        cand = m.group().rstrip(".")
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        out.append(PhiSpan(m.start(), m.start() + len(cand), "IP"))
    return out


def _cued_value(text: str, after: int, shape: re.Pattern = _CUED_VALUE) -> re.Match | None:
    """The first `shape` value after `after`, within its sentence and 100 characters (a year alone is none)."""
    end = _SENTENCE_END.search(text, after)
    v = shape.search(text, after, min(end.start() if end else len(text), after + 100))
    return v if v and not _YEAR_ALONE.fullmatch(v.group()) else None


def _cued(text: str, cue: re.Pattern, kind: str) -> list[PhiSpan]:
    """The first identifier-shaped value after each cue word, within the cue's sentence."""
    return [PhiSpan(v.start(), v.end(), kind) for m in cue.finditer(text) if (v := _cued_value(text, m.end()))]


def _uncued_phrases(text: str, phrase: re.Pattern, kind: str) -> list[PhiSpan]:
    """Each `phrase` that no value or image file follows in its sentence: the mention is all the note holds."""
    return [PhiSpan(m.start(), m.end(), kind) for m in phrase.finditer(text)
            if not _cued_value(text, m.end()) and not _cued_value(text, m.end(), _IMAGE_FILE)]


@lru_cache(maxsize=1)
def _lower_cities() -> frozenset[str]:
    """Gazetteer cities none of whose words is an ordinary word ("boston", "san diego"; not "reading"),
    but for a compass point or a word such as "heights" next to one that is not ("east haddam",
    "dearborn heights")."""
    def place_like(city: str) -> bool:
        words = city.lower().split()
        return not any(_english(w) and w not in _PLACE_PARTS for w in words) and not all(w in _PLACE_PARTS for w in words)
    return frozenset(c.lower() for c in _cities()[0] if place_like(c))


_PLACE_PARTS = frozenset(_words("east west north south new upper lower heights falls springs park hills"))


# In lower-case lines a place is told by a preposition before it and by not being a word.
_LOWER_PLACE_CUE = re.compile(r"\b(?:in|from|to|near|at|of|outside|visiting)[ \t]+")
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundred)"
)
# Words that describe a road rather than name it ("on the icy road", "down a side street").
_ROAD_DESCRIPTIONS = (
    r"the|a|an|this|that|my|your|his|her|our|their|same|other|next|wrong|busy|quiet|icy|wet|dry|slippery|dirt|"
    r"gravel|paved|back|side|country|rural|private|toll|ring|access|service|open|long|narrow|steep|one-way|"
    r"two-way|main road|dark|empty|closed|new|old|local|nearby|every|each|any|which|what|whose|"
    r"encrypted|shared|network|hard|flash|thumb|usb|external|secure|cloud|mapped"  # a computer's drive
)
# "forty one elm court", "12 maple street": a house number, in digits or words, and a street type; the flat
# before it and the unit and quadrant after it as they are read out ("flat nine, forty-two peckham hill street",
# "nine hundred cedar avenue south, apartment six eleven", "eighteen twelve north forty-fifth street, unit c").
_LOWER_UNIT = rf"(?:flat|apartment|apt|unit|suite)[ \t]+(?:{_NUMBER_WORD}|[a-z]\b|\d{{1,4}}[a-z]?)(?:[ \-]+(?:{_NUMBER_WORD}|[a-z]\b))*"
_LOWER_STREET = re.compile(
    rf"(?:\b{_LOWER_UNIT},?[ \t]+)?"
    rf"\b(?:\d{{1,5}}|{_NUMBER_WORD}(?:[ \-]{_NUMBER_WORD}){{0,3}})[ \t]+(?:(?!(?:{_ROAD_DESCRIPTIONS})\b)[a-z][a-z\-]*[ \t]+){{1,3}}?"
    r"(?:street|avenue|road|lane|drive|court|boulevard|terrace|place|parkway|circle|grove|close|crescent|way|gardens|"
    r"square|highway)\b"
    rf"(?:[ \t]+(?:north|south|east|west)(?=[ \t]*[,.;\n]))?(?:,?[ \t]+{_LOWER_UNIT}(?=[ \t]*[,.;\n]|$))?"
)


# "the restaurant on mission street", "same flat on bellenden road": a street named without a number
# after a preposition; not a road described ("on the icy road", "down a side street").
_LOWER_STREET_NAMED = re.compile(
    rf"\b(?:on|off|at|near|along|down|up|from|onto|in)[ \t]+((?!(?:{_ROAD_DESCRIPTIONS})\b)[a-z][a-z'’\-]+"
    r"(?:[ \t]+(?!(?:street|avenue|road|lane)\b)[a-z][a-z'’\-]+)?[ \t]+"
    r"(?:street|avenue|road|lane|drive|boulevard|terrace|crescent|close|parkway|highway))\b"
)


# A ZIP read out after the town: "in worcester zero one six zero five".
_SPOKEN_ZIP = re.compile(rf"[ \t,]+({_SPOKEN_DIGITS}(?:[ \t]+{_SPOKEN_DIGITS}){{4}})\b")


def _lower_case_places(text: str, start: int, end: int) -> list[PhiSpan]:
    out = _group_in(_LOWER_STREET, text, start, end, "ADDRESS")
    # the town right after a street read out: "forty two ashgrove terrace headingley"
    for street in list(out):
        words = text[street.end : end].split(None, 2)[:2]
        for k in range(len(words), 0, -1):
            name = " ".join(words[:k]).rstrip(".,;:?!")
            if name in _lower_cities():
                s = text.index(name, street.end)
                out.append(PhiSpan(s, s + len(name), "CITY"))
                break
    out += _group_in(_LOWER_STREET_NAMED, text, start, end, "ADDRESS", 1)
    cities = _lower_cities()
    for m in _LOWER_PLACE_CUE.finditer(text, start, end):
        words = text[m.end() : end].split(None, 3)[:3]
        for k in range(len(words), 0, -1):
            name = " ".join(words[:k]).rstrip(".,;:?!")
            if name in cities:
                out.append(PhiSpan(m.end(), m.end() + len(name), "CITY"))
                out += _group_at(_SPOKEN_ZIP, text, m.end() + len(name), "ZIP")
                break
    return out


def _group_in(pattern: re.Pattern, text: str, start: int, end: int, kind: str, group: int = 0) -> list[PhiSpan]:
    return [PhiSpan(m.start(group), m.end(group), kind) for m in pattern.finditer(text, start, end)]


def _lower_streets_named(text: str) -> list[PhiSpan]:
    """Lower-case street names outside lower-case lines, when the name is no word ("on kirby avenue")."""
    return [PhiSpan(m.start(1), m.end(1), "ADDRESS") for m in _LOWER_STREET_NAMED.finditer(text)
            if not any(_english(w) for w in m.group(1).split()[:-1])]


def _streets(text: str, digits: bool) -> list[PhiSpan]:
    out = _group(_STREET, text, "ADDRESS") + _group(_NUMBERED_ROAD, text, "ADDRESS") if digits else []
    out += _group(_STREET_TYPE_FIRST, text, "ADDRESS") + _group(_QUADRANT_STREET, text, "ADDRESS")
    for m in _STREET_NAMED.finditer(text):
        toks = _tokens(text, m.start(1), m.end(1))
        whole = len(toks)
        while len(toks) > 1 and (_common(toks[0][2]) or toks[0][2].lower() in _NOT_PLACES):
            toks.pop(0)
        if len(toks) == 1 and whole > 1 and _ADDRESS_FIELD.search(text, max(0, m.start(1) - 8), m.start(1)) and _LOCALITY.match(text, m.end(1)):
            toks = _tokens(text, m.start(1), m.end(1))  # "The Surgery, Main Street, Oughterard": a field of an address
        if len(toks) > 1:
            out.append(PhiSpan(toks[0][0], toks[-1][1], "ADDRESS"))
    out += _group(_POBOX, text, "ADDRESS")
    if digits:
        out += _group(_COMMA_ADDRESS, text, "ADDRESS") + _group(_BLOCK_OF, text, "ADDRESS")
        out += _group(_WORD_TYPE_STREET, text, "ADDRESS")
    return [_with_flat(text, sp) for sp in out]


def _with_flat(text: str, sp: PhiSpan) -> PhiSpan:
    """The street line with the flat and building before it: "Flat 6, Wensum Court, 22 Riverside Road"."""
    line_start = text.rfind("\n", 0, sp.start) + 1
    m = _FLAT_BEFORE.search(text, max(line_start, sp.start - 60), sp.start)
    return PhiSpan(m.start(), sp.end, sp.kind) if m else sp


def _is_region(name: str) -> bool:
    """A state or a country: Safe Harbor allows them."""
    return (re.fullmatch(rf"{_STATE_ABBR}|{_STATE_NAMES}|{_OTHER_STATES}", name) is not None or name in _COUNTRIES
            or name.lower() in _COUNTRIES)


# The world's countries and regions named as places (Safe Harbor keeps them): a learned finder's CITY that is one
# identifies no one. The rules' own _COUNTRIES stays short: "Jordan", "Chad" and "Kenya" are names there.
_WORLD = frozenset(" ".join(c.lower().split()) for c in """
    Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Austria|Azerbaijan|Bahamas|Bahrain|Bangladesh|Barbados|
    Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|Bosnia|Botswana|Brazil|Brunei|Bulgaria|Burkina Faso|Burundi|Cambodia|
    Cameroon|Cape Verde|Chad|Chile|China|Colombia|Comoros|Congo|Costa Rica|Croatia|Cuba|Cyprus|Czechia|Denmark|Djibouti|
    Dominica|Dominican Republic|Ecuador|Egypt|El Salvador|Eritrea|Estonia|Eswatini|Ethiopia|Fiji|Finland|France|Gabon|
    Gambia|Georgia|Germany|Ghana|Greece|Grenada|Guatemala|Guinea|Guyana|Haiti|Honduras|Hungary|Iceland|India|Indonesia|
    Iran|Iraq|Israel|Italy|Ivory Coast|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kiribati|Korea|Kosovo|Kuwait|Kyrgyzstan|
    Laos|Latvia|Lebanon|Lesotho|Liberia|Libya|Lithuania|Luxembourg|Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|
    Mauritania|Mauritius|Micronesia|Moldova|Monaco|Mongolia|Montenegro|Morocco|Mozambique|Myanmar|Namibia|Nauru|Nepal|
    Netherlands|Nicaragua|Niger|Nigeria|Norway|Oman|Pakistan|Palau|Palestine|Panama|Papua New Guinea|Paraguay|Peru|
    Philippines|Poland|Portugal|Qatar|Romania|Russia|Rwanda|Samoa|San Marino|Saudi Arabia|Senegal|Serbia|Seychelles|
    Sierra Leone|Singapore|Slovakia|Slovenia|Somalia|South Africa|South Sudan|Spain|Sri Lanka|Sudan|Suriname|Sweden|
    Switzerland|Syria|Taiwan|Tajikistan|Tanzania|Thailand|Togo|Tonga|Trinidad and Tobago|Tunisia|Turkey|Turkmenistan|
    Tuvalu|Uganda|Ukraine|United Arab Emirates|Uruguay|Uzbekistan|Vanuatu|Venezuela|Vietnam|Yemen|Zambia|Zimbabwe|
    Africa|Asia|Europe|Oceania|Caribbean|West Indies|Middle East|Scandinavia|Latin America|South America|Central America|
    North America""".replace("\n", "").split("|"))
_ICD10 = re.compile(r"[A-TV-Z]\d{2}(?:\.\d{1,4}[A-Z]?)?|G\d{1,2}P\d{1,4}")  # "Z79.01", "G2P1001" (gravida, para)
_ALONE = frozenset(_words("zero oh one two three four five six seven eight nine space double dash"))


@lru_cache(maxsize=1)
def _not_people() -> frozenset[str]:
    """Languages, peoples, greetings and kin words (gazetteers/not_people.txt), accents folded."""
    return frozenset(_folded(line) for line in _read_data("not_people.txt").splitlines() if line.strip() and not line.startswith("#"))


def _folded(text: str) -> str:
    """Lower case, accents off, spaces single: "Tēnā koe" -> "tena koe"."""
    plain = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(ch for ch in plain if not unicodedata.combining(ch)).split())


def names_no_one(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is, or lies inside, a language, people, greeting or kin word of the text
    ("Yoruba", "kia ora", "raibh maith agat" of "go raibh maith agat"): no name and no place."""
    if _folded(text[start:end].strip(".,;:!?'’")) in _not_people():
        return True
    value, around = _folded(text[start:end]), _folded(text[max(0, start - 20) : end + 20])
    return any(value in p and p in around for p in _not_people() if " " in p)


def identifies_nothing(value: str, kind: str) -> bool:
    """What a learned finder may propose that identifies no one: one letter or digit, a spoken digit or
    spelling word alone, a clinical code ("Z79.01", "G2P1001"), or a state or country as a place."""
    v = value.strip(" .,;:()'’\"")
    return (sum(ch.isalnum() for ch in v) < 2 or v.lower() in _ALONE or bool(_CLINICAL_CODE.match(v))
            or bool(_ICD10.fullmatch(v)) or (kind == "CITY" and (_is_region(v) or _folded(v) in _WORLD)))


def _localities(text: str, streets: list[PhiSpan]) -> list[PhiSpan]:
    """The town, district and county names after each street line, and a ZIP code after them."""
    out: list[PhiSpan] = []
    for sp in streets:
        pos = sp.end
        m = _POSTCODE_TOWN.match(text, pos)
        if m and not _is_region(m.group(2)):
            out += [PhiSpan(m.start(1), m.end(1), "ZIP"), PhiSpan(m.start(2), m.end(2), "CITY")]
            pos = m.end()
        for _ in range(4):
            m = _LOCALITY.match(text, pos)
            if not m or _is_region(m.group(1)) or _common(m.group(1).split()[0]) or (
                    m.group(1).islower() and all(_english(w) for w in m.group(1).split())):
                break
            out.append(PhiSpan(m.start(1), m.end(1), "CITY"))
            pos = m.end()
        if pos > sp.end:
            out += _group_at(_ZIP_AFTER_LOCALITY, text, pos, "ZIP")
    return out


def _before_postcodes(text: str) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    for m in _BEFORE_POSTCODE.finditer(text):
        toks = _tokens(text, m.start(1), m.end(1))
        while toks and (re.fullmatch(_STREET_TYPES, toks[0][2]) or _common(toks[0][2]) or _is_region(toks[0][2])
                        or any(re.fullmatch(_STREET_TYPES, t[2]) for t in toks[1:])):
            toks.pop(0)
        if toks and not _is_region(text[toks[0][0] : toks[-1][1]]):
            out.append(PhiSpan(toks[0][0], toks[-1][1], "CITY"))
    return out


# An HL7 address (XAD): street^other^city^state^ZIP^country, as interface messages and their dumps carry it.
_HL7_ADDRESS = re.compile(r"(?<![\w^\-])(\d+[A-Za-z]?[ \t]+[A-Za-z][^^|:\n]{1,60})\^([^^|\n]{0,40})\^([A-Za-z][^^|\n]{1,40})\^([A-Z]{2,3})?\^(\w{3,10}(?:-\d{4})?)\b")


# HL7 v2 fields that hold people (PID-5 "KAPOOR^ANJALI^R", PV1-7 "1629384750^MBEKI^THABO^^^DR"): segment ->
# {field: index of the family name's component}: 0 in a person's name (XPN), 1 after the ID of a clinician (XCN).
# Interfaces write names in capitals, which the name rules take for acronyms.
_HL7_PEOPLE = {
    "PID": {5: 0, 6: 0, 9: 0}, "NK1": {2: 0}, "IN1": {16: 0}, "GT1": {3: 0}, "MRG": {7: 0}, "STF": {3: 0},
    "PRD": {2: 0}, "PV1": {7: 1, 8: 1, 9: 1, 17: 1, 52: 1}, "ORC": {10: 1, 11: 1, 12: 1}, "OBR": {16: 1, 28: 1},
    "ROL": {4: 1}, "EVN": {5: 1}, "PD1": {4: 1}, "TXA": {5: 1, 9: 1, 10: 1}, "OBX": {16: 1},
}
_HL7_SEGMENT = re.compile(rf"(?m)^[ \t]*({'|'.join(_HL7_PEOPLE)})\|[^\n]*")
_HL7_NAME_PART = re.compile(r"[^\W\d_][\w'’.\- ]{0,40}")
# Titles and degrees in an XPN/XCN's prefix and degree components
_HL7_NOT_NAMES = frozenset(_words("dr mr mrs ms miss mx prof rev md do rn np pa phd dds mbbs frcp jr sr"))
# FHIR resources in JSON: a HumanName's family and given names, an Address's lines, city, district and postal code.
_FHIR_FIELD = re.compile(r'"(family|given|line|city|district|postalCode)"[ \t]*:[ \t]*(\[[^\]\n]*\]|"[^"\n]{1,80}")')
_FHIR_KINDS = {"family": "NAME", "given": "NAME", "line": "ADDRESS", "city": "CITY", "district": "CITY", "postalCode": "ZIP"}
_JSON_STRING = re.compile(r'"([^"\n]+)"')


def _hl7_names(text: str) -> list[PhiSpan]:
    """People's names in HL7 v2 segments, by the field and component that hold them."""
    out: list[PhiSpan] = []
    for m in _HL7_SEGMENT.finditer(text):
        people = _HL7_PEOPLE[m.group(1)]
        fields = _split_at(text[m.start(1) : m.end()].rstrip(), "|", m.start(1))
        for n, (field, at) in enumerate(fields):
            family = people.get(n)
            if family is None:
                continue
            for value, start in _split_at(field, "~", at):
                for i, (comp, pos) in enumerate(_split_at(value, "^", start)):
                    comp = comp.split("&")[0]
                    if (family <= i <= family + 3 and _HL7_NAME_PART.fullmatch(comp)
                            and comp.lower().strip(". ") not in _HL7_NOT_NAMES):
                        out.append(PhiSpan(pos, pos + len(comp), "NAME"))
    return out


def _fhir_fields(text: str) -> list[PhiSpan]:
    """Names and address parts in FHIR JSON, by the field that holds them."""
    out: list[PhiSpan] = []
    for m in _FHIR_FIELD.finditer(text):
        for v in _JSON_STRING.finditer(text, m.start(2), m.end(2)):
            if v.group(1).strip() and not (m.group(1) == "city" and _is_region(v.group(1))):
                out.append(PhiSpan(v.start(1), v.end(1), _FHIR_KINDS[m.group(1)]))
    return out


def _structured_fields(text: str) -> list[PhiSpan]:
    """Identifiers found by the field of a structured record that holds them: HL7 v2 and FHIR JSON."""
    hl7 = _hl7_names(text) if "|" in text and "^" in text else []
    return hl7 + (_fhir_fields(text) if '":' in text or '" :' in text else [])


def _split_at(field: str, sep: str, start: int) -> list[tuple[str, int]]:
    """The parts of field split at sep, each with its offset in the text (field starts at start)."""
    out = []
    for part in field.split(sep):
        out.append((part, start))
        start += len(part) + 1
    return out


def _places(text: str, digits: bool) -> list[PhiSpan]:
    out = _streets(text, digits)
    if "^" in text:
        for m in _HL7_ADDRESS.finditer(text):
            out += [PhiSpan(m.start(g), m.end(g), kind) for g, kind in ((1, "ADDRESS"), (2, "ADDRESS"), (3, "CITY"), (5, "ZIP"))
                    if m.group(g)]
    for m in _CITY_STATE.finditer(text):
        state, zipc = m.group(2), m.group(3)
        city = m.group(1)
        words = city.split()
        if re.fullmatch(_CAR_MAKES, words[0]):  # "a 2009 Chevy Impala, Indiana plate ...": a car
            continue
        # Keep only the trailing words that can be a city ("... Apt 2F, New York" -> "New York").
        while words and (re.fullmatch(_STREET_TYPES, words[0]) or _common(words[0]) or words[0].lower() in _NOT_PLACES):
            words.pop(0)
        if not words:
            if zipc:
                out.append(PhiSpan(m.start(3), m.end(3), "ZIP"))
            continue
        if not zipc and ("," not in text[m.end(1) : m.start(2)] or
                         state in _WEAK_STATES and not _is_city(" ".join(words))):
            continue
        s = m.start(1) + city.rfind(" ".join(words)) if " ".join(words) in city else m.start(1)
        out.append(PhiSpan(s, m.end(1), "CITY"))
        if zipc:
            out.append(PhiSpan(m.start(3), m.end(3), "ZIP"))
    out += _group(_ZIP_CUE, text, "ZIP", 1) + _group(_EIRCODE, text, "ZIP")
    out += [PhiSpan(m.start(g), m.end(g), "ZIP") for m in _PROVINCE_POSTCODE.finditer(text) for g in (1, 2) if m.group(g)]
    out += _group(_UK_POSTCODE, text, "ZIP", 1)  # "N4 3QP": with its inward part no clinical code ("N4") looks like it
    out += _before_postcodes(text)
    out += _group(_COUNTY, text, "CITY", 1)
    out += _city_spans(text)
    for start, end in _lower_case_lines(text):
        out += _lower_case_places(text, start, end)
    # A 5-digit number right after a city or state: "Indianapolis, 46208".
    for m in _ZIP_AFTER_PLACE.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        if _STATE_AT_END.search(before) or _ends_with_city(before):
            out.append(PhiSpan(m.start(1), m.end(1), "ZIP"))
    out += _facility_places(text) + _lower_streets_named(text)
    return out + _localities(text, [sp for sp in out if sp.kind == "ADDRESS"])


def _facility_places(text: str) -> list[PhiSpan]:
    """The place in a facility's name, without the words around it that are not places ("Kona Valley
    Medical Center", "Agency Barre Visiting Nurses", "the Seacroft phlebotomy service")."""
    out: list[PhiSpan] = []
    for m in itertools.chain(_FACILITY.finditer(text), _LOWER_FACILITY.finditer(text)):
        toks = _tokens(text, m.start(1), m.start(1) + len(m.group(1).rstrip()))
        if _SAINT_BEFORE.search(text, max(0, m.start(1) - 8), m.start(1)) or _not_a_place(text, m.start(1), toks[-1][1]):
            continue
        if _is_city(" ".join(t[2] for t in toks)):
            out.append(PhiSpan(toks[0][0], toks[-1][1], "CITY"))
            continue
        while toks and _not_place_word(toks[0][2]):
            toks.pop(0)
        while toks and _not_place_word(toks[-1][2]):
            toks.pop()
        # a person the facility is named after ("Fiona Stanley Hospital", "Charles Gairdner"): no place
        if toks and not (len(toks) > 1 and toks[0][2].lower() in _names()[0] and not _is_city(toks[0][2])):
            out.append(PhiSpan(toks[0][0], toks[-1][1], "CITY"))
    return out


def _not_place_word(word: str) -> bool:
    w = word.lower().removesuffix("'s")
    return w in _NOT_PLACES or _common(word) or _is_region(word) or (_english(word) and not _is_city(word))


def find_spans(text: str) -> list[PhiSpan]:
    """All identifiers found in text: non-overlapping, sorted by start offset."""
    digits = _ANY_DIGIT.search(text) is not None
    places = _places(text, digits)
    # A name found inside a multi-word city ("Diego" in "San Diego") is the city.
    multi = [p for p in places if p.kind == "CITY" and " " in text[p.start : p.end]]
    names = [n for n in _name_spans(text) if not any(p.start <= n.start and n.end <= p.end for p in multi)]
    ages = _ages(text, digits) + [sp for n in names for sp in _group_at(_AGE_AFTER_NAME, text, n.end, "AGE")]
    held = _uncued_phrases(text, _BIOMETRIC_PHRASE, "BIOMETRIC") + _uncued_phrases(text, _FACE_PHOTO_PHRASE, "PHOTO")
    words = [sp for sp in places + names if not (sp.kind in ("NAME", "CITY") and names_no_one(text, sp.start, sp.end))]
    return _resolve(_numbers(text, digits) + _dates(text, digits) + ages + words + held + _structured_fields(text))


def _resolve(cands: list[PhiSpan]) -> list[PhiSpan]:
    """Keep the highest-priority (then longest) span wherever candidates overlap."""
    cands = sorted({c for c in cands if c.end > c.start}, key=lambda c: (-_PRIORITY[c.kind], -(c.end - c.start), c.start))
    starts: list[int] = []
    kept: list[PhiSpan] = []  # sorted by start, non-overlapping
    for c in cands:
        i = bisect.bisect_left(starts, c.start)
        if i > 0 and kept[i - 1].end > c.start:
            continue
        if i < len(kept) and kept[i].start < c.end:
            continue
        starts.insert(i, c.start)
        kept.insert(i, c)
    return _merge_adjacent(kept)


def _merge_adjacent(spans: list[PhiSpan]) -> list[PhiSpan]:
    """Two NAME spans separated only by a space are one name ("Ama" + "Boateng")."""
    out: list[PhiSpan] = []
    for sp in spans:
        if out and out[-1].kind == sp.kind == "NAME" and 0 <= sp.start - out[-1].end <= 1:
            out[-1] = PhiSpan(out[-1].start, sp.end, "NAME")
        else:
            out.append(sp)
    return out


def scrub(text: str) -> ScrubResult:
    """Replace every identifier found in text by its [KIND] placeholder.

    >>> scrub("Seen by Dr. Kumar on 03/14/2023, MRN 00482913.").text
    'Seen by Dr. [NAME] on [DATE], MRN [MRN].'
    """
    return replace_spans(text, find_spans(text))


def replace_spans(text: str, spans: list[PhiSpan]) -> ScrubResult:
    """text with each of `spans` (sorted, non-overlapping) replaced by its [KIND] placeholder."""
    parts: list[str] = []
    pos = 0
    for sp in spans:
        parts.append(text[pos : sp.start])
        parts.append(f"[{sp.kind}]")
        pos = sp.end
    parts.append(text[pos:])
    return ScrubResult("".join(parts), spans)
