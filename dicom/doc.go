// Package dicom reads and writes DICOM: Part 10 files and raw datasets in
// every uncompressed transfer syntax (explicit and implicit VR little
// endian, explicit VR big endian, deflate), sequences of defined and
// undefined length, encapsulated pixel data with its offset tables, every VR
// including OF/OD/OL/OV/SV/UV, and Specific Character Set decoding with ISO
// 2022 code extensions. It also owns the DICOM JSON model (PS3.18 F.2) and
// locating and reformatting pixel data frames; compressed frames are decoded
// by the codec subpackage.
//
// Why the reader is our own: github.com/suyashkumar/dicom v1.1.0, measured
// in ../shared/research/go-dicom.md, panics on unknown transfer syntaxes and
// on ISO_IR 166, corrupts OF/OD/OL and fails on SV/UV/OV, allocates whatever
// a length field claims, hides truncation inside pixel data, treats
// fragments as frames and mirrors 1-bit data. Those are properties of its
// core, not options, and a server ingesting files from anywhere cannot live
// with them. We do use its data dictionary (LookupTag) and UID registry.
//
// Guarantees the parser keeps for any input: it never panics (a recover
// turns a bug into an error, which the fuzz test flags), it checks every
// length against the bytes actually left before allocating, bounds nesting
// depth, element count and inflated size, and reports truncation inside any
// element as ErrTruncated. Binary values are normalised to little endian in
// memory; values not loaded (bulk data) keep their file offsets and must be
// swapped by the reader of a big-endian file.
package dicom
