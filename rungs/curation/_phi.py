"""De-identification: replace HIPAA Safe Harbor identifiers in free text with [KIND] placeholders.

Rule-based and offline: regular expressions, cue words and three word lists shipped in rungs/curation/gazetteers/ —
names.txt (~9,800 given names and ~11,400 surnames: project list + Faker, MIT), cities.txt (15,000 places: GeoNames data, CC BY 4.0, via
corpora/phi/build_cities.py) and words.txt (ordinary English and medical words, which make a
capitalised word weak evidence of a name; corpora/phi/build_words.py). Nothing is downloaded at run
time, and every decision can be read here. Measured on corpora/phi/annotated.jsonl by bench/phi_eval.py (results in bench/RESULTS.md).

Policy (the annotation guidelines in corpora/phi/README.md say the same):
- Years standing alone ("in 2019", "since 2015") are kept: Safe Harbor allows the year. Every other
  date element goes: full dates, month + day, month + year, a month named alone after a date cue
  ("in March"), ordinal days ("on the 3rd"), holidays, dates of birth. Birth years ("born in 1931")
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
import re
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
    "EMAIL": 100, "URL": 95, "IP": 90, "SSN": 85,
    "MRN": 80, "ACCOUNT": 80, "HEALTH_PLAN": 80, "LICENSE": 80, "VEHICLE": 80, "DEVICE": 80,
    "FAX": 76, "PHONE": 75, "ID": 74, "ADDRESS": 70, "ZIP": 65, "DATE": 60, "AGE": 55,
    "NAME": 45, "CITY": 44,
}

_UP = "A-ZÀ-ÖØ-Þ"  # Latin capitals, accented ones included (Echeverría, Lucía)
_LO = "a-zß-öø-ÿ"
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
                if name in cities and not _CITY_INSTRUMENT.match(text, e):
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
        miles frank earl sue jean norman virginia georgia madison austin
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
        protestant baptist methodist mormon amish diabetic asthmatic
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
        charcot horner osgood schlatter hirschsprung pugh glasgow down marie
        """
    )
)
_NOT_NAMES = _NOT_NAMES | _EPONYMS | frozenset(["child-pugh", "marie-tooth"])

