"""PHI scrubber: the annotated set is well-formed, recall on its held-out split meets the goal,
every Safe Harbor kind is replaced, and clinical content survives."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
import tomllib

import pytest

from rungs.kernel import PROJECT_ROOT
from rungs.curation import PHI_KINDS, PhiSpan, ScrubResult, find_spans, scrub

PHI_DIR = PROJECT_ROOT / "corpora" / "phi"
ANNOTATED = PHI_DIR / "annotated.jsonl"


def _load_module(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in ANNOTATED.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------- the data set


def test_every_annotated_span_matches_its_text(rows):
    total = 0
    for row in rows:
        text = row["text"]
        previous_end = 0
        for span in sorted(row["spans"], key=lambda s: s["start"]):
            where = f"{row['id']} {span}"
            assert 0 <= span["start"] < span["end"] <= len(text), where
            assert text[span["start"] : span["end"]] == span["text"], where
            assert span["text"] == span["text"].strip(), f"{where}: span has surrounding space"
            assert span["kind"] in PHI_KINDS, where
            assert span["start"] >= previous_end, f"{where}: overlaps the previous span"
            previous_end = span["end"]
            total += 1
    assert total >= 200  # the issue asks for at least 200 labelled spans
    splits = {row["split"] for row in rows}
    assert splits == {"dev", "dev2", "dev3", "test", "test2", "test3", "dev4", "test4", "test5", "test6", "test7", "test8", "test9", "test10", "test11", "test12", "test13"}
    assert len({row["id"] for row in rows}) == len(rows)


def test_annotated_jsonl_is_what_build_py_makes_from_the_marked_up_notes(rows):
    build = _load_module("phi_build", PHI_DIR / "build.py")
    assert build.build() == rows, "run `python corpora/phi/build.py` after editing notes_*.txt"


@pytest.mark.parametrize("split", ["test", "test2"])
def test_recall_on_the_held_out_splits_meets_the_goal(rows, split):
    bench = _load_module("phi_eval", PROJECT_ROOT / "bench" / "phi_eval.py")
    result = bench.evaluate([r for r in rows if r["split"] == split])
    precision, recall, _ = bench.overall(result)
    assert recall >= 0.95, result["misses"]
    assert precision >= 0.9, result["false_pos"]


def test_bench_metrics_on_a_hand_example():
    """bench/phi_eval.py's counts: a half-replaced name is a strict miss but half a token hit; punctuation
    left in place does not make a span a miss; a replacement touching no gold span is a false positive."""
    bench = _load_module("phi_eval", PROJECT_ROOT / "bench" / "phi_eval.py")
    text = "Paul Castellano seen 03/14/2023, call (508) 555-0143. BP 120/80."
    gold = [{"start": text.index(v), "end": text.index(v) + len(v), "kind": k, "text": v}
            for v, k in [("Paul Castellano", "NAME"), ("03/14/2023", "DATE"), ("(508) 555-0143", "PHONE")]]

    def at(value, kind="ID"):
        return PhiSpan(text.index(value), text.index(value) + len(value), kind)

    preds = [at("Castellano", "NAME"), at("03/14/2023", "DATE"), at("508"), at("555-0143"), at("120/80")]
    counts = bench.score_note(text, gold, preds)
    assert counts == {"spans": 3, "spans_caught": 2, "tokens": 8, "tokens_caught": 7, "preds": 5,
                      "preds_ok": 4, "pred_tokens": 9, "pred_tokens_ok": 7}
    row = {"id": "hand", "split": "x", "text": text, "spans": gold}
    res = bench.evaluate([row], lambda _t: preds if _t == text else [])
    assert res["misses"] == [("hand", "NAME", "Paul Castellano")]
    assert res["false_pos"] == [("hand", "ID", "120/80")]
    assert bench.intervals(res)["strict full-span recall"][0] == pytest.approx(2 / 3)
    assert bench.overall(res)[:2] == pytest.approx((4 / 5, 2 / 3))


# ------------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("Seen by Dr. Okafor in clinic.", "Okafor", "NAME"),
        ("Patient: Harold J. Whitaker          MRN: 00482913", "Harold J. Whitaker", "NAME"),
        ("Her daughter Janice will help.", "Janice", "NAME"),
        ("Electronically signed by Priya Raman, MD", "Priya Raman", "NAME"),
        ("Admitted 03/09/2023 with dyspnea.", "03/09/2023", "DATE"),
        ("Seen on March 21, 2023 at 10:30.", "March 21, 2023", "DATE"),
        ("Surgery 14-Mar-2023, uneventful.", "14-Mar-2023", "DATE"),
        ("CT on 2023-05-27 showed nothing.", "2023-05-27", "DATE"),
        ("Labs were drawn on the 3rd.", "the 3rd", "DATE"),
        ("Symptoms began in March.", "March", "DATE"),
        ("She is a 92-year-old woman.", "92", "AGE"),
        ("Call 617-555-0134 with questions.", "617-555-0134", "PHONE"),
        ("Tel (951) 555-0112  Fax (951) 555-0113", "(951) 555-0113", "FAX"),
        ("Reach me at j.doe84@example.com please.", "j.doe84@example.com", "EMAIL"),
        ("SSN: 078-05-1120", "078-05-1120", "SSN"),
        ("MRN: RCM-558201", "RCM-558201", "MRN"),
        ("Account #: 7730021458", "7730021458", "ACCOUNT"),
        ("member ID XEB914422071", "XEB914422071", "HEALTH_PLAN"),
        ("Prescriber DEA BN4829175.", "BN4829175", "LICENSE"),
        ("VIN 4S4BSANC5H3218844 per police.", "4S4BSANC5H3218844", "VEHICLE"),
        ("pacemaker serial no. RNB628104S", "RNB628104S", "DEVICE"),
        ("Lives at 42 Oak Street, Apt 3 with her son.", "42 Oak Street, Apt 3", "ADDRESS"),
        ("Moved here from Springfield, IL 62704 last year.", "Springfield", "CITY"),
        ("Moved here from Springfield, IL 62704 last year.", "62704", "ZIP"),
        ("Results at https://portal.example-health.org/r/1 now.", "https://portal.example-health.org/r/1", "URL"),
        ("Workstation 10.24.118.7 logged.", "10.24.118.7", "IP"),
        ("Accession: CT23-0551987", "CT23-0551987", "ID"),
    ],
)
def test_each_kind_is_found_and_replaced(text, value, kind):
    result = scrub(text)
    start = text.index(value)
    assert PhiSpan(start, start + len(value), kind) in result.spans, result.spans
    assert f"[{kind}]" in result.text and value not in result.text


def _leaks(text: str, value: str) -> bool:
    """Does any letter or digit run of value survive scrubbing (outside a placeholder)?"""
    out = scrub(text).text
    return any(re.search(rf"(?<![\w\[]){re.escape(tok)}(?![\w\]])", out) for tok in re.findall(r"[^\W_]+", value))


# Classes of identifiers other writers use (corpora/phi/README.md, "Rules added for test3's classes"):
# each case is (text, the identifier in it).
@pytest.mark.parametrize(
    ("text", "value"),
    [
        # ordinal days wherever no count can follow, holidays in any case, lower-case month + year
        ("so we saw you right around the 20th\npatient: yes", "the 20th"),
        ("she needs a note for the 18th through the 21st.", "the 18th"),
        ("she needs a note for the 18th through the 21st.", "the 21st"),
        ("IOP 3x/week starting the 11th.", "the 11th"),
        ('Mood "better since the fourteenth", she says.', "the fourteenth"),
        ("up four times a night since about boxing day", "boxing day"),
        ("yeah right after martin luther king day", "martin luther king day"),
        ("Cardiac rehab starting St Patrick's Day week.", "St Patrick's Day"),
        ("She has lived with us since Whitsun 2022.", "Whitsun 2022"),
        ("born on tet in the year of the monkey", "tet"),
        ("no, december 2019 it was", "december 2019"),
        ("caller: may fifth nineteen thirty-three, she's fine", "may fifth nineteen thirty-three"),
        # numbers: masked SSNs, UK numbers in the 555 range, extensions, a number read out in words
        ("Guarantor SSN on file: XXX-XX-6624.", "XXX-XX-6624"),
        ("SSN for public health report: ###-##-8815.", "###-##-8815"),
        ("Identity verified with SSN last four 2290.", "2290"),
        ("Tel 0113 555 0118.", "0113 555 0118"),
        ("text the mobile 07700 555 0146 please", "07700 555 0146"),
        ("Employee Health, ext 5-0128", "5-0128"),
        ("patient: five seven oh, five five five, oh one four two.", "five seven oh, five five five, oh one four two"),
        # labelled values with a prefix, blood-unit numbers, lot lists, DICOM files
        ("Oregon state licence MD 204418; based in Portland.", "MD 204418"),
        ("state licence MD.0048815", "MD.0048815"),
        ("Group # GRP 55012", "GRP 55012"),
        ("AZ Health Plan member AZH 88103-4472.", "AZH 88103-4472"),
        ("Unit numbers W0417 24 118822 4, W0417 24 118823 2.", "W0417 24 118823 2"),
        ("lot numbers MMR-Y004417, VAR-X88120, HAV-R23390.", "VAR-X88120"),
        ("withheld from teaching file: CT_3Dface_recon_RAD8830127.dcm.", "CT_3Dface_recon_RAD8830127.dcm"),
        # ages over 89 with a cue other than "years"
        ("DOB: 07-04-1932 (92 y)", "92"),
        ('patient said "I made it to ninety-six, no tubes."', "ninety-six"),
        ("his dad lived to ninety-seven mind", "ninety-seven"),
        ("Doctor: How old are you now?\nPatient: Ninety-four come Easter.", "Ninety-four"),
        ("His brother Emrys is 97 and lives nearby.", "97"),
        # streets of other countries, flats, floors, districts after a street or before a postcode
        ("Lives with son at 12 Bóthar na Trá, Salthill, Co. Galway H91 X2F7.", "Bóthar na Trá"),
        ("Lives with son at 12 Bóthar na Trá, Salthill, Co. Galway H91 X2F7.", "Salthill"),
        ("Lives with son at 12 Bóthar na Trá, Salthill, Co. Galway H91 X2F7.", "H91 X2F7"),
        ("can i confirm your address, still 4 Heol y Nant, Pontypridd?", "Heol y Nant"),
        ("Pharmacy is the one on Calle Ocho near my work.", "Calle Ocho"),
        ("Address: Flat 6, Wensum Court, 22 Riverside Road, Norwich NR1 1SR.", "Flat 6, Wensum Court"),
        ("400 Wickenden St, Floor 3, Providence, RI 02903", "Floor 3"),
        ("He's at 880 NW 27th Ave, Unit 3, Miami 33125.", "880 NW 27th Ave, Unit 3"),
        ("14 Beckett Grove, Headingley, LS6 3PQ", "Headingley"),
        ("27 Balgray Hill, Springburn, Glasgow G21 3TB", "27 Balgray Hill"),
        ("a walk-up at 61 Wolcott Street, 2nd Floor, Red Hook, Brooklyn.", "Red Hook"),
        ("caller: 2207 halsted street, chicago, 60614", "chicago, 60614"),
        ("pt: i cut my hand at the restaurant on mission street", "mission street"),
        ("the pharmacy on kirby avenue says his refill (Rx 4471) is due", "kirby avenue"),
        ("Brought in by East Baton Rouge Parish EMS.", "East Baton Rouge"),
        ("Prior CT at Kona Valley Medical Center for comparison.", "Kona"),
        ("GP: Dr Hattie Fairbrother, Wymondham Medical Practice.", "Wymondham"),
        ("Bloods through the Seacroft phlebotomy service.", "Seacroft"),
        # names: nicknames, suffixes, initials, names that are words after a cue, lower-case dialogue
        ('identified as Reginald "Reggie" Miles on 8/2.', 'Reginald "Reggie" Miles'),
        ("Patient: Obadiah Fairweather III    MRN: 4490026", "Obadiah Fairweather III"),
        ("Report issued. Electronically signed O. Pennington.", "O. Pennington"),
        ("access by M. Kowalski (unit clerk) not linked to an encounter", "M. Kowalski"),
        ("PCP: Dr. Hope\nFollow-up with Dr. Hope on Friday.", "Hope"),
        ("Received pt from night RN Miles. A&O x3.", "Miles"),
        ("0630: Report to day RN Faith. Family to meet at 1000.", "Faith"),
        ("Received pt Young, Harold (Hal) from nights.", "Hal"),
        ("Lactation: call Grace at 269-555-0191 with questions.", "Grace"),
        ("Family meeting with son Pieter and daughter-in-law June.", "June"),
        ("Pt mentions co-worker Brennan has been supportive.", "Brennan"),
        ("S: Wojciechowski, Stanisław, 71M, post-op day 2 CABG x3.", "Wojciechowski, Stanisław"),
        ("Inbound MRN mismatch for patient Achterberg, Willemijn (DOB 1949-11-02).", "Achterberg, Willemijn"),
        ('2025-07-07T22:14:09Z action=VIEW pt="Quennell, Ambrose" mrn=5520914', "Quennell, Ambrose"),
        ("Patient: TREVASKIS, PRUDENCE A    MRN: 00918273", "TREVASKIS, PRUDENCE A"),
        ("Pt Avery Nakamura-Blake (they/them), 27, seen for follow-up.", "Avery Nakamura-Blake"),
        ("RE: Wayra Huamán Quispe, DOB 10/02/1970", "Wayra Huamán Quispe"),
        ("Parents: Harpreet Singh and Chidi Okafor. Address on file.", "Chidi Okafor"),
        ("Counselor: Imani Okoro, LADC, license on file", "Imani Okoro"),
        ("Genetic counseling referral to Dov Sassoon, CGC, next week.", "Dov Sassoon"),
        ("Yours faithfully,\nCeridwen Humphreys\nCare Home Manager", "Ceridwen Humphreys"),
        ("patient: like 180. the nurse rose said to write them down", "rose"),
        ("parent: ok. his school nurse, miss june, wants a note", "june"),
        ("parent: his grandma pearl usually brings him", "pearl"),
        ("doc: what's your name?\npt: xochitl. xochitl ramírez\ndoc: ok xochitl, what happened?", "xochitl ramírez"),
        ("interpreter: this is mrs phan, thi lan phan. i'm linh, the interpreter", "thi lan phan"),
        ("interpreter: this is mrs phan, thi lan phan. i'm linh, the interpreter", "linh"),
        ("interpreter: she fell at the market, her son quang took her home", "quang"),
        ("gp: it's mr pritchard, isn't it? gareth?", "gareth"),
        ("doctor: let's get an ecg. kasey will take you to room 6.", "kasey"),
        ("doc: hi, what's your name?\npt: nkechi. nkechi obiora-dike", "nkechi obiora-dike"),
        ("Nurse: And your name?\nCaller: Bronwyn Tregaskis-Pyle, her daughter.", "Bronwyn Tregaskis-Pyle"),
    ],
)
def test_identifiers_of_other_writers_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


# The classes of test4's misses (corpora/phi/README.md, "Rules added for test4's classes"), with new strings.
@pytest.mark.parametrize(
    ("text", "value"),
    [
        # names: Vietnamese letters, stacked particles, Welsh "ap", capitals, log cells, nicknames, roles
        ("Patient: Lương Thị Hằng    MRN: 5521907", "Lương Thị Hằng"),
        ("Interpreter Võ Minh Tuấn joined by video.", "Võ Minh Tuấn"),
        ("Yours sincerely,\nDr Gruffydd ap Iorwerth, GP", "Gruffydd ap Iorwerth"),
        ("Referred by Dr Anneke van der Westhuizen, paediatrics.", "Anneke van der Westhuizen"),
        ("Patient: Rosario Méndez de la Vega    DOB 04/02/1951", "Rosario Méndez de la Vega"),
        ("Patient: PARK, SEO-JUN    DOB: 1985-06-11", "PARK, SEO-JUN"),
        ("Patient: BROOK, Autumn L.    MRN: 7710293", "BROOK, Autumn L."),
        ("09:12:44 | Haddad, Karim (emp N55120) | 10.0.4.17 | VIEW labs", "Haddad, Karim"),
        ("09:12:44 | Haddad, Karim (emp N55120) | 10.0.4.17 | VIEW labs", "N55120"),
        ('S: Babatunde Oyelaran-Smith ("Tunde"), 64 M, POD 1.', "Babatunde Oyelaran-Smith"),
        ('S: Babatunde Oyelaran-Smith ("Tunde"), 64 M, POD 1.', "Tunde"),
        ("From: Eluned Prosser <eprosser12@post.example>", "Eluned Prosser"),
        ("Team: Wiśniewski (PGY-3) presented overnight events.", "Wiśniewski"),
        ("Home visit done by Nokuthula (lay counsellor) on Monday.", "Nokuthula"),
        ("Mother and doula Autumn Fletcher present.", "Autumn Fletcher"),
        ("Review in six months; hygiene with Ruby.", "Ruby"),
        ("Witnessed by counsel (R. Okonjo, Esq.).", "R. Okonjo"),
        # postcodes of other countries, after a province or state or ending an address line
        ("Clinic, 22 Portage Avenue, Winnipeg, MB R3C 0B1", "R3C 0B1"),
        ("Suite 4, 18 George Street, Parramatta NSW 2150", "2150"),
        ("18 Mandela Drive, Mamelodi, Pretoria, 0122\nTel 012 555 0161", "0122"),
        ("14 Tui Street, Hamilton East, Hamilton 3216\nRe: review", "3216"),
        # streets: numbered roads, quadrant streets, French streets and units, levels, a street as a field
        ("Address: 9021 County Road 7, Boone, IA 50036", "9021 County Road 7"),
        ("pedestrian struck at N Vermont Ave and E 3rd St, Los Angeles.", "N Vermont Ave"),
        ("pedestrian struck at N Vermont Ave and E 3rd St, Los Angeles.", "E 3rd St"),
        ("Clinic, 410 8th Avenue East, Regina, SK S4N 0A1", "410 8th Avenue East"),
        ("À: Dr Roy, 355 rue Sherbrooke, bureau 210, Québec, QC G1R 2L9", "355 rue Sherbrooke, bureau 210"),
        ("Level 5, 120 Collins Street, Melbourne VIC 3000", "Level 5, 120 Collins Street"),
        ("The Health Centre, Church Street, Ballinrobe, Co. Mayo", "Church Street"),
        ("The Health Centre, Church Street, Ballinrobe, Co. Mayo", "Ballinrobe"),
        # numbers: plans, licences and record numbers of other countries, spaced groups, AU/NZ phones
        ("Medical Card GMS 4418207T on file.", "GMS 4418207T"),
        ("Ontario OHIP 4471 220 918 verified.", "4471 220 918"),
        ("Medicare No. 4172 55019 3, expires 2027.", "4172 55019 3"),
        ("Dr Siobhán Tierney, IMC No. 331904", "331904"),
        ("Dr Johan Botha, HPCSA MP 0551982", "MP 0551982"),
        ("NHI QRT8820 confirmed at check-in.", "QRT8820"),
        ("Reception (03) 5550 4417 for bookings.", "(03) 5550 4417"),
        ("ring the ward on 09 555 0172 any time", "09 555 0172"),
        ("Can I send a photo? My new cell is (412) 555-0163.", "(412) 555-0163"),
        # dates: "3 Mar 24", ranges, months after "around", lower-case "may" after "mid" or an ordinal
        ("Ward round - 9 Jun 25", "9 Jun 25"),
        ("Dose window Apr 3 - Apr 17.", "Apr 3"),
        ("Dose window Apr 3 - Apr 17.", "Apr 17"),
        ("Follow-up around November with bloods.", "November"),
        ("we'll repeat the scan mid may", "may"),
        ("caller: the third of may nineteen twenty eight", "the third of may nineteen twenty eight"),
        ("patient may twelfth\ndoctor ok", "may twelfth"),
        # codes, e-mail and web addresses read out in dialogue; a ZIP read out; lower-case towns
        ("patient the plate is r t five nine k j b", "r t five nine k j b"),
        ("patient my member id is q z four one one seven two", "q z four one one seven two"),
        ("patient it's ana dot silva at post dot example", "ana dot silva at post dot example"),
        ("doctor go to w w w dot lakeside clinic dot example slash forms", "w w w dot lakeside clinic dot example slash forms"),
        ("patient yes in springfield zero one one zero nine", "zero one one zero nine"),
        ("patient we moved to west hartford last year", "west hartford"),
        # ages read out after "that makes you", Spanish ages
        ("doctor so that makes you\npatient ninety six come june", "ninety six"),
        ("Mi abuelo tiene noventa y cuatro años.", "noventa y cuatro"),
    ],
)
def test_identifiers_of_test4s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "Restrained passenger in a 2012 Toyota Camry, Ohio plate noted by EMS.",
        "Wound photo saved as heel_ulcer_week2.jpg for the wound clinic.",
        "Kellgren Lawrence grade 3 changes; Berg Balance 41/56 today.",
        "To: Utilization Management Dept., fax on the cover sheet.",
        "count backwards from five: five four three two one. a two x two x three cm wound.",
    ],
)
def test_test4s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # numbers read out: hundreds, a spoken extension, a ZIP after its cue or an address, the last four
        ("son: my cell is four one three, five five five, zero one six eight, extension two one four.", "extension two one four"),
        ("nurse: call us back at eight hundred, five five five, zero one six six.", "eight hundred"),
        ("doctor: zip code?\ndaughter: zero eight eight two zero. thanks", "zero eight eight two zero"),
        ("patient: eighty-eight hancock street, apartment three, quincy. oh two one seven one.", "oh two one seven one"),
        ("nurse: and the last digits of your social?\npatient: four three two one.", "four three two one"),
        # ages over 89: "lived to", "alive at", words without the apostrophe, "a hundred"
        ("Maternal grandmother - lived to 99, no cancer.", "99"),
        ("Father alive at 93, prostate cancer at 70.", "93"),
        ("patient so im ninety two now", "ninety two"),
        ("son: she'll be a hundred in march.", "a hundred"),
        # holidays beyond the northern-hemisphere list; a log-in of letters only
        ("We last saw her around Waitangi Day.", "Waitangi Day"),
        ("She was home for Pongal and again after Eid-el-Fitr.", "Eid-el-Fitr"),
        ("2025-03-01 09:02  user=tbrennan  role=MD", "tbrennan"),
        ("badge 52203  user dmoreau (Delphine Moreau, CPhT)", "dmoreau"),
    ],
)
def test_identifiers_of_test5s_and_test6s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "repeat after me: two one eight five four. he is a hundred percent sure.",
        "a family day out; the epiphany came to me; ages 80 to 95 were included.",
        "the user reported the portal was slow; user=admin action=VIEW",
    ],
)
def test_test6s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # a print or a face photograph held of the person, named with no value after it
        ("the call recording and caller voiceprint are stored in the study vault", "voiceprint"),
        ("Time clock: the employee's right index fingerprint could not be read after the laceration.", "right index fingerprint"),
        ("receptionist: last thing, we'll take a photo of your face for the chart", "photo of your face"),
        ("Identity verified by a selfie photograph matched against her licence.", "selfie photograph"),
        ("A full-face extraoral photograph was taken for shade matching.", "full-face extraoral photograph"),
        ("Enrolled a left palm vein scan at the kiosk.", "left palm vein scan"),
    ],
)
def test_prints_and_face_photographs_named_without_a_value_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # codes read out in groups with pauses, a UK postcode's district as one number
        ("caller: yeah, humana. member id h four four one, two zero nine, eight eight.", "h four four one, two zero nine, eight eight"),
        ("caller: the postcode is l s six, two a b.", "l s six, two a b"),
        ("woman: flat nine, forty-two peckham hill street, s e fifteen, five j t.", "s e fifteen, five j t"),
        # spoken addresses with the flat, unit and quadrant read out
        ("woman: flat nine, forty-two peckham hill street, s e fifteen, five j t.", "flat nine, forty-two peckham hill street"),
        ("interpreter: nine hundred cedar avenue south, apartment six eleven, minneapolis", "nine hundred cedar avenue south, apartment six eleven"),
        ("caller: fourteen brudenell grove.", "fourteen brudenell grove"),
        # SSN-shaped numbers of any area (ITINs start with 9), a London postcode, log-ins without a cue
        ("SSN on file 987-65-4325 verified for benefits.", "987-65-4325"),
        ("22 Tollington Park, London N4 3QP", "N4 3QP"),
        ("Dictated 3/19/24. Transcribed 3/20/24 by dkowalczyk2.", "dkowalczyk2"),
        ("Findings: users jsmith42 (Jordan Smith, RN) and akapoor (Arjun Kapoor, MD) viewed the chart.", "akapoor"),
        # date ranges, a date of birth read out as numbers, an HL7 address, whatever a note calls a number
        ("Certification period: 12/01/2024-01/29/2025   Visit: 3", "12/01/2024"),
        ("cyclosporine 3 mg/kg (Jun-Sep 2024, stopped for renal function)", "Jun"),
        ("receptionist: date of birth?\npatient: oh-four, twelve, eighty-nine.", "oh-four, twelve, eighty-nine"),
        ("PID-11 address: 4417 S GRAND BLVD APT 12^^ST LOUIS^MO^63111^USA", "4417 S GRAND BLVD APT 12"),
        ("PID-11 address: 4417 S GRAND BLVD APT 12^^ST LOUIS^MO^63111^USA", "ST LOUIS"),
        ("Dr Yaw Ofori-Atta\nDental Council Reg. No. MDC/RN/11842", "MDC/RN/11842"),
        ("HOSPITAL NO. MCS/24/0381\nScheme No. NHIS/LAG/0048121", "NHIS/LAG/0048121"),
    ],
)
def test_identifiers_of_test7s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "i walked two miles down the way to the shop, then one more up the road.",
        "covid19 swab negative; spo2 97 on air; counting one, two, three, four, five with her.",
        "Admitted to room no. 12, bed no. 4; she said she was born twelve years after the war.",
        "reviewed the word list; akapoor was not on it and no one of that name is in this note.",
    ],
)
def test_test7s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # log-ins with a role before or an initial after; employee numbers of a letter and seven digits
        ("Ramon Palomino, MD   Transcribed by: tx_jpalomino", "tx_jpalomino"),
        ("Thandi Mzwane RN  2024-08-20 01:45:10  mzwane_t      E0060871   remote VPN", "mzwane_t"),
        ("Thandi Mzwane RN  2024-08-20 01:45:10  mzwane_t      E0060871   remote VPN", "E0060871"),
        # the photograph on an identity document, prints named with what reads them
        ("Identity verified at the window by driver's license photo.", "driver's license photo"),
        ("method=selfie vs. photo ID", "photo ID"),
        ("He cannot use the fingerprint reader at the sterile-core door.", "fingerprint reader"),
        ("mfa=FaceID   agent=iOS app", "FaceID"),
        # numbers and codes read out with "dash"
        ("participant: nine zero zero dash one one dash four eight two seven", "nine zero zero dash one one dash four eight two seven"),
        ("officer: your study id will be n e u r o dash zero four four please", "n e u r o dash zero four four"),
    ],
)
def test_identifiers_of_test8s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "login_fail reason=bad_password; retry the config_file later",
        "nurse: do you have photo id with you, or a bank card?",
        "Stage C3 disease; ICD E11 and K5 noted.",
    ],
)
def test_test8s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # prints named with whose they are, both hands, a newborn's feet, a voice recorded; a face on an ID or video
        ("Newborn identification: infant footprints and maternal right thumbprint taken.", "infant footprints"),
        ("Newborn identification: infant footprints and maternal right thumbprint taken.", "maternal right thumbprint"),
        ("I agree to enrol my left and right thumbprints for self check-in.", "left and right thumbprints"),
        ("Data collected at visit 1: voiceprint recording (sustained vowel).", "voiceprint recording"),
        ("Identity verified at the front desk with state photo ID.", "state photo ID"),
        ("- frontal face video for hypomimia scoring", "frontal face video"),
        # the age of a birthday with its suffix; a year before its month; French dates
        ("Resident celebrated her 103rd birthday with her son.", "103rd"),
        ("Similar episode in 2019 March.", "2019 March"),
        ("rendez-vous avec l'infirmière le 19 février.", "19 février"),
        # a Canadian numbered avenue; a city's quarter
        ("Home: 15820 84 Ave, Surrey, BC V4N 0W1.", "15820 84 Ave"),
        ("PATHOLOGY REPORT — Durban North Laboratory", "Durban North"),
    ],
)
def test_identifiers_of_test9s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "a wet footprint on the floor; reduce your carbon footprint",
        "MRI images stored on encrypted drive per protocol.",
        "take 2 10 mg tablets; she is 93 percent saturated",
    ],
)
def test_test9s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # names in an HL7 interface's capitals: a patient (PID-5), a next of kin, a clinician after his ID (PV1-7)
        ("PID|1||00567120^^^NSH^MR||KAPOOR^ANJALI^R||19830422|F", "KAPOOR"),
        ("PID|1||00567120^^^NSH^MR||KAPOOR^ANJALI^R||19830422|F", "ANJALI"),
        ("NK1|1|OKAFOR^CHIDI^E|SPO|", "OKAFOR"),
        ("PV1|1|O|LAB^^^NSH||||1629384750^MBEKI^THABO^^^DR|||||", "MBEKI"),
        # FHIR JSON: a family name alone, a postal code
        ('"name": [{"family": "Halvorsen", "given": ["Ingeborg"]}]', "Halvorsen"),
        ('"address": [{"city": "Eugene", "state": "OR", "postalCode": "97405"}]', "97405"),
        # address lines with a comma after the number: India, Malaysia, a trading estate; a Québec unit; Kenya's PO box
        ("Chennai Kidney Care, No. 27, 2nd Cross Street, Besant Nagar, Chennai 600090", "No. 27, 2nd Cross Street"),
        ("Plot 14, Sector 21, Kharghar, Navi Mumbai - 410210, Maharashtra", "Plot 14, Sector 21"),
        ("Plot 14, Sector 21, Kharghar, Navi Mumbai - 410210, Maharashtra", "410210"),
        ("Address: No. 8, Jalan Mawar 3/2, Taman Sri Mawar, 43000 Kajang, Selangor.", "No. 8, Jalan Mawar 3/2, Taman Sri Mawar"),
        ("Address: No. 8, Jalan Mawar 3/2, Taman Sri Mawar, 43000 Kajang, Selangor.", "43000"),
        ("depot at Unit 4, Tyne Point Industrial Estate, Jarrow NE32 3UP", "Unit 4, Tyne Point Industrial Estate"),
        ("Lives at 1450 rue Saint-Denis, app. 3, Montréal QC H2X 3J8", "1450 rue Saint-Denis, app. 3"),
        ("P.O. Box 40217-00100, Nairobi", "P.O. Box 40217-00100"),
        ("38 Irrawaddy Road, #09-14, Singapore 329563", "329563"),
        # photographs named by what holds them; numbers of other countries' plans, registers and phones
        ("ID checked: licence photo compared to patient face.", "licence photo"),
        ("Camera still: CCTV face capture of entrant retained 30 days.", "face capture"),
        ("Medicare card 5102 77431 2. Clinician: Callum MacPherson, BDS.", "5102 77431 2"),
        ("clinic no. KRMC-DM-07712, NHIF no. 5518034-0", "5518034-0"),
        ("Dr Adaeze Nwosu-Hamilton, FMCP, MDCN Folio MDCN/R/38812", "38812"),
        ("Mob: 98555 50143", "98555 50143"),
        ("Mode: fixed-wing, tail number N512MT; flight nurse", "N512MT"),
        # a month with its qualifier; a day/month after "visited"; ages in apposition and in a reply
        ("Sleep improved since early March; we discussed timing.", "early March"),
        ("chaplain Reverend Abigail Thorsdottir visited 1/7; patient wishes", "1/7"),
        ("Patient is an observant Jewish woman, 96, admitted with", "96"),
        ("nurse: so that makes you ninety-one, wow.", "ninety-one"),
    ],
)
def test_identifiers_of_test10s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "Enrolled in a Phase 3 trial; Unit 4 handover at 10:00, bed 12.",
        "PV1|1|E|ED^12^A^STLUKE_W||||",  # a location, not a person
        "Weight: a woman, 96 kg; early morning stiffness; the app showed 8,000 steps.",
    ],
)
def test_test10s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # address lines of Chennai, Selangor, Cebu and Accra; a unit or a range before the house number
        ("of Door No. 7/3, Kamarajar Salai, Tiruvannamalai 606601", "Door No. 7/3, Kamarajar Salai"),
        ("Heart Clinic, No. 22, 4th Cross, Anna Nagar, Chennai", "No. 22, 4th Cross, Anna Nagar"),
        ("Klinik Kesihatan\nJalan 12/31, Seksyen 9, 46000 Petaling Jaya", "Jalan 12/31, Seksyen 9"),
        ("delivery to Purok 3, Sitio Bagong Silang, Cebu City 6000", "Purok 3, Sitio Bagong Silang"),
        ("P.O. Box AN 4102, Accra", "P.O. Box AN 4102"),
        ("Address: 7/15 Ocean Street, Bondi NSW 2026", "7/15 Ocean Street"),
        ("Address: 102-14 Queens Boulevard, Forest Hills, NY 11375", "102-14 Queens Boulevard"),
        # numbers of other countries' cards, registers and phones
        ("MyKad: 900101-14-5678", "900101-14-5678"),
        ("PhilHealth PIN: 19-123456789-0", "19-123456789-0"),
        ("IHI: 8003 6012 3456 78", "8003 6012 3456 78"),
        ("Dr Ama Owusu, MDCGh reg. MDC/RN/20871", "MDC/RN/20871"),
        ("FNA of the node (lab no. HIS/24/1187) shows", "HIS/24/1187"),
        ("Tel: 03-5550 2290   Faks: 03-5550 2291", "03-5550 2291"),
        # names and codes spelt with dashes
        ("how do you spell it? o-k-o-n-k-w-o", "o-k-o-n-k-w-o"),
        ("the eircode is d-six-w x-two-eight", "d-six-w x-two-eight"),
        # prints and face pictures named by how they were taken
        ("[ ] Fingerprint scan for pharmacy access (declined)", "Fingerprint scan"),
        ("consent to a voice recording of his speech for analysis", "voice recording"),
        ("patient joined; face-match verification against enrolment selfie passed", "face-match verification"),
        ("patient joined; face-match verification against enrolment selfie passed", "enrolment selfie"),
        ("Checked: photo on state ID card; patient photo captured at kiosk.", "photo on state ID card"),
        ("Checked: photo on state ID card; patient photo captured at kiosk.", "patient photo"),
        ("intruder identified by CCTV still image of his face", "CCTV still image of his face"),
    ],
)
def test_identifiers_of_test11s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2025-01-02T07:55:13Z  login_success  ip=203.0.113.9", "2025-01-02T07:55:13Z"),  # the time with its date
        ("Home address: Route 4, Box 220, Floyd, VA 24091", "Route 4, Box 220"),
        ("R/o House no. 45, 3rd Main, Jayanagar, Bengaluru 560011", "House no. 45, 3rd Main"),
        ("Lab: Gulf Genomics, Building 12, Al Wasl Street, Dubai", "Building 12, Al Wasl Street"),
        ("Scene: 1200 block of Meridian Avenue, Indianapolis", "1200 block of Meridian Avenue"),
        ("Address: Storgatan 7A, 113 51 Stockholm", "Storgatan 7A"),
        ("UHID KMC/23/00412, referred by", "KMC/23/00412"),
        ("spell the surname? k, o, w, a, l, s, k, i", "k, o, w, a, l, s, k, i"),
        ("ID band checked and identification photograph of the face on file", "identification photograph of the face"),
        ("shown a photo identification card at the desk", "photo identification card"),
        ("participant headshot stored on the trial badge", "participant headshot"),
    ],
)
def test_identifiers_of_test12s_classes_are_replaced(text, value):
    assert not _leaks(text, value), scrub(text).text


@pytest.mark.parametrize(
    "text",
    [
        "Ordered an x-ray and a t-cell panel; the 2nd cross-match was fine; photo of the rash on day 3.",
        "Jalan-jalan after lunch helps her mood; reg. review in 3 months.",
        "Answer a, b, c, d or e; HIV/AIDS 24/7 helpline; BP 120/80; a block of 3 sessions.",
    ],
)
def test_test11s_look_alikes_survive(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


@pytest.mark.parametrize(
    "text",
    [
        "Fingerprint template enrolled for kiosk check-in, template ID FP-7731-0092.",  # the value is the identifier
        "a fingerprint-like whorl pattern on the palm; wound photos taken daily",
    ],
)
def test_print_and_photo_words_alone_are_not_replaced(text):
    spans = [text[s.start : s.end] for s in scrub(text).spans]
    assert not any(w in " ".join(spans).lower() for w in ("fingerprint ", "photos", "fingerprint-like")), spans


@pytest.mark.parametrize(
    "text",
    [
        "Metoprolol succinate 50 mg PO daily; furosemide 40 mg BID; insulin glargine 20 units qHS.",
        "BP 120/80, HR 72, RR 16, T 98.6 F, SpO2 97% on 2 L NC. Weight 82.5 kg.",
        "Pain 8/10, now 3/10 after oxycodone 5 mg. Strength 5/5 throughout. Grade 2/6 systolic murmur.",
        "Na 136, K 4.0, Cr 1.3, BUN 31, Hgb 11.2, WBC 7.9, INR 1.1, A1c 8.1%, TSH 2.14 mIU/L.",
        "Dx: type 2 diabetes (E11.65), HFpEF (I50.33), COPD (J44.1); CPT 99214.",
        "Positive Murphy's sign. Babinski absent. History of Parkinson's disease and Bell's palsy.",
        "GCS 15. Glasgow Coma Scale 15 on arrival. Ottawa ankle rules negative. Apgars 8 and 9.",
        "Room 512-B, bed 2. Follow up in 2 weeks at 10:30 AM. POD 3. Temp 101 F on Monday.",
        "The patient is a 76-year-old woman with a 20 pack-year history, quit in 2015.",
        "HIV-1 viral load undetectable; CD4 650. PHQ-9 = 21, GAD-7 = 12. HER2 IHC 2+.",
        "Levels at C5-C6 and L4-L5. G2P1 at 24w3d. EF 30-35%. Ki-67 18%.",
        "STOP-BANG 6, Epworth 15, neck 44 cm. Plan: Keystone Mutual PPO.",
        "Interface version 5.2.11 on port 2575. She slipped on the icy road and down a side street.",
        "Fractures of the 4th and 5th metatarsals; the 3rd time this year; the 50th percentile.",
        "Tet booster given. Labor day 2 of induction. Pediatric Gastroenterology Clinic follow-up.",
        "Triage RN: see below. Supervising RN on call. Chaplain Rev. visit requested; per granddaughter.",
        "Barrett's esophagus on biopsy; Morton's neuromas; the Parker's mobility score was 6.",
        "nurse: would she want a visit from the chaplain from st. brendan's?",
    ],
)
def test_clinical_content_survives(text):
    result = scrub(text)
    assert result.text == text, [(s.kind, text[s.start : s.end]) for s in result.spans]


def test_years_alone_are_kept_and_ages_under_90_too():
    text = "Diagnosed in 2017; an 85-year-old man, his wife is 88."
    assert scrub(text).text == text


def test_spans_point_into_the_original_text_and_rebuild_the_scrubbed_text():
    text = "Patient: Kwame Boateng, MRN ED0094412, seen 05/27/2023 by Dr. Sandoval; call (617) 555-0199."
    result = scrub(text)
    assert isinstance(result, ScrubResult)
    rebuilt, pos = [], 0
    for span in result.spans:
        assert span.kind in PHI_KINDS and text[span.start : span.end].strip() == text[span.start : span.end]
        rebuilt += [text[pos : span.start], f"[{span.kind}]"]
        pos = span.end
    assert "".join(rebuilt) + text[pos:] == result.text
    assert result.text == "Patient: [NAME], MRN [MRN], seen [DATE] by Dr. [NAME]; call [PHONE]."
    assert result.spans == find_spans(text)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.spans[0].kind = "DATE"  # type: ignore[misc]


def test_a_name_found_once_is_removed_everywhere_in_the_note():
    text = "Name: Thandiwe Mokoena\n\nMs. Mokoena reports less pain. Thandiwe will return Friday."
    out = scrub(text).text
    assert "Mokoena" not in out and "Thandiwe" not in out


def test_empty_and_phi_free_text():
    assert scrub("") == ScrubResult("", [])
    education = (PROJECT_ROOT / "corpora" / "documents" / "asthma.md").read_text(encoding="utf-8")
    assert scrub(education).spans == []


def test_gazetteers_ship_with_the_package():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "gazetteers/*.txt" in pyproject["tool"]["setuptools"]["package-data"]["rungs.curation"]
    for name in ("names.txt", "cities.txt"):
        assert (PROJECT_ROOT / "rungs" / "curation" / "gazetteers" / name).stat().st_size > 1000


def test_long_runs_cost_linear_time():
    # Runs like "a.a.a.a..." once made the e-mail and URL patterns quadratic (minutes on 40 kB).
    import time

    for run in ("1-", "a.", "Aa-", "A1-", "Aaa, ", "a@"):
        text = run * (20_000 // len(run))
        t0 = time.perf_counter()
        find_spans(text)
        assert time.perf_counter() - t0 < 10, run  # ~0.3 s here; quadratic would be ~30 s


def test_learned_recogniser_labels_word_pieces_inside_spans_and_only_those():
    """The learned recogniser's training labels: B- on a span's first word piece, I- on the rest, O outside,
    nothing on [CLS]/[SEP]; the shipped MiniLM tokenizer (uncased) reads the text."""
    from transformers import AutoTokenizer

    from rungs.curation import PHI_LABELS, PhiReading, labelled_windows
    from rungs.retrieval import model_path

    tokenizer = AutoTokenizer.from_pretrained(str(model_path("minilm")))
    text = "seen with her son will okafor on march 3rd"
    spans = [{"start": 18, "end": 29, "kind": "NAME"}, {"start": 33, "end": 42, "kind": "DATE"}]
    [example] = labelled_windows(tokenizer, [{"text": text, "spans": spans}], PhiReading())
    pieces = tokenizer.convert_ids_to_tokens(example["input_ids"])
    labels = [PHI_LABELS[i] if i >= 0 else None for i in example["labels"]]
    tagged = [(p, lab) for p, lab in zip(pieces, labels) if lab not in (None, "O")]
    assert tagged[0] == ("will", "B-NAME") and tagged[-1][1] == "I-DATE"
    assert [lab for _, lab in tagged].count("B-NAME") == 1 and [lab for _, lab in tagged].count("B-DATE") == 1
    assert labels[0] is None and labels[-1] is None  # [CLS], [SEP]
    assert dict(zip(pieces, labels))["son"] == "O"


def test_the_recogniser_keeps_names_and_drops_what_identifies_no_one():
    """spans_from_pieces, given a model sure of every word below: the name stays; a language, a greeting (or
    its tail), an HL7 field, a year alone, an impossible date, a clinical code, a spoken digit and a country go."""
    from rungs.curation import PHI_LABELS, spans_from_pieces

    marked = [("Okafor", "NAME"), ("Yoruba", "NAME"), ("raibh maith agat", "NAME"), ("PID-13", "ID"), ("2029", "DATE"),
              ("17/17", "DATE"), ("Z79.01", "ID"), ("one", "DEVICE"), ("Spain", "CITY"), ("12 March", "DATE")]
    text = ("Seen by Okafor, who speaks Yoruba; said go raibh maith agat. Field PID-13 blank; expires 2029; "
            "Ishihara 17/17; code Z79.01; pump one; travel to Spain on 12 March.")
    pieces = {}
    for value, kind in marked:
        start = text.index(value)
        for k, word in enumerate(value.split()):
            s = text.index(word, start)
            pieces[(s, s + len(word))] = (0.99, PHI_LABELS.index(f"{'B' if k == 0 else 'I'}-{kind}"))
            start = s + len(word)
    found = [text[sp.start : sp.end] for sp in spans_from_pieces(text, pieces, 0.9)]
    assert found == ["Okafor", "12 March"]
