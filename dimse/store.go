package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
)

// store is the C-STORE SCP: the data set is kept byte for byte as received,
// behind generated file meta naming the negotiated transfer syntax.
func (s *Server) store(ctx context.Context, a *association, m *message, log *slog.Logger) error {
	c := m.cmd
	status, comment := s.storeDataSet(ctx, a, m)
	log = log.With("sop_class", c.AffectedSOPClassUID, "sop_instance", c.AffectedSOPInstanceUID, "ts", m.ctx.TransferSyntax)
	if statusKind(status) == "failure" {
		log.Warn("dimse: C-STORE refused", "status", fmt.Sprintf("0x%04X", status), "reason", comment)
	} else {
		log.Debug("dimse: C-STORE stored", "status", fmt.Sprintf("0x%04X", status))
	}
	rsp := &Command{Field: CStoreRSP, MessageIDRespondedTo: c.MessageID, AffectedSOPClassUID: c.AffectedSOPClassUID,
		AffectedSOPInstanceUID: c.AffectedSOPInstanceUID, Status: status, ErrorComment: comment}
	return a.writeMessage(m.ctx, rsp, nil)
}

func (s *Server) storeDataSet(ctx context.Context, a *association, m *message) (uint16, string) {
	c := m.cmd
	if m.data == nil || m.data.Size() == 0 {
		return StatusCannotUnderstand, "C-STORE request without a data set"
	}
	if c.AffectedSOPInstanceUID == "" {
		return StatusCannotUnderstand, "C-STORE request lacks Affected SOP Instance UID"
	}
	size := m.data.Size()
	opts := dicom.ParseOptions{TransferSyntax: m.ctx.TransferSyntax, StopAtPixelData: true, BulkDataThreshold: 64 << 10}
	var f *dicom.File
	var err error
	if b, inMem := m.data.Bytes(); inMem {
		f, err = dicom.ParseBytes(b, opts)
	} else {
		f, err = dicom.Parse(io.NewSectionReader(m.data.ReaderAt(), 0, size), size, opts)
	}
	if err != nil {
		return StatusCannotUnderstand, "cannot parse the data set: " + err.Error()
	}
	sopClass, sopInstance := f.Dataset.String(dicom.TagSOPClassUID), f.Dataset.String(dicom.TagSOPInstanceUID)
	switch {
	case sopInstance == "":
		return StatusCannotUnderstand, "the data set lacks SOP Instance UID (0008,0018)"
	case sopClass == "":
		return StatusCannotUnderstand, "the data set lacks SOP Class UID (0008,0016)"
	case sopClass != c.AffectedSOPClassUID:
		return StatusDatasetMismatch, "data set SOP Class " + sopClass + " differs from the request's"
	case sopInstance != c.AffectedSOPInstanceUID:
		return StatusDatasetMismatch, "data set SOP Instance UID differs from the request's"
	}
	var hdr bytes.Buffer
	if err := dicom.WriteFileHeader(&hdr, dicom.FileMeta{SOPClassUID: sopClass, SOPInstanceUID: sopInstance,
		TransferSyntax: m.ctx.TransferSyntax, SourceAETitle: a.callingAE}); err != nil {
		return StatusCannotUnderstand, err.Error()
	}
	src := archive.Source{
		Name: "C-STORE from " + a.callingAE + " " + sopInstance,
		Data: concatReaderAt{head: hdr.Bytes(), body: m.data.ReaderAt()},
		Size: int64(hdr.Len()) + size,
	}
	if b, ok := m.data.Part10(hdr.Bytes()); ok {
		src.Data, src.Bytes = bytes.NewReader(b), b
	}
	if a.project != "" {
		return s.storeToProject(ctx, a, src)
	}
	res, err := s.archive.Ingest(ctx, []archive.Source{src}, archive.IngestOptions{})
	if err != nil && (len(res) == 0 || res[0].Err == nil) {
		return StatusOutOfResources, "the archive cannot store now: " + err.Error()
	}
	if len(res) != 1 {
		return StatusOutOfResources, "the archive returned no result"
	}
	r := res[0]
	if r.Err != nil {
		var de *radmark.Error
		msg := r.Err.Error()
		if errors.As(r.Err, &de) {
			msg = de.Message
		}
		switch radmark.ErrorCode(r.Err) {
		case radmark.EUNAVAILABLE, radmark.ETOOLARGE, radmark.EINTERNAL:
			return StatusOutOfResources, msg
		case radmark.ECONFLICT:
			return StatusDatasetMismatch, "another object is stored under this SOP Instance UID"
		}
		return StatusCannotUnderstand, msg
	}
	// An identical re-send (PutDuplicate) is a success: the archive holds
	// exactly these bytes. PS3.4 B.2.3 has no warning for it, and 0xB000
	// would wrongly tell the sender its data were coerced.
	return StatusSuccess, ""
}
