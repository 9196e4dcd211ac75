#!/usr/bin/python3
"""Generate radmark's shipped ontology data (ontology/data/*.tsv).

Three independent parts, each writing one file:

  gen.py dicom  [--out DIR]
      DICOM PS3.16 context groups from Debian's python3-pydicom
      (pydicom.sr._cid_dict / _concepts_dict). Needs only /usr/bin/python3
      with python3-pydicom installed; the Go test TestDICOMDataRegenerates
      runs this part and compares the result with the committed file.

  gen.py radlex --source Radlex.csv [--check radlex_parent_child.csv] [--out DIR]
      The RadLex subset named in radlex_terms.txt, resolved to RadLex IDs
      through a full RadLex term table (name,RID,parent RID), and cross-checked
      against a later RadLex release (name,parent name). See ../SOURCES.md
      for where both files come from and their checksums.

  gen.py icd10 --source icd_10_v2019.xml [--out DIR]
      WHO ICD-10 (2019) chapter and block headings. See ../SOURCES.md.

Output format (one concept per line, tab-separated, UTF-8):
  scheme code meaning lists parent categories synonyms listmeanings
where lists, categories and synonyms are '|'-separated, parent and each
category are SCHEME:CODE, and listmeanings are 'LIST=MEANING' pairs for a list
whose table words the concept differently from the primary meaning. Lines
starting with '#' are comments, except '#list<TAB>NAME<TAB>TITLE', which
declares a list and its title, and '#source<TAB>TEXT', which records
provenance.

The script never invents a code: every code comes from its source table, and
a name in radlex_terms.txt that the source does not have stops the run.
"""

import argparse
import csv
import hashlib
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "data")

# --------------------------------------------------------------------------
# output


def check_field(value, what):
    if value != value.strip() or not value:
        sys.exit(f"gen: empty or padded {what}: {value!r}")
    if any(ch in value for ch in "\t\n\r|"):
        sys.exit(f"gen: {what} contains a tab, newline or '|': {value!r}")
    return value


def write_tsv(path, header, lists, rows):
    """rows: dicts with scheme, code, meaning, lists, parent, categories,
    synonyms, listmeanings."""
    out = []
    for line in header:
        out.append("#source\t" + line)
    for name, title in lists:
        out.append(f"#list\t{check_field(name, 'list name')}\t{check_field(title, 'list title')}")
    out.append("#scheme\tcode\tmeaning\tlists\tparent\tcategories\tsynonyms\tlistmeanings")
    for r in rows:
        for what in ("scheme", "code", "meaning"):
            check_field(r[what], what)
        fields = [
            r["scheme"],
            r["code"],
            r["meaning"],
            "|".join(check_field(x, "list") for x in r["lists"]),
            r.get("parent", ""),
            "|".join(r.get("categories", [])),
            "|".join(check_field(x, "synonym") for x in r.get("synonyms", [])),
            "|".join(f"{k}={check_field(v, 'list meaning')}" for k, v in sorted(r.get("listmeanings", {}).items())),
        ]
        out.append("\t".join(fields))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)
    print(f"gen: wrote {path}: {len(rows)} concepts", file=sys.stderr)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------
# DICOM PS3.16

# The context groups shipped, with their PS3.16 titles. The title is checked
# against pydicom's keyword for the CID (letters and digits, case-folded), so
# a typo here or a renamed CID stops the run.
DICOM_CIDS = [
    (7150, "Segmentation Property Categories"),
    (7151, "Segmentation Property Types"),
    (7152, "Cardiac Structure Segmentation Types"),
    (7153, "CNS Segmentation Types"),
    (7154, "Abdominal Segmentation Types"),
    (7155, "Thoracic Segmentation Types"),
    (7156, "Vascular Segmentation Types"),
    (7157, "Device Segmentation Types"),
    (7158, "Artifact Segmentation Types"),
    (7159, "Lesion Segmentation Types"),
    (7160, "Pelvic Organ Segmentation Types"),
    (7161, "Physiology Segmentation Types"),
    (7165, "Abstract Segmentation Types"),
    (7166, "Common Tissue Segmentation Types"),
    (7167, "Peripheral Nervous System Segmentation Types"),
    (7168, "Brain Lesion Segmentation Types With Necrosis"),
    (7169, "Brain Lesion Segmentation Types Without Necrosis"),
    (7191, "Tissue Segmentation Property Types"),
    (7192, "Anatomical Structure Segmentation Property Types"),
    (7193, "Physical Object Segmentation Property Types"),
    (7194, "Morphologically Abnormal Structure Segmentation Property Types"),
    (7195, "Function Segmentation Property Types"),
    (7196, "Spatial and Relational Concept Segmentation Property Types"),
    (7197, "Body Substance Segmentation Property Types"),
    (7198, "Substance Segmentation Property Types"),
    (4031, "Common Anatomic Regions"),
    (244, "Laterality"),
    (245, "Laterality with Median"),
    (2, "Anatomic Modifier"),
]

