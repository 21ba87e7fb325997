"""De-identification: replace HIPAA Safe Harbor identifiers in free text with [KIND] placeholders.

Rule-based and offline (regular expressions, cue words and a small gazetteer shipped in
rungs/data/names.txt): nothing is downloaded at run time, and every decision can be read here.

Policy (see corpora/phi/README.md for the full annotation guidelines the rules are measured against):
- Years standing alone ("in 2019", "since 2015") are kept: Safe Harbor allows the year. Every other
  date element goes: full dates, month + day, month + year, a month named alone with a date cue
  ("in March"), ordinal days ("on the 3rd"), dates of birth. Birth years ("born in 1931") are removed
  too, because they can reveal an age over 89.
- Ages over 89 become [AGE]; younger ages are kept (Safe Harbor allows them).
- Labels stay, values go: "MRN: 00482913" -> "MRN: [MRN]", "Dr. Kumar" -> "Dr. [NAME]", so the note
  still reads as a note.
- States are kept (allowed); street lines, cities/towns/counties and ZIP codes go.
- Clinical content must survive: doses ("5 mg"), vitals ("BP 120/80", "HR 72"), scores ("8/10",
  "5/5 strength"), lab values, ICD-10 codes, times and eponyms (Parkinson's disease) are not PHI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["KINDS", "PhiSpan", "ScrubResult", "scrub", "find_spans"]

KINDS: tuple[str, ...] = (
    "NAME",  # people: patients, relatives, clinicians
    "DATE",  # every date element except the year alone
    "AGE",  # ages over 89
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",  # medical record / chart / hospital numbers
    "ACCOUNT",  # account, billing, encounter and visit numbers
    "HEALTH_PLAN",  # health plan beneficiary, member, policy, Medicare/Medicaid numbers
    "LICENSE",  # certificate and licence numbers: DEA, NPI, state licence, driver's licence
    "VEHICLE",  # VINs and licence plates
    "DEVICE",  # device identifiers and serial numbers
    "ADDRESS",  # street address lines, PO boxes
    "CITY",  # cities, towns, counties (geographic subdivisions smaller than a state)
    "ZIP",
    "URL",
    "IP",
    "ID",  # any other unique identifying number (lab accession, specimen, claim, case numbers)
)


@dataclass(frozen=True)
class PhiSpan:
    """One identifier: [start, end) character offsets into the ORIGINAL text, and its kind."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text and the spans (in the original text's offsets) that were replaced."""

    text: str
    spans: list[PhiSpan]


# Higher wins when two candidate spans overlap; equal priority -> the longer span wins.
_PRIORITY = {
    "EMAIL": 100,
    "URL": 95,
    "IP": 90,
    "SSN": 85,
    "MRN": 80,
    "ACCOUNT": 80,
    "HEALTH_PLAN": 80,
    "LICENSE": 80,
    "VEHICLE": 80,
    "DEVICE": 80,
    "ID": 78,
    "FAX": 76,
    "PHONE": 75,
    "ADDRESS": 70,
    "ZIP": 65,
    "DATE": 60,
    "AGE": 55,
    "CITY": 50,
    "NAME": 40,
}

# ---------------------------------------------------------------------------------------------
# Gazetteer


