// Package radmark holds the vocabulary every part of radmark shares: the
// archive's records (patients, studies, series, instances), typed identifiers,
// the domain error with its stable codes, and the small store interfaces the
// domain needs. It imports only the standard library; implementations live in
// driver packages (sqlite, postgres, blob/fs) wired together by cmd/radmark.
package radmark