# CIDs 7191-7198 each hold the types of one CID 7150 category; PS3.16 builds
# CID 7151 from them. The category is found by name: the CID's keyword is the
# category's meaning followed by "SegmentationPropertyTypes".
CATEGORY_TYPE_CIDS = range(7191, 7199)


def fold(s):
    return re.sub(r"[^a-z0-9]", "", s.lower())


def load_pydicom():
    try:
        from pydicom.sr import _cid_dict, _concepts_dict
        import pydicom
    except ImportError as e:
        sys.exit(f"gen: Debian's python3-pydicom is needed for the DICOM part ({e}); run with /usr/bin/python3")
    return pydicom.__version__, _cid_dict, _concepts_dict


def cid_members(cid, cid_dict, concepts):
    """The (scheme, code, meaning) members of a CID, in pydicom's order. The
    concepts table is keyed by keyword; a keyword may name several codes, and
    each code lists the CIDs it belongs to, which picks the members."""
    out = []
    for scheme, keywords in cid_dict.cid_concepts[cid].items():
        for kw in keywords:
            entries = concepts.concepts[scheme][kw]
            hits = [(code, meaning) for code, (meaning, cids) in entries.items() if cid in cids]
            if not hits:
                sys.exit(f"gen: CID {cid} names {scheme} {kw} but no code of it lists the CID")
            for code, meaning in hits:
                out.append((scheme, code, meaning))
    # A keyword may be listed twice under one scheme; keep the first.
    seen, uniq = set(), []
    for m in out:
        if m[:2] not in seen:
            seen.add(m[:2])
            uniq.append(m)
    return uniq


def gen_dicom(args):
    version, cid_dict, concepts = load_pydicom()
    for cid, title in DICOM_CIDS:
        if cid not in cid_dict.name_for_cid:
            sys.exit(f"gen: pydicom {version} has no CID {cid}")
        if fold(cid_dict.name_for_cid[cid]) != fold(title):
            sys.exit(f"gen: CID {cid} is {cid_dict.name_for_cid[cid]!r} in pydicom, not {title!r}")

    members = {cid: cid_members(cid, cid_dict, concepts) for cid, _ in DICOM_CIDS}

    # Categories of CID 7150 and the type CID that belongs to each.
    by_fold = {fold(m): (s, c) for s, c, m in members[7150]}
    category_of_cid = {}
    for cid in CATEGORY_TYPE_CIDS:
        name = fold(cid_dict.name_for_cid[cid])
        if not name.endswith("segmentationpropertytypes"):
            sys.exit(f"gen: CID {cid} is not a segmentation property type group")
        cat = by_fold.get(name[: -len("segmentationpropertytypes")])
        if cat is None:
            sys.exit(f"gen: no CID 7150 category matches CID {cid} {cid_dict.name_for_cid[cid]}")
        category_of_cid[cid] = cat
    if sorted(category_of_cid.values()) != sorted((s, c) for s, c, _ in members[7150]):
        sys.exit("gen: CIDs 7191-7198 do not pair one to one with the CID 7150 categories")

    # Merge: one row per scheme+code. PS3.16 sometimes words a code
    # differently in different groups (SCT 51185008 is "Thorax" in CID 7151
    # and "Chest" in CID 4031); the primary meaning is the first in
    # DICOM_CIDS order, the others are kept per list and as synonyms.
    rows, order = {}, []
    for cid, _ in DICOM_CIDS:
        list_name = f"CID {cid}"
        for scheme, code, meaning in members[cid]:
            key = (scheme, code)
            r = rows.get(key)
            if r is None:
                r = {"scheme": scheme, "code": code, "meaning": meaning, "lists": [], "categories": [],
                     "synonyms": [], "listmeanings": {}}
                rows[key] = r
                order.append(key)
            r["lists"].append(list_name)
            if meaning != r["meaning"]:
                r["listmeanings"][list_name] = meaning
                if meaning not in r["synonyms"]:
                    r["synonyms"].append(meaning)
            if cid in category_of_cid:
                s, c = category_of_cid[cid]
                ref = f"{s}:{c}"
                if ref not in r["categories"]:
                    r["categories"].append(ref)

    header = [
        "DICOM PS3.16 context groups, from Debian python3-pydicom " + version
        + " (pydicom/sr/_cid_dict.py and _concepts_dict.py, generated by pydicom from the"
        + " DICOM FHIR value sets published by NEMA in 2019).",
        "DICOM is (c) NEMA; SNOMED CT codes are used as licensed by SNOMED International for DICOM. See SOURCES.md.",
        "Generated by ontology/gen/gen.py dicom; do not edit by hand.",
    ]
    lists = [(f"CID {cid}", title) for cid, title in DICOM_CIDS]
    write_tsv(os.path.join(args.out, "dicom.tsv"), header, lists, [rows[k] for k in order])