@lru_cache(maxsize=1)
def _names() -> tuple[frozenset[str], frozenset[str]]:
    first: set[str] = set()
    last: set[str] = set()
    target = first
    text = resources.files("rungs").joinpath("data/names.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip()
        if line == "# first":
            target = first
        elif line == "# last":
            target = last
        elif line and not line.startswith("#"):
            target.add(line.lower())
    return frozenset(first), frozenset(last)


# Gazetteer names that are also ordinary words, months or clinical terms: never a name on their own.
AMBIGUOUS = frozenset(
    """
    april may june august will mark bill grace hope faith joy rose ivy pat sandy dawn summer art
    chase max jack long young white black brown green gray grey king hill wood woods rice stone
    hunt rose price ford cook bell bailey mason hunter fox west wells mills grant ward hart major
    gene lee kim min jin wei yan li chan dale glen jordan carter parker cole dean
    baker fisher fuller turner webb weaver carpenter gardner palmer porter payne pierce
    """.split()
)

# Capitalised words that look like names to the rules but are clinical / everyday vocabulary.
_NOT_NAMES = frozenset(
    """
    patient patients doctor nurse the a an and or of in on at to for with no not yes hello hi thanks
    mr mrs ms dr pt md do rn np pa he she they his her him i we you it this that who what how when
    history physical exam examination assessment plan impression diagnosis diagnoses discharge
    admission admitted hospital clinic emergency department unit ward floor service medicine surgery
    cardiology neurology oncology radiology pathology pediatrics psychiatry orthopedics urology
    chief complaint hpi ros pmh psh fh sh meds medications allergies vitals labs results review
    follow followup follow-up return instructions condition stable signed dictated transcribed
    normal abnormal negative positive left right bilateral mild moderate severe acute chronic
    parkinson parkinson's alzheimer alzheimer's crohn crohn's hodgkin hodgkin's graves cushing
    addison addison's bell's down foley babinski murphy murphy's apgar glasgow tylenol advil motrin
    lasix coumadin lipitor norvasc zoloft xanax valium ativan keppra dilantin insulin heparin
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    january february march april may june july august september october november december
    street avenue road drive lane court boulevard suite apt
    """.split()
)

# ---------------------------------------------------------------------------------------------
# Patterns

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_ORD = r"(?:\d{1,2}(?:st|nd|rd|th)?)"
_YEAR = r"(?:(?:19|20)\d{2}|'\d{2})"

_DATE_PATTERNS = [
    # 03/14/2023, 3-14-23, 14.03.2023
    re.compile(r"\b(?:0?[1-9]|[12]\d|3[01])[/\-.](?:0?[1-9]|[12]\d|3[01])[/\-.](?:19|20)?\d{2}\b"),
    # 2023-03-14, 2023/03/14
    re.compile(r"\b(?:19|20)\d{2}[/\-.](?:0?[1-9]|1[0-2])[/\-.](?:0?[1-9]|[12]\d|3[01])\b"),
    # March 14, 2023 / Mar. 14th 2023 / March 14
    re.compile(rf"\b{_MONTHS}\.?\s+{_ORD}(?:,?\s+{_YEAR})?\b"),
    # 14 March 2023 / 14th of March / 14-Mar-2023
    re.compile(rf"\b{_ORD}(?:\s+of)?[\s\-]+{_MONTHS}\.?(?:[\s\-,]+{_YEAR})?\b"),
    # March 2023, Mar-2023, March of 2023
    re.compile(rf"\b{_MONTHS}\.?(?:\s+of)?[\s\-,]+(?:19|20)\d{{2}}\b"),
    # 03/2023
    re.compile(r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b"),
]
# on the 3rd / since the 21st
_ORDINAL_DAY = re.compile(r"\b(?:on|by|of|since|until|from|before|after) the (\d{1,2}(?:st|nd|rd|th))\b")

# m/d without year only after a date cue; "8/10 pain" and "5/5 strength" stay.
_SHORT_DATE = re.compile(
    r"(?i:\b(?:on|since|from|until|till|through|thru|dated|by|after|before|of|seen|admitted|"
    r"discharged)\s+)((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\b(?!\s*(?:pain|strength|scale|murmur))"
)
# A month named alone: "in March", "since last May" (capitalised, after a cue).
_MONTH_ALONE = re.compile(
    r"\b(?:in|since|during|until|till|by|of|early|late|mid|last|next|this|from|through)\s+"
    r"(?:early\s+|late\s+|mid-?)?(January|February|March|April|May|June|July|August|September|"
    r"October|November|December)\b"
)
_HOLIDAY = re.compile(
    r"\b(?:Christmas(?: Eve| Day)?|Thanksgiving(?: Day)?|New Year's(?: Eve| Day)?|Easter(?: Sunday)?|"
    r"Halloween|Independence Day|Memorial Day|Labor Day|Valentine's Day)\b"
)
_BIRTH = re.compile(
    r"(?i:\b(?:born|birth)\s+(?:in\s+|on\s+)?)((?:19|20)\d{2})\b"
)
_DOB = re.compile(r"(?i:\b(?:DOB|D\.O\.B\.|date of birth|birth ?date)\s*[:#]?\s*)(\S+(?:\s+\S+){0,2})")

_EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")
_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"')\]]+|"
    r"\b[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.(?:com|org|net|gov|edu|io|health|care|us|co\.uk|nhs\.uk)"
    r"(?:/[^\s<>\"')\]]*)?",
    re.IGNORECASE,
)
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}\b")
_SSN_CUE = re.compile(r"(?i:\b(?:SSN|social security(?: number| no\.?| #)?|SS#)\s*[:#]?\s*)(\d{9}|\d{3}[- ]\d{2}[- ]\d{4}|\*{3}-\*{2}-\d{4}|x{3}-x{2}-\d{4})")
_PHONE = re.compile(
    r"(?<![\w/.])(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?:\s*(?:x|ext\.?)\s*\d{1,5})?(?![\w/])"
    r"|(?<![\w/.])\+\d{1,3}(?:[\s.\-]\d{1,4}){2,4}(?![\w/])"
)
_PHONE_CUE_7 = re.compile(
    r"(?i:\b(?:phone|tel|telephone|cell|mobile|pager|ph|call|fax|extension|ext)\.?\s*(?:number|no\.?|#)?\s*[:#]?\s*)"
    r"(\d{3}-\d{4}|\d{4,5})\b"
)
_FAX_CUE = re.compile(r"(?i)\bfax\b")

