// Package ontology owns the coded concepts that radmark's label schemas are
// built from: segmentation categories and types, anatomic regions,
// modifiers, findings and diagnoses, each a CodeValue, CodingSchemeDesignator
// and CodeMeaning as DICOM SEG and SR TID 1500 want them. It ships them as
// data and answers the questions a label picker asks: search as you type,
// look a code up, list a context group.
//
// The data lives in data/*.tsv, embedded in the binary and indexed once, on
// first use (Default). Where it comes from, with versions and licences, is
// in SOURCES.md; ontology/gen/gen.py regenerates it:
//
//   - data/dicom.tsv: DICOM PS3.16 context groups (CID 7150 segmentation
//     property categories, CID 7151 types and the 715x/716x segmentation type
//     groups, CIDs 7191-7198 that pair types with categories, CID 4031 common
//     anatomic regions, CID 244/245 laterality, CID 2 anatomic modifiers),
//     taken from the tables Debian's python3-pydicom 2.3.1 generated from the
//     standard. A type's CID 7150 categories are in Concept.Categories.
//   - data/radlex.tsv: about 300 RadLex terms for common imaging anatomy,
//     findings, devices and artifacts, every RadLex ID resolved from a RadLex
//     release table and checked against a later release.
//   - data/icd10.tsv: the 22 WHO ICD-10 (2019) chapters and the blocks of the
//     chapters radiology codes into (neoplasms, nervous, circulatory,
//     respiratory, digestive, musculoskeletal, genitourinary, congenital,
//     abnormal findings, injury).
//
// Search is written here rather than taken from a library because what it
// needs is small and specific: case- and accent-insensitive prefix matching
// over a few thousand short phrases, British and American spellings treated
// alike (ICD-10 writes "haemorrhage", SNOMED CT "hemorrhage"), a handful of
// radiology equivalents (lung/pulmonary, kidney/renal), matching by code and
// by ICD-10 code range, and a fixed, explainable ranking. A token index
// built once answers a query in microseconds; see BenchmarkSearch.
//
// The package knows nothing of HTTP or storage.
package ontology