# --------------------------------------------------------------------------
# RadLex


def read_terms(path):
    """radlex_terms.txt: '# section: NAME' lines start a section; other
    non-empty lines are 'preferred name' or 'preferred name<TAB>RID' (the RID
    only to choose between terms that share a name)."""
    section, terms = None, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = re.match(r"#\s*section:\s*(.+)$", line)
            if m:
                section = m.group(1).strip()
                continue
            if not line.strip() or line.startswith("#"):
                continue
            if section is None:
                sys.exit(f"gen: {path}:{n}: term before the first '# section:' line")
            name, _, rid = line.partition("\t")
            terms.append((section, name.strip(), rid.strip(), n))
    return terms


def gen_radlex(args):
    if not args.source:
        sys.exit("gen: radlex needs --source (the RadLex term table, see SOURCES.md)")
    by_name, by_rid = {}, {}
    with open(args.source, encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) != 3 or not re.fullmatch(r"RID\d+", row[1]):
                sys.exit(f"gen: {args.source}: unexpected row {row!r}")
            name, rid, parent = row
            by_name.setdefault(name, []).append((rid, parent))
            by_rid[rid] = (name, parent)

    later = None
    if args.check:
        later = {}
        with open(args.check, encoding="utf-8") as f:
            for row in csv.reader(f):
                if len(row) == 3 and row[0] != "":
                    later.setdefault(row[1], set()).add(row[2])

    terms = read_terms(os.path.join(HERE, "radlex_terms.txt"))
    rows, seen, problems = {}, {}, []
    for section, name, want_rid, line in terms:
        hits = by_name.get(name, [])
        if want_rid:
            hits = [h for h in hits if h[0] == want_rid]
        if len(hits) != 1:
            problems.append(f"radlex_terms.txt:{line}: {name!r}{' ' + want_rid if want_rid else ''}: "
                            f"{len(hits)} terms of that name in the source")
            continue
        rid, parent = hits[0]
        if later is not None:
            parent_name = by_rid.get(parent, ("?",))[0]
            got = later.get(name)
            if got is None:
                problems.append(f"radlex_terms.txt:{line}: {name} ({rid}) is not a preferred name in the check release")
                continue
            if parent_name not in got:
                problems.append(f"radlex_terms.txt:{line}: {name} ({rid}) has parent {parent_name!r} in the source "
                                f"but {sorted(got)!r} in the check release")
                continue
        if rid in seen:
            problems.append(f"radlex_terms.txt:{line}: {name} ({rid}) repeats line {seen[rid]}")
            continue
        seen[rid] = line
        rows[rid] = {"scheme": "RADLEX", "code": rid, "meaning": name,
                     "lists": ["RadLex", "RadLex " + section], "parent_rid": parent}
    if problems:
        sys.exit("gen: RadLex terms not verified:\n  " + "\n  ".join(problems))

    for r in rows.values():
        # The parent is kept only when it is shipped too, so it can be looked up.
        if r.pop("parent_rid") in rows:
            r["parent"] = "RADLEX:" + by_rid[r["code"]][1]
    sections = []
    for section, *_ in terms:
        if section not in sections:
            sections.append(section)
    header = [
        "RadLex subset: the terms named in ontology/gen/radlex_terms.txt, resolved to RadLex IDs in the RadLex"
        + f" term table {os.path.basename(args.source)} (sha256 {sha256(args.source)})"
        + (f", each checked against a later release's table {os.path.basename(args.check)}"
           + f" (sha256 {sha256(args.check)}): same preferred name, same parent." if args.check else "."),
        "RadLex is (c) RSNA, used under the RadLex license, which allows redistribution with attribution. See SOURCES.md.",
        "Generated by ontology/gen/gen.py radlex; do not edit by hand.",
    ]
    lists = [("RadLex", "RadLex subset: common imaging anatomy and findings")]
    lists += [("RadLex " + s, "RadLex " + s) for s in sections]
    write_tsv(os.path.join(args.out, "radlex.tsv"), header, lists, list(rows.values()))