_RELATIONS = (
    r"wife|husband|partner|spouse|son|daughter|mother|mom|mum|father|dad|sister|brother|niece|nephew|"
    r"grandson|granddaughter|grandmother|grandfather|grandma|grandpa|aunt|uncle|cousin|friend|buddy|"
    r"neighbou?r|roommate|caregiver|carer|fianc[ée]e?|boyfriend|girlfriend|stepson|stepdaughter|"
    r"son-in-law|daughter-in-law|guardian|sibling|child"
)

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
    re.compile(r"\b(?:0?[1-9]|[12]\d|3[01])([/\-.])(?:0?[1-9]|[12]\d|3[01])\1(?:19|20)?\d{2}\b(?![/\-.]\d)"),
    # 2023-03-14, 2023/03/14
    re.compile(r"\b(?:19|20)\d{2}([/\-.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])\b"),
    # March 14, 2023 / Mar. 14th 2023 / March 14
    re.compile(rf"\b{_MONTHS}\.?{_H}+{_ORD}\b(?:,?{_H}+{_YEAR}\b)?(?!{_H}*(?:mg|mcg|g|ml|mL|%|units?)\b)"),
    # 14 March 2023 / 14th of March / 14-Mar-2023
    re.compile(rf"\b{_ORD}(?:{_H}+of)?[ \t\-]+{_MONTHS}\b\.?(?:[ \t\-,]+{_YEAR}\b)?"),
    # March 2023, Mar-2023, March of 2023
    re.compile(rf"\b{_MONTHS}\.?(?:{_H}+of)?[ \t\-,]+(?:19|20)\d{{2}}\b"),
    # 03/2023
    re.compile(r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b"),
]
_DATE_VALUE = re.compile("|".join(p.pattern for p in _DATE_PATTERNS[2:]))  # for DOB values
# on the 3rd / since the 21st
_ORDINAL_DAY = re.compile(r"(?i:\b(?:on|by|of|since|until|from|before|after|till)\s+the\s+)(\d{1,2}(?:st|nd|rd|th))\b")
# m/d without a year only after a date cue: "8/10 pain" and "5/5 strength" stay.
_SHORT_DATE = re.compile(
    r"(?i:\b(?:on|since|from|until|till|through|thru|dated|by|after|before|seen|admitted|discharged|"
    r"started|stopped|visit|due)\s+)((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b"
    r"(?![/\d])(?!\s*(?:pain|strength|scale|murmur|score|power))"
)
# A month named alone after a cue: "in March", "since last May", "in late August".
_MONTH_ALONE = re.compile(
    r"\b(?:[Ii]n|[Ss]ince|[Dd]uring|[Uu]ntil|[Tt]ill|[Bb]y|[Oo]f|[Ee]arly|[Ll]ate|[Mm]id|[Ll]ast|[Nn]ext|"
    r"[Tt]his|[Ff]rom|[Tt]hrough|[Bb]efore|[Aa]fter|[Ss]tarting|[Bb]eginning|[Ee]nd of)[ \t]+"
    r"(?:(?:early|late|mid|the end of|the beginning of|the middle of)[ \t-]+)?"
    r"(January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
_HOLIDAY = re.compile(
    r"\b(?:Christmas(?: Eve| Day)?|Thanksgiving(?: Day)?|New Year's(?: Eve| Day)?|Easter(?: Sunday)?|"
    r"Halloween|Independence Day|Memorial Day|Labor Day|Labour Day|Valentine's Day|Boxing Day|"
    r"Mother's Day|Father's Day|Hanukkah|Ramadan|Eid|Diwali|Yom Kippur|Passover)\b"
)
_BIRTH_YEAR = re.compile(r"(?i:\b(?:born|birth|b\.)\s+(?:in\s+)?)((?:18|19|20)\d{2})\b")
_DOB = re.compile(r"(?i:\b(?:DOB|D\.O\.B\.?|date of birth|birth ?date|born(?: on)?)\s*[:#]?\s*)(?=\S)")

# ---------------------------------------------------------------------------------------------
# Contacts and numbers

# Each pattern starts only where a run of its characters starts (lookbehind) and bounds its repeats:
# without that, a long run such as "a.a.a.a..." costs quadratic time.
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8}\b")
_TLDS = r"(?:com|org|net|gov|edu|io|health|care|info|biz|us|uk|ca|au|de|fr)"
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]", re.IGNORECASE)
# A bare domain ("labs.example.com/r/1"): scanned only when the text has a ".com"-like ending at all.
_URL_DOMAIN = re.compile(
    rf"(?<![\w.\-])[a-z0-9\-]{{1,63}}(?:\.[a-z0-9\-]{{1,63}}){{0,8}}\.{_TLDS}"
    r"(?:/[^\s<>\"')\]]*[^\s<>\"')\].,;:!?])?(?![\w@])",
    re.IGNORECASE,
)
_TLD_ANY = re.compile(rf"\.{_TLDS}\b", re.IGNORECASE)
_ANY_DIGIT = re.compile(r"\d")
_MONTH_WORD = re.compile(r"January|February|March|April|May|June|July|August|September|October|November|December")
_IPV4 = re.compile(r"(?=\d{1,3}\.\d)(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
_SSN_CUE = re.compile(
    r"(?i:\b(?:SSN|social security(?: number| no\.?| #)?|SS#|SS No\.?)\s*[:#]?\s*)"
    r"(\d{9}|\d{3}[- ]\d{2}[- ]\d{4}|[*xX]{3}-[*xX]{2}-\d{4})"
)
_PHONE = re.compile(
    # North America: (617) 555-0134, 617-555-0134, 617.555.0134, +1 617 555 0134, 1-800-555-0143 x12
    r"(?=[+(\d])(?<![\w/.\-])(?:\+?1[ \t.\-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.\-])\d{3}[ \t.\-]\d{4}"
    r"(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,5})?(?![\w/])"
    # international: +44 20 7946 0958
    r"|(?<![\w/.])\+\d{1,3}(?:[ \t.\-]\(?\d{1,4}\)?){2,4}(?![\w/])"
    # UK national: 0113 392 4000, 07700 900123, 020 7946 0958
    r"|(?<![\w/.\-])0\d{2,4}[ \t\-]\d{3,4}[ \t\-]?\d{3,4}(?![\w/.\-])"
)
_PHONE_CUE_SHORT = re.compile(
    r"(?i:\b(?=[BbCcEeFfMmPpTtXx])(?:phone|tel|telephone|cell|mobile|pager|beeper|bleep|ph|fax|extension|ext|x)\.?[ \t]*"
    r"(?:number|no\.?|#)?[ \t]*[:#]?[ \t]*)(\d{3}-\d{4}|\d{4,5})\b(?![.,]\d)"
)
_PHONE_KIND = re.compile(r"(?i)\b(fax|phone|tel|telephone|cell|mobile|call|pager|ph|text)\b")

# "<label> <value>": the value is an identifier of the kind; the label stays. Labels ignore case.
_NUM = r"(?:number|num|no\.?|#|ID|identifier)"
_LABELS: list[tuple[str, str]] = [
    ("MRN", (rf"MRN|MR ?#|MR No\.?|medical record(?: {_NUM})?|med(?:ical)? rec(?:ord)?\.? ?{_NUM}?|"
            rf"chart {_NUM}|hospital {_NUM}|unit {_NUM}|patient {_NUM}|pt ID|NHS {_NUM}|record {_NUM}|"
            rf"health record {_NUM}|EMPI|MPI")),
    ("ACCOUNT", (rf"account(?: {_NUM})?|acct\.?(?: {_NUM})?|billing {_NUM}|encounter {_NUM}|visit {_NUM}|"
                rf"FIN|CSN|HAR|invoice {_NUM}")),
    ("HEALTH_PLAN", (rf"member {_NUM}|subscriber {_NUM}|policy(?: {_NUM})?|group {_NUM}|insurance {_NUM}|"
                    rf"Medicare(?: {_NUM}| MBI)?|Medicaid(?: {_NUM})?|MBI|HICN|beneficiary(?: {_NUM})?|"
                    rf"health plan {_NUM}|plan {_NUM}")),
    ("LICENSE", (rf"DEA(?: {_NUM})?|NPI(?: {_NUM})?|licen[cs]e {_NUM}|lic\.? ?#|driver'?s licen[cs]e(?: {_NUM})?|"
                rf"DL ?#|certificate {_NUM}|cert\.? ?#|GMC(?: {_NUM})?|registration {_NUM}|"
                rf"board certification(?: {_NUM})?|state licen[cs]e(?: {_NUM})?|license|licence")),
    ("DEVICE", (rf"serial(?: {_NUM})?|S/N|SN|device {_NUM}|device serial|UDI|IMEI|model/serial|lot(?: {_NUM})?|"
               rf"implant {_NUM}")),
    ("ID", (rf"accession(?: {_NUM})?|specimen(?: {_NUM})?|claim(?: {_NUM})?|case {_NUM}|case|"
           rf"requisition(?: {_NUM})?|order {_NUM}|referral {_NUM}|reference {_NUM}|ref\.? ?#|"
           rf"authori[sz]ation {_NUM}|PA {_NUM}|tracking {_NUM}|sample {_NUM}|culture {_NUM}")),
]
# An identifier value: letters, digits, - and /, at least one digit, at least 3 characters.
_VALUE = r"(?P<value>(?=[A-Z0-9\-/]*\d)[A-Z0-9][A-Z0-9\-/]+[A-Z0-9](?:[ ][0-9]{3}[ ][0-9]{4})?)"
# One pass for all labels (a named group per kind): six case-insensitive scans cost six times as much.
_LABEL_RE = re.compile(
    "(?i:\\b" + _lead(*(lab for _, lab in _LABELS)) + "(?:" + "|".join(f"(?P<{kind}>{lab})" for kind, lab in _LABELS) + "))"
    + rf"(?:{_H}*(?:is|was|of))?{_H}*[:#=]?{_H}*(?:#{_H}*)?{_VALUE}(?![\w\-%]|\.\d)"
)
_PLATE = re.compile(
    r"(?i:\b(?:licen[cs]e plate|plate|tag)(?: number| no\.?| #)?)[ \t]*[:#]?[ \t]*"
    r"((?=[A-Z0-9 \-]*\d)[A-Z0-9]{1,4}[ \-]?[A-Z0-9]{2,5})\b"
)
_VIN = re.compile(r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b")
# Identifier-shaped tokens with no label: CT23-0551987, MC-23-77104, ED0094412, long digit runs.
_ID_SHAPE = re.compile(r"(?<![\w\-.])[A-Z]{1,5}(?:-?\d+)(?:-[A-Z0-9]+)*(?![\w\-]|\.\d)")
_LONG_DIGITS = re.compile(r"(?<![\w\-.,])\d{7,}(?![\w\-]|[.,]\d)")
# Clinical codes that look like identifiers: never replaced.
_CLINICAL_CODE = re.compile(
    r"(?i)^(?:ICD-?\d+|CPT-?\d*|PHQ-?\d+|GAD-?\d+|DSM-?\d+|HIV-?\d|COVID-?\d+|SARS-?\d*|IL-?\d+|CD\d+|"
    r"HLA-?\w+|BRCA\d|HER\d|EGFR|MEN\d|CYP\w+|T\d+|L\d+|C\d+|S\d+|G\d+P\d+|E\d+|V\d+|M\d+|A1C|HBA1C|O2|"
    r"SPO2|FEV1|B12|D3|K\d+|I\d+|J\d+|N\d+|R\d+|Z\d+|F\d+)$"
)

# ---------------------------------------------------------------------------------------------
# Ages

# Not after a decimal point, a range dash or "to": "range 31-92 years", "11.91 years", "from 15 to 93".
_AGE_NUM = r"(?<![\d.,\-–])(?<!\bto )(?<!\band )(9\d|1[0-2]\d)"
_AGE_PATTERNS = [
    re.compile(rf"\b{_AGE_NUM}(?=[ \t\-]*(?:years?|yrs?|y/?o|yo|y\.o\.)(?:[ \t\-]*old)?\b)", re.IGNORECASE),
    re.compile(rf"(?i:\b(?:age|aged|ages|age:)[ \t]*(?:of[ \t]*)?){_AGE_NUM}\b(?![.,]\d| ?%)"),
    re.compile(rf"(?i:\b(?:turned|turns|turning|turn)[ \t]+){_AGE_NUM}\b"),
    re.compile(
        rf"(?i:\b(?:you're|you are|I'm|I am|she's|he's|she is|he is|is now)[ \t]+){_AGE_NUM}\b"
        rf"(?![.,]\d)(?![ \t]*(?:%|percent|mg|kg|lbs?|pounds|beats|over|/|degrees|°))"
    ),
]
# "97F", "92 M", "93 yo F": an age with a sex, unless a temperature or a comparison came first.
_AGE_SEX = re.compile(r"(?<![\w.,/])(9\d|1[0-2]\d)(?=[ \t]?(?:yo[ \t]?|y/o[ \t]?|y[ \t]?)?[MF]\b)")
_TEMP_BEFORE = re.compile(r"(?i)(?:temp\w*|\bT|tmax|fever\w*|febrile|over|above|below|under|to|of|>|<|=|~)\W*$")
_WORD_NUM = r"(?:ninety|one hundred(?: and)?)(?:[ \t\-](?:one|two|three|four|five|six|seven|eight|nine))?"
_WORD_AGE = [
    re.compile(rf"(?i)\b{_WORD_NUM}(?=[ \t\-]+years?(?:[ \t\-]+old)?\b)"),
    re.compile(rf"(?i:\b(?:be|turn|turned|turning|aged|age|I'm|I am|she's|he's|she is|he is|is now)[ \t]+)({_WORD_NUM})\b"),
]

# ---------------------------------------------------------------------------------------------
# Places

_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|Row|Pike|Alley|Grove|"
    r"Gardens|Mews|Walk|Loop|Plaza|Run|Path)"
)
_UNIT = rf"(?:,?{_H}*(?:Apt|Apartment|Unit|Suite|Ste|#|Room|Rm|Flat|Fl|Floor|Bldg|Building)\.?{_H}*#?{_H}*[A-Za-z0-9\-]+)?"
_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?{_H}+(?:[NSEW]\.?{_H}+|(?:North|South|East|West){_H}+)?"
    rf"(?:[{_UP}][{_LO}A-Za-z'\-]*|\d+(?:st|nd|rd|th))(?:{_H}+[{_UP}][{_LO}A-Za-z'\-]*){{0,3}}{_H}+{_STREET_TYPES}\b\.?"
    rf"(?:{_H}+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?{_UNIT}"
)
# A street named without a number: "on Carver Street", "Chapeltown Road". Full words only ("Dr" and
# "St" alone are titles and saints far more often than streets).
_STREET_NAMED = re.compile(
    rf"\b((?:[{_UP}][{_LO}]+(?:-[{_UP}][{_LO}]+)?{_H}+){{1,3}}(?:Street|Avenue|Road|Boulevard|Lane|Parkway|Terrace|"
    rf"Highway|Drive|Crescent|Grove))\b"
)
_POBOX = re.compile(r"(?i)\b(?:P\.?\s?O\.?\s?Box|Post Office Box)[ \t]+\d+\b")
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
_STATE_AT_END = re.compile(rf"\b(?:{_STATE_ABBR}|{_STATE_NAMES}),?[ \t]*$")
_ZIP_CUE = re.compile(r"(?i:\b(?:zip|zip code|postal code|postcode|post code)\s*[:#]?\s*)(\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})\b")
_ZIP_AFTER_PLACE = re.compile(rf"(?<=[{_LO}A-Z]),?{_H}+(\d{{5}}(?:-\d{{4}})?)\b(?![.,]\d|{_H}*(?:mg|units|mL|cells))")
_UK_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?[ \t]\d[ABD-HJLNP-UW-Z]{2})\b")
_COUNTY = re.compile(rf"\b((?:[{_UP}][{_LO}]+{_H}){{1,2}}(?:County|Parish|Borough|Township))\b")
# "<Place> Family Health", "<Place> Community Medical Group": the place before a facility word.
_FACILITY = re.compile(
    rf"\b((?:[{_UP}][{_LO}]+{_H}){{1,2}})(?=(?:(?:Community|General|Memorial|Regional|Family|Medical|Union|"
    rf"Teaching|University|Heights|Valley|County)\b{_H}*)*(?:Hospitals?|clinic|Medical Center|"
    rf"Medical Group|Family Health|Family Practice|Family Medicine|Urgent Care|NHS|College|"
    rf"Senior Center|Nursing Home|Surgical Center|Health Center|Infirmary)\b)"
)
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
        """
    )
)

# ---------------------------------------------------------------------------------------------
# Names

_TOK = (
    rf"(?:(?:Mc|Mac|O'|D'|Di|De|Van|Von)?[{_UP}][{_LO}]+(?:[\-'’](?!s\b)[{_UP}]?[{_LO}]+){{0,3}}|[{_UP}]\.)"
)
_SUFFIX = rf"(?:,?{_H}+(?:Jr|Sr)\.?|{_H}+(?:II|III|IV))?"
_SEQ = rf"(?<![\w\-.]){_TOK}(?:{_H}{_TOK}){{0,3}}{_SUFFIX}"  # one space between parts: two end a sentence
_CAPS_LAST_FIRST = r"[A-Z]{2,}(?:[\-'][A-Z]{2,})?,[ \t]*[A-Z]{2,}(?:[ \t]+[A-Z]\.?(?!\w))?(?![a-z])"
_LAST_FIRST = rf"[{_UP}][{_LO}]+(?:[\-'][{_UP}][{_LO}]+)?,[ \t]*[{_UP}][{_LO}]+(?:[ \t]+[{_UP}]\.?(?!\w))?"

# Abbreviated titles may carry a period; full-word titles may not ("Thank you, Doctor. Tell me ...").
_TITLE = re.compile(
    rf"\b(?=[CDFIJLMNOPRS])(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof|Rev|Sr|Sra|Messrs)\.?|Doctor|Miss|Mister|Professor|Nurse|Sister|Father|"
    rf"Reverend|Chaplain|Pastor|Rabbi|Imam|Judge|Officer|Dame|Sir|Lady|Lord|Madam|Señor|Señora){_H}+({_SEQ})"
)
_CREDENTIALS = (
    r"(?:MD|M\.D\.|DO|D\.O\.|RN|R\.N\.|NP|FNP|FNP-BC|FNP-C|ANP|AGNP|APRN|ARNP|PA-C|PA|PhD|Ph\.D\.|PharmD|"
    r"LPN|LVN|LCSW|LICSW|MSW|DPM|DDS|DMD|CNM|CRNA|RD|RDN|DPT|OTR|OTR/L|MBBS|MBChB|FRCP|FACP|FACS|MPH|MSN|"
    r"BSN|DNP|CNA|MA|EMT|EMT-P|RT|RRT|PsyD|LMFT|LPC|CCC-SLP|SLP|MS|NP-C|CNS)"
)
_NAME_CRED = re.compile(rf"\b(?=[{_UP}])({_SEQ}),?{_H}+{_CREDENTIALS}(?![\w\-])")
# Labels whose value is a person: the value needs no gazetteer support.
# Header fields whose value is a person ("Attending: Priya Raman"): only with a colon or dash, so
# that title-case prose ("Prompting Primary Care Providers") is not read as a field.
_FIELD_WORDS = (
    r"patient name|pt name|name|full name|caller|signed|attending(?: physician)?|resident|fellow|intern|"
    r"surgeon|assistant|assistant surgeon|anesthesia|anesthesiologist|anaesthetist|referring(?: physician|"
    r" provider| doctor)?|ordering(?: provider| physician)?|submitting physician|pathologist|radiologist|"
    r"pcp|gp|primary care(?: physician| provider| doctor)?|provider|physician|prescriber|cc|copy to|"
    r"copies to|emergency contact|nok|next of kin|guardian|caregiver|interpreter|witness|author|"
    r"consultant|therapist|identifying data|scribe|clinician|nurse|rn|mother|father|parent|contact|from|"
    r"to|requested by|referred by"
)
_FIELD_LABEL = re.compile(
    rf"(?im:(?:^|(?<=[\s(;,|])){_lead(_FIELD_WORDS)}(?:{_FIELD_WORDS})"
    rf"{_H}*[:\-]{_H}*(?:\n{_H}*)?)"
    rf"({_CAPS_LAST_FIRST}|{_LAST_FIRST}(?={_H}*(?:$|\n|{_H}{{2}}|\(|,|MRN|DOB))|{_SEQ})"
)
# "... by <name>" / "... with <name>": a person follows, colon or not.
_BY_WORDS = (
    r"electronically signed by|e-?signed by|signed by|dictated by|transcribed by|referred by|requested by|"
    r"reviewed by|seen by|seen with|discussed with|spoke with|spoke to|accompanied by|cared for by|ordered by|"
    r"copy to|followed by|examined by|evaluated by|performed by|under the care of"
)
_BY_LABEL = re.compile(
    rf"(?i:\b{_lead(_BY_WORDS)}(?:{_BY_WORDS}){_H}*:?{_H}*)"
    rf"({_SEQ})"
)
# Labels that often precede other things ("Patient: Yes.", "Pt: denies pain"): the value needs support.
_WEAK_LABEL = re.compile(
    rf"(?im:(?:^|(?<=[\s(;,|]))(?=[PpCcRrMmSsIi])(?:patient|pt|client|resident|member|subscriber|insured){_H}*[:\-]{_H}*)"
    rf"({_CAPS_LAST_FIRST}|{_LAST_FIRST}|{_SEQ})"
)
_RELATION = re.compile(
    rf"(?i:\b{_lead(_RELATIONS)}(?:{_RELATIONS})"
    rf"(?:[ \t]+(?:is|was|named|called))?[ \t]*,?[ \t]*\(?[ \t]*)({_SEQ})"
)
_GREETING = re.compile(
    rf"(?i:\b(?=[BbCcDdGgHhRrSsTtWw])(?:hi|hello|hey|good (?:morning|afternoon|evening)|thanks|thank you|bye|"
    rf"goodbye|dear|sincerely|regards|best|cheers|welcome)[ \t]*,?[ \t]*(?:\n[ \t]*)?)({_SEQ})"
)
_INTRO = re.compile(
    rf"(?i:\b(?=[AaCcGgIiKkMmNnTtYy])(?:I'm|I am|my name is|name's|this is|you must be|you're|are you|meet|"
    rf"call me|known as|goes by|named)[ \t]+)({_SEQ})"
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
    rf"repair|shunt|catheter|maneuver|cancer|institute)\b"
)
_SAINT_BEFORE = re.compile(r"\b(?:St\.?|Saint|San|Santa|Mount|Mt\.?|Fort|Ft\.?)[ \t]$")
_NEXT_TOK = re.compile(rf"{_H}+({_TOK})")
_CAP_WORD = re.compile(rf"(?<![\w'’\-])[{_UP}][{_LO}]+(?:[\-'’][{_UP}]?[{_LO}]+){{0,3}}(?![\w\-])")


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


def _plausible(seq: str, strict: bool = True) -> bool:
    """Could this capitalised sequence after a cue be a name? Not when its first word is a stop word,
    nor when every word is an ordinary word and none is a known name ("Health Computing System")."""
    toks = [t for t in re.split(r"[\s,]+", seq) if t and not _is_initial(t)]
    if not toks or _common(toks[0], strict):
        return False
    if all(_english(t) for t in toks):
        return any(any(_known(t)) or not strict and t.lower() in _EPONYMS for t in toks if not _common(t, strict))
    return True


def _is_initial(tok: str) -> bool:
    return len(tok) == 2 and tok[1] == "." and tok[0].isupper()


def _known(tok: str) -> tuple[bool, bool]:
    first, last = _names()
    t = re.sub(r"[^a-z]", "", tok.lower())
    return t in first, t in last


def _tokens(text: str, s: int, e: int) -> list[tuple[int, int, str]]:
    return [(m.start() + s, m.end() + s, m.group()) for m in re.finditer(r"[^\s,]+(?:,(?=\s*(?:Jr|Sr)))?", text[s:e])]


def _trim(text: str, s: int, e: int, strict: bool = True) -> tuple[int, int] | None:
    """Drop leading/trailing words that are not names ('Smith Today' -> 'Smith')."""
    toks = _tokens(text, s, e)
    while toks and (_common(toks[0][2], strict) or _is_initial(toks[0][2]) and len(toks) == 1):
        toks.pop(0)
    while toks and _common(toks[-1][2], strict):
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


def _name_spans(text: str) -> list[PhiSpan]:
    found: list[tuple[int, int]] = []

    def add(s: int, e: int, strict: bool = True) -> None:
        t = _trim(text, s, e, strict)
        if t:
            found.append(t)

    for m in _TITLE.finditer(text):
        if _plausible(m.group(1), strict=False) or _is_initial(m.group(1).split()[0]):
            add(m.start(1), m.end(1), strict=False)
    for m in _NAME_CRED.finditer(text):
        if _plausible(m.group(1)):
            add(m.start(1), m.end(1))
    for m in _FIELD_LABEL.finditer(text):
        if _plausible(m.group(1)):
            add(m.start(1), m.end(1))
    for m in _BY_LABEL.finditer(text):
        if _plausible(m.group(1)):
            add(m.start(1), m.end(1))
    for m in _WEAK_LABEL.finditer(text):
        seq = m.group(1)
        after = text[m.end(1) : m.end(1) + 6]
        two_plus = len([t for t in seq.split() if not _is_initial(t)]) >= 2 or "," in seq
        header_like = two_plus and re.match(r"[ \t]*(?:$|\n|[ \t]{2}|,|\(|MRN|DOB)", after) is not None
        if (header_like and _plausible(seq)) or _supported(seq):
            add(m.start(1), m.end(1))
    for pat in (_RELATION, _GREETING, _INTRO):
        for m in pat.finditer(text):
            toks = m.group(1).split()
            if toks and not _is_initial(toks[0]) and _plausible(m.group(1)):
                add(m.start(1), m.end(1))
    for m in _AGE_PHRASE.finditer(text):
        seq = m.group(1)
        toks = seq.split()
        if (len(toks) >= 2 and _plausible(seq)) or _supported(seq):
            add(m.start(1), m.end(1))
    # Gazetteer alone: a known, unambiguous first name, with the capitalised words after it.
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
        add(s, e)
    # First name (even ambiguous) followed by a known surname: "Mark Smith", "Grace Patel".
    for m in re.finditer(rf"({_TOK}){_H}+({_TOK})", text):
        a, b = m.group(1), m.group(2)
        if _known(a)[0] and _known(b)[1] and not _common(a) and not _common(b) and b.lower() not in AMBIGUOUS:
            add(m.start(), m.end())
    found = [(s, e) for s, e in found if not _EPONYM_AFTER.match(text, e)]
    return [sp for sp in _propagate(text, found) if not _EPONYM_AFTER.match(text, sp.end)]


# A name followed by one of these words is an eponym, not a person: "Paget's disease", "Wolfram
# syndrome", "Treacher Collins syndrome", "Cohen kappa".
_EPONYM_AFTER = re.compile(
    r"(?:['’]s?)?[ \-](?:[A-Z][a-z]+[ \-])?(?i:syndromes?|diseases?|disorders?|signs?|tests?|sequence|"
    r"anomaly|dystrophy|myopathy|atrophy|ataxia|palsy|phenomenon|reflex|maneuver|manoeuvre|procedure|"
    r"operation|classification|criteria|score|scale|index|law|equation|formula|type|lesions?|tumou?rs?|"
    r"fracture|nodes?|cells?|bod(?:y|ies)|gland|duct|canal|deformity|contracture|neuroma|ulcer|hernia|"
    r"catheter|shunt|stent|method|technique|approach|incision|repair|kappa|coefficient|correlation|"
    r"distribution|curve|plot|model|effect|hypothesis|principle|rule|ratio|institute|"
    r"foundation|center|centre|hospital|university|college|school|clinic|library|database|study|trial)\b"
)


def _propagate(text: str, found: list[tuple[int, int]]) -> list[PhiSpan]:
    """Every other occurrence of a detected name word is a name too, with a capitalised word before it."""
    words: set[str] = set()
    for s, e in found:
        for t in re.findall(rf"[{_UP}][{_UP}{_LO}'’\-]+", text[s:e]):
            t = re.sub(r"['’]s$", "", t)
            if len(t) >= 3 and not _common(t):
                words.add(t)
    spans = [PhiSpan(s, e, "NAME") for s, e in found]
    if words:
        variants = set(words) | {w.upper() for w in words}
        alt = "|".join(re.escape(w) for w in sorted(variants, key=len, reverse=True))
        for m in re.finditer(rf"(?<![\w\-])(?:({_TOK}){_H}+)?(?:{alt})(?![\w\-])", text):
            s = m.start()
            if m.group(1) and (_common(m.group(1)) or m.group(1).lower() in AMBIGUOUS and not _known(m.group(1))[0]):
                s = m.start() + len(m.group(0)) - len(m.group(0).split()[-1])
            spans.append(PhiSpan(s, m.end(), "NAME"))
    return spans


# ---------------------------------------------------------------------------------------------


def _group(pattern: re.Pattern, text: str, kind: str, group: int = 0) -> list[PhiSpan]:
    return [PhiSpan(m.start(group), m.end(group), kind) for m in pattern.finditer(text) if m.group(group)]


def _dates(text: str, digits: bool) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    if _MONTH_WORD.search(text):
        out += _group(_MONTH_ALONE, text, "DATE", 1)
    out += _group(_HOLIDAY, text, "DATE")
    if not digits:  # every other date pattern needs a digit
        return out
    for pat in _DATE_PATTERNS:
        out += _group(pat, text, "DATE")
    out += _group(_ORDINAL_DAY, text, "DATE", 1)
    if "/" in text:
        out += _group(_SHORT_DATE, text, "DATE", 1)
    out += _group(_BIRTH_YEAR, text, "DATE", 1)
    for m in _DOB.finditer(text):
        rest = text[m.end() : m.end() + 40]
        for pat in (_DATE_PATTERNS[0], _DATE_PATTERNS[1], _DATE_VALUE):
            dm = pat.match(rest)
            if dm:
                out.append(PhiSpan(m.end(), m.end() + dm.end(), "DATE"))
                break
    return out


def _ages(text: str, digits: bool) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    if digits:
        for pat in _AGE_PATTERNS:
            out += _group(pat, text, "AGE", 1 if pat.groups else 0)
        for m in _AGE_SEX.finditer(text):
            if not _TEMP_BEFORE.search(text[max(0, m.start() - 15) : m.start()]):
                out.append(PhiSpan(m.start(1), m.end(1), "AGE"))
    lower = text.lower()
    if "ninety" in lower or "hundred" in lower:
        out += _group(_WORD_AGE[0], text, "AGE")
        out += _group(_WORD_AGE[1], text, "AGE", 1)
    return out


def _numbers(text: str, digits: bool) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    if "@" in text:
        out += _group(_EMAIL, text, "EMAIL")
    out += _group(_URL, text, "URL")
    if _TLD_ANY.search(text):
        out += _group(_URL_DOMAIN, text, "URL")
    out += _group(_IPV6, text, "IP")
    if not digits:  # everything below needs a digit
        return out
    out += _group(_IPV4, text, "IP")
    out += _group(_SSN, text, "SSN")
    out += _group(_SSN_CUE, text, "SSN", 1)
    for pat, group in ((_PHONE, 0), (_PHONE_CUE_SHORT, 1)):
        for m in pat.finditer(text):
            digits = re.sub(r"\D", "", m.group(group))
            if group == 0 and m.group(0).startswith("0") and not 10 <= len(digits) <= 11:
                continue
            cues = _PHONE_KIND.findall(text[max(0, m.start(group) - 30) : m.start(group)])
            kind = "FAX" if cues and cues[-1].lower() == "fax" else "PHONE"
            out.append(PhiSpan(m.start(group), m.end(group), kind))
    for m in _LABEL_RE.finditer(text):
        kind = next(k for k, _ in _LABELS if m.group(k) is not None)
        out.append(PhiSpan(m.start("value"), m.end("value"), kind))
    out += _group(_PLATE, text, "VEHICLE", 1)
    out += _group(_VIN, text, "VEHICLE")
    for m in _ID_SHAPE.finditer(text):
        tok = m.group()
        if sum(c.isdigit() for c in tok) >= 5 and not _CLINICAL_CODE.match(tok):
            out.append(PhiSpan(m.start(), m.end(), "ID"))
    out += _group(_LONG_DIGITS, text, "ID")
    return out


def _places(text: str, digits: bool) -> list[PhiSpan]:
    out: list[PhiSpan] = []
    if digits:
        out += _group(_STREET, text, "ADDRESS")
    for m in _STREET_NAMED.finditer(text):
        toks = _tokens(text, m.start(1), m.end(1))
        while len(toks) > 1 and (_common(toks[0][2]) or toks[0][2].lower() in _NOT_PLACES):
            toks.pop(0)
        if len(toks) > 1:
            out.append(PhiSpan(toks[0][0], toks[-1][1], "ADDRESS"))
    out += _group(_POBOX, text, "ADDRESS")
    for m in _CITY_STATE.finditer(text):
        state, zipc = m.group(2), m.group(3)
        city = m.group(1)
        words = city.split()
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
    out += _group(_ZIP_CUE, text, "ZIP", 1)
    for m in _UK_POSTCODE.finditer(text):
        if re.search(r"\d", m.group(1)[-3:]) and not _CLINICAL_CODE.match(m.group(1).split()[0]):
            out.append(PhiSpan(m.start(1), m.end(1), "ZIP"))
    out += _group(_COUNTY, text, "CITY", 1)
    out += _city_spans(text)
    # A 5-digit number right after a city or state: "Indianapolis, 46208".
    for m in _ZIP_AFTER_PLACE.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        if _STATE_AT_END.search(before) or _ends_with_city(before):
            out.append(PhiSpan(m.start(1), m.end(1), "ZIP"))
    for m in _FACILITY.finditer(text):
        words = m.group(1).split()
        if not words or any(w.lower().rstrip("'s") in _NOT_PLACES or _common(w) for w in words):
            continue
        if all(_english(w) for w in words) and not _is_city(" ".join(words)):
            continue
        out.append(PhiSpan(m.start(1), m.start(1) + len(m.group(1).rstrip()), "CITY"))
    return out


def find_spans(text: str) -> list[PhiSpan]:
    """All identifiers found in text: non-overlapping, sorted by start offset."""
    digits = _ANY_DIGIT.search(text) is not None
    places = _places(text, digits)
    # A name found inside a multi-word city ("Diego" in "San Diego") is the city.
    multi = [p for p in places if p.kind == "CITY" and " " in text[p.start : p.end]]
    names = [n for n in _name_spans(text) if not any(p.start <= n.start and n.end <= p.end for p in multi)]
    return _resolve(_numbers(text, digits) + _dates(text, digits) + _ages(text, digits) + places + names)


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
    spans = find_spans(text)
    parts: list[str] = []
    pos = 0
    for sp in spans:
        parts.append(text[pos : sp.start])
        parts.append(f"[{sp.kind}]")
        pos = sp.end
    parts.append(text[pos:])
    return ScrubResult("".join(parts), spans)
