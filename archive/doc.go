// Package archive owns radmark's DICOM archive: ingesting instances
// (validation, de-duplication, storing the original bytes unchanged and
// indexing them so that blob and index row land together or not at all),
// answering QIDO-RS style queries, and selecting and preparing what WADO-RS
// and WADO-URI return (instances, metadata, frames, bulk data, rendered
// images). It knows neither HTTP nor SQL: the index and the blob store are
// the radmark.ArchiveStore and radmark.BlobStore it is given.
package archive