# "<label> <value>": the value is an identifier of the kind. Labels are matched case-insensitively.
_LABELS: list[tuple[str, str]] = [
    ("MRN", r"MRN|MR\s?#|MR\s?No\.?|medical record(?: number| no\.?| #)?|med(?:ical)? rec(?:ord)?\.? ?#|"
            r"chart(?: number| no\.?| #)|hospital (?:number|no\.?|#)|unit (?:number|no\.?)|patient ID|"
            r"NHS (?:number|no\.?)|record #"),
    ("ACCOUNT", r"account(?: number| no\.?| #)?|acct\.?(?: #| no\.?)?|billing (?:number|#|no\.?)|"
                r"encounter(?: number| no\.?| #| ID)|visit(?: number| no\.?| #| ID)|FIN|CSN|HAR"),
    ("HEALTH_PLAN", r"member(?: ID| number| no\.?| #)|subscriber(?: ID| number| no\.?| #)|"
                    r"policy(?: number| no\.?| #)?|group(?: number| no\.?| #)|insurance(?: ID| number| no\.?| #)|"
                    r"Medicare(?: number| no\.?| #| ID| MBI)?|Medicaid(?: number| no\.?| #| ID)?|MBI|"
                    r"beneficiary(?: ID| number| no\.?| #)?|health plan(?: ID| number| no\.?| #)|HICN"),
    ("LICENSE", r"DEA(?: number| no\.?| #)?|NPI(?: number| no\.?| #)?|licen[cs]e(?: number| no\.?| #)|"
                r"lic\.? ?#|driver'?s licen[cs]e(?: number| no\.?| #)?|DL ?#|certificate(?: number| no\.?| #)|"
                r"board certification(?: number| no\.?| #)?|state licen[cs]e(?: number| no\.?| #)?"),
    ("VEHICLE", r"VIN(?: number| no\.?| #)?|licen[cs]e plate(?: number| no\.?| #)?|plate(?: number| no\.?| #)?|"
                r"tag number"),
    ("DEVICE", r"serial(?: number| no\.?| #)?|S/N|SN|device(?: ID| identifier| serial)|UDI|IMEI|"
               r"model/serial|lot(?: number| no\.?| #)"),
    ("ID", r"accession(?: number| no\.?| #)?|specimen(?: ID| number| no\.?| #)|claim(?: number| no\.?| #)|"
           r"case(?: number| no\.?| #)|requisition(?: number| no\.?| #)|order(?: number| no\.?| #)|"
           r"referral(?: number| no\.?| #)|reference(?: number| no\.?| #)|ref(?:\.| #)"),
]
_VALUE = r"([A-Z0-9](?:[A-Z0-9\-/]*[0-9][A-Z0-9\-/]*)?[A-Z0-9]|\d)"
_LABEL_RES = [
    (kind, re.compile(rf"(?i:\b(?:{lab}))\s*(?:is|was|of)?\s*[:#=]?\s*(?:#\s*)?{_VALUE}(?![\w\-])"))
    for kind, lab in _LABELS
]
_VIN = re.compile(r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b")

_AGE_NUM = r"(9\d|1[0-2]\d)"
_AGE_PATTERNS = [
    re.compile(rf"\b{_AGE_NUM}(?=[\s\-]*(?:years?|yrs?|y/?o|yo|y\.o\.)(?:[\s\-]*old)?\b)", re.I),
    re.compile(rf"(?i:\b(?:age|aged|age:)\s*){_AGE_NUM}\b"),
    re.compile(rf"(?i:\b(?:turned|turns|turning)\s+){_AGE_NUM}\b"),
    re.compile(rf"\b{_AGE_NUM}(?=\s*(?:M|F|yo[MF]|y[MF])\b)"),
]
_WORD_AGE = re.compile(
    r"(?i)\b(?:ninety|one hundred)(?:[\s\-](?:one|two|three|four|five|six|seven|eight|nine))?"
    r"(?=[\s\-]+years?[\s\-]+old|[\s\-]+year[\s\-]old)"
)

_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close|Row|Pike|Alley)"
)
_UNIT = r"(?:,?\s*(?:Apt|Apartment|Unit|Suite|Ste|#|Room|Rm|Fl|Floor)\.?\s*#?\s*[A-Za-z0-9\-]+)?"
_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[NSEW]\.?\s+|North\s+|South\s+|East\s+|West\s+)?"
    rf"(?:[A-Z][A-Za-z'\-]*|\d+(?:st|nd|rd|th))(?:\s+[A-Z][A-Za-z'\-]*){{0,3}}\s+{_STREET_TYPES}\b\.?{_UNIT}"
)
_POBOX = re.compile(r"\b(?:P\.?\s?O\.?\s?Box|Post Office Box)\s+\d+\b", re.I)
_STATES = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
    r"NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|Alabama|Alaska|Arizona|Arkansas|California|"
    r"Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|"
    r"Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|"
    r"Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
    r"Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|"
    r"Virginia|Washington|West Virginia|Wisconsin|Wyoming)"
)
# "Springfield, IL 62704" / "Springfield, Illinois": city before a state, ZIP after it.
_CITY_STATE = re.compile(
    rf"\b([A-Z][a-z]+(?:[\s\-][A-Z][a-z]+){{0,2}}),\s*{_STATES}\b(?:\.?,?\s*(\d{{5}}(?:-\d{{4}})?))?"
)
_ZIP_CUE = re.compile(r"(?i:\b(?:zip|zip code|postal code|postcode)\s*[:#]?\s*)(\d{5}(?:-\d{4})?)\b")
_COUNTY = re.compile(r"\b([A-Z][a-z]+(?:\s[A-Z][a-z]+)?\s(?:County|Parish|Borough|Township))\b")
_CITY_CUE = re.compile(
    r"\b(?:lives in|living in|resides in|resident of|moved (?:here )?from|moved to|relocated (?:here )?from|"
    r"relocated to|from|in|near|native of|visiting from|transferred from .{0,40}? in|back to|drove from|"
    r"traveled to|travelled to|trip to)\s+([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\b"
)

