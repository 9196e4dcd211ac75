// Package annotation owns radmark's annotation model: label schemas and
// their validation, annotation sets and their immutable revisions (save
// with optimistic concurrency, history, diff, revert), validation of every
// annotation kind against the schema and the images' geometry, and the
// measurements the server computes from stored pixels. Every mutation goes
// to the store together with its audit event. It knows neither HTTP nor
// SQL: stores, the blob store and the image geometry are interfaces it is
// given.
package annotation