# --------------------------------------------------------------------------
# ICD-10

# Chapters (by WHO roman numeral) whose blocks are shipped: those that
# radiology findings are usually coded in.
ICD10_BLOCK_CHAPTERS = {
    "II": "neoplasms",
    "VI": "nervous system",
    "IX": "circulatory system",
    "X": "respiratory system",
    "XI": "digestive system",
    "XIII": "musculoskeletal system",
    "XIV": "genitourinary system",
    "XVII": "congenital malformations",
    "XVIII": "symptoms and abnormal findings (R90-R94: abnormal findings on diagnostic imaging)",
    "XIX": "injury",
}

BLOCK_RE = re.compile(r"[A-Z]\d\d-[A-Z]\d\d")


def gen_icd10(args):
    if not args.source:
        sys.exit("gen: icd10 needs --source (icd_10_v2019.xml, see SOURCES.md)")
    root = ET.parse(args.source).getroot()
    chapters = root.findall("item[@type='chapter']")
    if len(chapters) != 22:
        sys.exit(f"gen: expected the 22 ICD-10 chapters, found {len(chapters)}")
    rows = []
    for ch in chapters:
        numeral = ch.findtext("name").strip()
        title = ch.findtext("description").strip()
        blocks = ch.findall(".//item[@type='block']")
        top = ch.findall("item[@type='block']")
        if not top:
            sys.exit(f"gen: chapter {numeral} has no blocks")
        names = [b.findtext("name").strip() for b in blocks]
        for n in names:
            if not BLOCK_RE.fullmatch(n):
                sys.exit(f"gen: chapter {numeral}: unexpected block name {n!r}")
        first, last = top[0].findtext("name").strip(), top[-1].findtext("name").strip()
        code = first[:3] + "-" + last[4:]
        rows.append({"scheme": "I10", "code": code, "meaning": title, "lists": ["ICD-10 chapter"],
                     "synonyms": [f"Chapter {numeral}"]})
        if numeral not in ICD10_BLOCK_CHAPTERS:
            continue

        def walk(item, parent_code):
            for b in item.findall("item[@type='block']"):
                bcode = b.findtext("name").strip()
                rows.append({"scheme": "I10", "code": bcode, "meaning": b.findtext("description").strip(),
                             "lists": ["ICD-10 block"], "parent": "I10:" + parent_code})
                walk(b, bcode)

        walk(ch, code)
    codes = [r["code"] for r in rows]
    if len(codes) != len(set(codes)):
        sys.exit("gen: duplicate ICD-10 codes")
    header = [
        "WHO ICD-10 Version:2019 chapter headings (all 22) and the block headings of chapters "
        + ", ".join(ICD10_BLOCK_CHAPTERS) + f", from {os.path.basename(args.source)}"
        + f" (sha256 {sha256(args.source)}), a CC0 transcription of the WHO ICD-10 2019 browser.",
        "A chapter's code is the range of its blocks; its roman numeral is kept as a synonym. ICD-10 is (c) WHO. See SOURCES.md.",
        "Generated by ontology/gen/gen.py icd10; do not edit by hand.",
    ]
    lists = [("ICD-10 chapter", "ICD-10 chapters (WHO 2019)"), ("ICD-10 block", "ICD-10 blocks (WHO 2019)")]
    write_tsv(os.path.join(args.out, "icd10.tsv"), header, lists, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["dicom", "radlex", "icd10"])
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: ontology/data)")
    p.add_argument("--source", help="source table for radlex and icd10")
    p.add_argument("--check", help="radlex: a later release's name,parent table to cross-check against")
    args = p.parse_args()
    {"dicom": gen_dicom, "radlex": gen_radlex, "icd10": gen_icd10}[args.part](args)


if __name__ == "__main__":
    main()