# Names -------------------------------------------------------------------------------------------
_NAME_TOKEN = r"(?:[A-Z][a-z]+(?:[\-'][A-Z]?[a-z]+)?|[A-Z]'[A-Z][a-z]+|Mc[A-Z][a-z]+|Mac[A-Z][a-z]+|[A-Z]\.)"
_NAME_SEQ = rf"{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,2}}"
_TITLE = re.compile(
    rf"\b(?:Dr|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Nurse|Sister|Father|Rev|Judge|Officer)\.?\s+({_NAME_SEQ})"
)
_CREDENTIALS = (
    r"(?:MD|M\.D\.|DO|D\.O\.|RN|R\.N\.|NP|FNP|FNP-C|ANP|APRN|PA|PA-C|PhD|Ph\.D\.|PharmD|LPN|LCSW|MSW|"
    r"DPM|DDS|DMD|CNM|CRNA|RD|PT|DPT|OT|OTR|MBBS|FRCP|FACP|FACS|MPH|MS|BSN|MSN|DNP)"
)
_NAME_CRED = re.compile(rf"\b({_NAME_SEQ}),?\s+{_CREDENTIALS}\b(?!-)")
_NAME_CUES = re.compile(
    r"(?im:(?:^|\b)(?:patient name|pt name|name|patient|pt|signed|electronically signed by|signed by|"
    r"dictated by|transcribed by|attending|attending physician|resident|fellow|intern|surgeon|"
    r"anesthesiologist|referring physician|referring provider|referred by|pcp|primary care(?: physician| provider)?|"
    r"provider|physician|cc|emergency contact|nok|next of kin|contact|guardian|caregiver|interpreter|"
    r"witness|author|reviewed by|seen by|seen with|discussed with|spoke with|spoke to|called|"
    r"accompanied by|with (?:his|her|their) (?:wife|husband|partner|son|daughter|mother|father|sister|brother)|"
    r"(?:his|her|their|patient's|pt's) (?:wife|husband|partner|son|daughter|mother|father|sister|brother|"
    r"niece|nephew|grandson|granddaughter|aunt|uncle|friend|neighbor|neighbour|caregiver|fiance|fiancee),?|"
    r"dear|sincerely|regards|thanks|thank you|hi|hello|hey|good morning|good afternoon|cordially)"
    r"[ \t]*[:,]?[ \t]*\n?[ \t]*)"
    rf"({_NAME_SEQ})"
)
_LAST_FIRST = re.compile(rf"(?m)(?:^|(?<=:\s))([A-Z][a-z]+(?:[\-'][A-Z][a-z]+)?,\s+[A-Z][a-z]+(?:\s+[A-Z]\.?)?)(?=\s*$|\s+(?:MRN|DOB|\())")
_CAP_SEQ = re.compile(rf"\b{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{1,2}}\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+")


