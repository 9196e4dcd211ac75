// Package dimse owns DICOM networking (PS3.7 message exchange, PS3.8 upper
// layer): association negotiation, the DIMSE message layer, and the services
// radmark offers to PACS and modalities — Verification (C-ECHO), Storage
// (C-STORE SCP for every Storage SOP Class, data sets kept byte for byte in
// the negotiated transfer syntax, compressed ones included), Query/Retrieve
// in the Patient and Study Root models (C-FIND answered by the same archive
// search as QIDO-RS, C-MOVE to the AEs of a configured table, C-GET), and a
// C-STORE SCU for sending results to a PACS.
//
// It is written here rather than taken from a library because no usable Go
// DIMSE implementation is served (../shared/research/go-dicom.md): the two
// that are accept compressed transfer syntaxes and then abort, and cannot
// bind to loopback only.
//
// Every PDU length is checked against the negotiated maximum before
// anything is allocated; malformed PDUs and command sets abort the
// association with the PS3.8 reason; large data sets spool to disk.
// Associations run with an asynchronous operations window of 1.
package dimse
