// Package release owns dataset releases: a frozen, immutable selection of
// a project's accepted annotations (the revisions by id and content hash,
// the image instances they lie on by sha256, the label schema version), a
// seeded train/validation/test split by patient, the files exported from
// them (nnU-Net v2 layout with a MONAI datalist, a DICOM SEG per
// segmented series, the measurements table) and a manifest listing every
// file with its sha256. The manifest's own sha256 is the release id.
//
// A release is one tar archive in the blob store (releases/<id>/), offered
// as .tar or, converted on the fly, as .zip; Verify checks either form
// without trusting anything in it. Releases are never updated or deleted:
// the store has no method for it and the database refuses it (triggers).
//
// What "accepted" means: for a project with workflow cases, the final
// revision of every case in state done (agreed, single read accepted,
// picked, merged or edited by arbitration); cases still being read are
// left out and counted. A project without workflow cases has no notion of
// acceptance, so its release must name the revisions to freeze
// (Request.Revisions); without them Create refuses.
package release