def _is_name_token(tok: str) -> bool:
    t = tok.lower().rstrip(".")
    return len(t) > 1 and t not in _NOT_NAMES


def _strip_nonnames(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim leading/trailing tokens that are not names (e.g. 'Smith Today' -> 'Smith')."""
    toks = [(m.start() + start, m.end() + start, m.group()) for m in re.finditer(r"\S+", text[start:end])]
    while toks and not _is_name_token(toks[0][2]):
        toks.pop(0)
    while toks and not _is_name_token(toks[-1][2]):
        toks.pop()
    if not toks:
        return None
    return toks[0][0], toks[-1][1]


def _known(tok: str) -> tuple[bool, bool]:
    first, last = _names()
    t = re.sub(r"[^a-z]", "", tok.lower())
    return t in first, t in last


def _name_spans(text: str) -> list[PhiSpan]:
    out: list[PhiSpan] = []

    def add(s: int, e: int) -> None:
        trimmed = _strip_nonnames(text, s, e)
        if trimmed:
            out.append(PhiSpan(trimmed[0], trimmed[1], "NAME"))

    for m in _TITLE.finditer(text):
        add(m.start(1), m.end(1))
    for m in _NAME_CRED.finditer(text):
        # Keep only the trailing run of name-like tokens ("Signed: Dr Anna Lee, MD" handled above).
        s, e = m.start(1), m.end(1)
        add(s, e)
    for m in _NAME_CUES.finditer(text):
        seq = m.group(1)
        toks = seq.split()
        known = [any(_known(t)) for t in toks]
        if any(known) or len(toks) >= 2 and all(t[0].isupper() and t.lower() not in _NOT_NAMES for t in toks):
            add(m.start(1), m.end(1))
    for m in _LAST_FIRST.finditer(text):
        add(m.start(1), m.end(1))
    # Gazetteer: "<First> <Last>" or "<First>" / "<Last>" when unambiguous.
    for m in _CAP_SEQ.finditer(text):
        toks = m.group().split()
        f0, _ = _known(toks[0])
        if f0 and toks[0].lower() not in AMBIGUOUS and all(_is_name_token(t) for t in toks):
            add(m.start(), m.end())
        elif f0 and any(_known(t)[1] for t in toks[1:]) and all(_is_name_token(t) for t in toks):
            add(m.start(), m.end())
    for m in _WORD.finditer(text):
        tok = m.group()
        if not tok[0].isupper() or tok.lower() in AMBIGUOUS or tok.lower() in _NOT_NAMES:
            continue
        f, _l = _known(tok)
        if f:
            out.append(PhiSpan(m.start(), m.end(), "NAME"))
    # Propagate: every other occurrence of a detected name token is a name too.
    tokens = set()
    for sp in out:
        for t in re.findall(r"[A-Z][A-Za-z'\-]+", text[sp.start : sp.end]):
            if len(t) >= 3 and t.lower() not in _NOT_NAMES and t.lower() not in AMBIGUOUS:
                tokens.add(t)
    for t in tokens:
        for m in re.finditer(rf"\b{re.escape(t)}\b", text):
            out.append(PhiSpan(m.start(), m.end(), "NAME"))
    return out


# ---------------------------------------------------------------------------------------------


def _group_spans(pattern: re.Pattern, text: str, kind: str, group: int = 0) -> list[PhiSpan]:
    return [PhiSpan(m.start(group), m.end(group), kind) for m in pattern.finditer(text) if m.group(group)]


def find_spans(text: str) -> list[PhiSpan]:
    """All identifiers found in text, non-overlapping, sorted by start offset."""
    cands: list[PhiSpan] = []
    cands += _group_spans(_EMAIL, text, "EMAIL")
    cands += _group_spans(_URL, text, "URL")
    cands += _group_spans(_IPV4, text, "IP")
    cands += _group_spans(_IPV6, text, "IP")
    cands += _group_spans(_SSN, text, "SSN")
    cands += _group_spans(_SSN_CUE, text, "SSN", 1)
    for m in _PHONE.finditer(text):
        before = text[max(0, m.start() - 25) : m.start()]
        kind = "FAX" if _FAX_CUE.search(before) and not re.search(r"(?i)(phone|tel|cell)\W*$", before) else "PHONE"
        cands.append(PhiSpan(m.start(), m.end(), kind))
    for m in _PHONE_CUE_7.finditer(text):
        kind = "FAX" if m.group(0).lower().startswith("fax") else "PHONE"
        cands.append(PhiSpan(m.start(1), m.end(1), kind))
    for kind, pat in _LABEL_RES:
        cands += _group_spans(pat, text, kind, 1)
    cands += _group_spans(_VIN, text, "VEHICLE")
    for pat in _DATE_PATTERNS:
        cands += _group_spans(pat, text, "DATE")
    cands += _group_spans(_SHORT_DATE, text, "DATE", 1)
    cands += _group_spans(_ORDINAL_DAY, text, "DATE", 1)
    cands += _group_spans(_MONTH_ALONE, text, "DATE", 1)
    cands += _group_spans(_HOLIDAY, text, "DATE")
    cands += _group_spans(_BIRTH, text, "DATE", 1)
    for m in _DOB.finditer(text):
        val = m.group(1)
        dm = None
        for pat in _DATE_PATTERNS[:6]:
            dm = pat.match(val)
            if dm:
                break
        if dm:
            cands.append(PhiSpan(m.start(1), m.start(1) + dm.end(), "DATE"))
    for pat in _AGE_PATTERNS:
        cands += _group_spans(pat, text, "AGE", 1 if pat.groups else 0)
    cands += _group_spans(_WORD_AGE, text, "AGE")
    cands += _group_spans(_STREET, text, "ADDRESS")
    cands += _group_spans(_POBOX, text, "ADDRESS")
    for m in _CITY_STATE.finditer(text):
        s, e = m.start(1), m.end(1)
        trimmed = _trim_city(text, s, e)
        if trimmed:
            cands.append(PhiSpan(trimmed[0], trimmed[1], "CITY"))
        if m.group(2):
            cands.append(PhiSpan(m.start(2), m.end(2), "ZIP"))
    cands += _group_spans(_ZIP_CUE, text, "ZIP", 1)
    cands += _group_spans(_COUNTY, text, "CITY", 1)
    for m in _CITY_CUE.finditer(text):
        if m.group(1).lower() in _cities():
            cands.append(PhiSpan(m.start(1), m.end(1), "CITY"))
    cands += _name_spans(text)
    return _resolve(cands)


def _trim_city(text: str, s: int, e: int) -> tuple[int, int] | None:
    words = [(m.start() + s, m.end() + s, m.group()) for m in re.finditer(r"[A-Za-z\-]+", text[s:e])]
    # A street type before the city belongs to the street ("Main Street, Springfield, IL").
    while words and (re.fullmatch(_STREET_TYPES, words[0][2]) or words[0][2].lower() in _NOT_NAMES):
        words.pop(0)
    if not words:
        return None
    return words[0][0], words[-1][1]


@lru_cache(maxsize=1)
def _cities() -> frozenset[str]:
    try:
        text = resources.files("rungs").joinpath("data/cities.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _resolve(cands: list[PhiSpan]) -> list[PhiSpan]:
    cands = [c for c in cands if c.end > c.start]
    cands.sort(key=lambda c: (-_PRIORITY[c.kind], -(c.end - c.start), c.start))
    taken: list[PhiSpan] = []
    for c in cands:
        if any(c.start < t.end and t.start < c.end for t in taken):
            continue
        taken.append(c)
    taken.sort(key=lambda c: c.start)
    return taken


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
