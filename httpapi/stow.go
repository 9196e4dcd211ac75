package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
)

// Limits of STOW-RS handling.
const (
	defaultMaxRequestBody = 1 << 30
	memorySpoolLimit      = 16 << 20  // parts up to this stay in memory
	batchBytes            = 128 << 20 // ingest in batches of this many bytes...
	batchParts            = 64        // ...or parts
)

// spooled is one received part: in the blob store already (an upload),
// in memory or in a temporary file.
type spooled struct {
	src     archive.Source
	upload  *archive.Upload
	file    *os.File
	mem     *bytes.Buffer // returned to spoolBuffers by close
	partErr error         // the part was refused before ingest (size, media type)
}

func (sp *spooled) close() {
	if sp.upload != nil {
		_ = sp.upload.Close()
	}
	if sp.file != nil {
		name := sp.file.Name()
		_ = sp.file.Close()
		_ = os.Remove(name)
	}
	if sp.mem != nil && sp.mem.Cap() <= maxPooledBuffer {
		sp.mem.Reset()
		spoolBuffers.Put(sp.mem)
	}
	sp.mem = nil
}

// spoolBuffers recycles the memory parts are received into: growing a
// fresh buffer for every instance, and collecting it afterwards, cost a
// quarter of ingest's CPU.
var spoolBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 1<<20)) }}

const maxPooledBuffer = 8 << 20

// spoolWriter receives a part into a pooled buffer, moving to a temporary
// file when it outgrows memorySpoolLimit, and hashes it on the way.
type spoolWriter struct {
	sp      *spooled
	h       hash.Hash
	tempDir string
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	sp := w.sp
	if sp.file == nil && sp.mem.Len()+len(p) <= memorySpoolLimit {
		return sp.mem.Write(p)
	}
	if sp.file == nil {
		f, err := os.CreateTemp(w.tempDir, "radmark-stow-*")
		if err != nil {
			return 0, fmt.Errorf("spool upload: %w", err)
		}
		sp.file = f
		if _, err := f.Write(sp.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("spool upload: %w", err)
		}
		sp.mem.Reset()
	}
	n, err := sp.file.Write(p)
	if err != nil {
		err = fmt.Errorf("spool upload: %w", err)
	}
	return n, err
}

// spoolPart receives the current part of m (at most max bytes).
func spoolPart(m *multipartReader, max int64, tempDir string) (*spooled, error) {
	sp := &spooled{mem: spoolBuffers.Get().(*bytes.Buffer)}
	w := &spoolWriter{sp: sp, h: sha256.New(), tempDir: tempDir}
	n, err := m.readBody(w, max)
	if err != nil {
		sp.close()
		if errors.Is(err, errPartTooLarge) {
			return nil, radmark.Errorf(radmark.ETOOLARGE, "part exceeds the limit of %d bytes", max)
		}
		return nil, err
	}
	sp.src = archive.Source{Size: n, SHA256: hex.EncodeToString(w.h.Sum(nil))}
	if sp.file != nil {
		sp.src.Data = sp.file
	} else {
		sp.src.Data = bytes.NewReader(sp.mem.Bytes())
	}
	return sp, nil
}

// uploadWriter passes a part to an upload, remembering a failure of the
// blob store (as opposed to one of the body).
type uploadWriter struct {
	up  *archive.Upload
	err error
}

func (w *uploadWriter) Write(p []byte) (int, error) {
	n, err := w.up.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// uploadPart receives the current part of m (at most max bytes) straight
// into the blob store, or, when the store cannot take it before its key is
// known, into memory or a temporary file as spoolPart does.
func (s *Server) uploadPart(ctx context.Context, m *multipartReader, max int64) (*spooled, error) {
	up, err := s.Archive.NewUpload(ctx)
	if err != nil {
		return nil, err
	}
	if up == nil {
		return spoolPart(m, max, s.TempDir)
	}
	w := &uploadWriter{up: up}
	if _, err := m.readBody(w, max); err != nil {
		_ = up.Close()
		switch {
		case w.err != nil:
			return nil, radmark.WrapError(radmark.EUNAVAILABLE, w.err, "the blob store is unavailable")
		case errors.Is(err, errPartTooLarge):
			return nil, radmark.Errorf(radmark.ETOOLARGE, "part exceeds the limit of %d bytes", max)
		}
		return nil, err
	}
	return &spooled{src: up.Source(""), upload: up}, nil
}

// stowBoundary checks a STOW-RS Content-Type and returns the multipart
// boundary (PS3.18 10.5.1.1: multipart/related; type="application/dicom").
func stowBoundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", radmark.Errorf(radmark.EUNSUPPORTED, "Content-Type %q does not parse: %v", contentType, err)
	}
	if mt != "multipart/related" {
		return "", radmark.Errorf(radmark.EUNSUPPORTED, `STOW-RS takes multipart/related; type="application/dicom", not %s`, mt)
	}
	if t := params["type"]; t != "" && !strings.EqualFold(t, "application/dicom") {
		return "", radmark.Errorf(radmark.EUNSUPPORTED, "STOW-RS of %s is not supported; send application/dicom parts", t)
	}
	if params["boundary"] == "" {
		return "", radmark.Errorf(radmark.EINVALID, "Content-Type has no multipart boundary")
	}
	return params["boundary"], nil
}

// readParts reads the parts of a STOW-RS body into memory or temporary
// files, calling batch with groups of spooled parts. Parts that are not
// application/dicom are reported as failed parts rather than ending the
// request.
func readParts(body io.Reader, boundary string, maxPart int64, tempDir string, batch func([]*spooled) error) (int, error) {
	var pending []*spooled
	var pendingBytes int64
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := batch(pending)
		for _, sp := range pending {
			sp.close()
		}
		pending, pendingBytes = nil, 0
		return err
	}
	defer func() {
		for _, sp := range pending {
			sp.close()
		}
	}()
	spool := func(m *multipartReader, max int64) (*spooled, error) { return spoolPart(m, max, tempDir) }
	n, err := eachPart(body, boundary, maxPart, spool, func(sp *spooled) error {
		pending = append(pending, sp)
		pendingBytes += sp.src.Size
		if len(pending) >= batchParts || pendingBytes >= batchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// eachPart reads the parts of a STOW-RS body, receiving each with spool
// and handing it to each, which then owns it. Parts that are not
// application/dicom, or too large, are handed over as refused parts rather
// than ending the request.
func eachPart(body io.Reader, boundary string, maxPart int64, spool func(*multipartReader, int64) (*spooled, error), each func(*spooled) error) (int, error) {
	mr := newMultipartReader(body, boundary)
	defer mr.release()
	count := 0
	tooBig := func(err error) bool {
		var mbe *http.MaxBytesError
		return errors.As(err, &mbe)
	}
	for {
		hdr, err := mr.nextPart()
		if errors.Is(err, io.EOF) {
			return count, nil
		}
		if err != nil {
			if tooBig(err) {
				return count, err
			}
			if count == 0 {
				return count, radmark.Errorf(radmark.EINVALID, "multipart body does not parse: %v", err)
			}
			return count, radmark.Errorf(radmark.EINVALID, "multipart body breaks after part %d: %v", count, err)
		}
		count++
		name := fmt.Sprintf("part %d", count)
		var sp *spooled
		if ct := hdr.Get("Content-Type"); ct != "" {
			if mt, _, _ := mime.ParseMediaType(ct); !strings.EqualFold(mt, "application/dicom") {
				if _, err := mr.readBody(io.Discard, 1<<62); err != nil {
					if tooBig(err) {
						return count, err
					}
					return count, radmark.Errorf(radmark.EINVALID, "%s cannot be read: %v", name, err)
				}
				sp = &spooled{partErr: radmark.Errorf(radmark.EUNSUPPORTED, "%s is %s, not application/dicom", name, mt)}
			}
		}
		if sp == nil {
			sp, err = spool(mr, maxPart)
			switch {
			case err == nil:
			case tooBig(err):
				return count, err
			case radmark.ErrorCode(err) == radmark.ETOOLARGE:
				sp = &spooled{partErr: err}
			case radmark.ErrorCode(err) == radmark.EUNAVAILABLE:
				return count, err
			default:
				return count, radmark.Errorf(radmark.EINVALID, "%s cannot be read: %v", name, err)
			}
		}
		sp.src.Name = name
		if err := each(sp); err != nil {
			return count, err
		}
	}
}

// ingestParts reads the parts of a STOW-RS body and ingests them. Each
// part goes straight into the blob store as it arrives when the store can
// take it (otherwise into memory or a temporary file), and into an ingest
// batch as soon as it is complete: its blob is stored while the next part
// arrives. The results are in part order. If the body breaks, the parts
// complete before the break are still ingested (so no stored blob is left
// unindexed) and the error is returned.
func (s *Server) ingestParts(ctx context.Context, body io.Reader, boundary string, maxPart int64, opts archive.IngestOptions) ([]archive.Result, error) {
	var results []archive.Result
	var batch *archive.Batch
	var spools []*spooled
	var positions []int // of the batch's parts in results
	var memBytes int64
	finish := func() error {
		if batch == nil {
			return nil
		}
		res, err := batch.Finish()
		for i, r := range res {
			results[positions[i]] = r
		}
		for _, sp := range spools {
			sp.close()
		}
		batch, spools, positions, memBytes = nil, nil, nil, 0
		return err
	}
	spool := func(m *multipartReader, max int64) (*spooled, error) { return s.uploadPart(ctx, m, max) }
	_, err := eachPart(body, boundary, maxPart, spool, func(sp *spooled) error {
		if sp.partErr != nil {
			results = append(results, archive.Result{Name: sp.src.Name, Err: sp.partErr})
			sp.close()
			return nil
		}
		if sp.upload != nil {
			sp.src = sp.upload.Source(sp.src.Name)
		} else {
			memBytes += sp.src.Size
		}
		if batch == nil {
			batch = s.Archive.NewBatch(ctx, opts)
		}
		positions = append(positions, len(results))
		results = append(results, archive.Result{Name: sp.src.Name})
		spools = append(spools, sp)
		batch.Add(sp.src)
		if len(spools) >= batchParts || memBytes >= batchBytes {
			return finish()
		}
		return nil
	})
	if ferr := finish(); err == nil {
		err = ferr
	}
	return results, err
}

// failureReason maps an ingest failure to a PS3.18/PS3.4 Failure Reason.
func failureReason(err error) int {
	switch radmark.ErrorCode(err) {
	case radmark.EUNSUPPORTED:
		return 0xC122 // transfer syntax (or media type) not supported
	case radmark.ECONFLICT:
		return 0x0111 // duplicate SOP instance with other content
	case radmark.ETOOLARGE:
		return 0xA700 // out of resources
	case radmark.EINVALID:
		return 0xC000 // cannot understand
	}
	return 0x0110 // processing failure
}

// stow answers STOW-RS: every application/dicom part is stored or refused
// with a reason; 200 when all were stored, 202 when some were, 409 when
// none were.
func (s *Server) stow(w http.ResponseWriter, r *http.Request) {
	study, _, _, err := pathUIDs(r)
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	if !acceptsJSON(parseAccept(r.Header.Get("Accept"))) {
		writeError(w, r, s.logger(), errNotAcceptable{"STOW-RS answers with application/dicom+json"})
		return
	}
	boundary, err := stowBoundary(r.Header.Get("Content-Type"))
	if err != nil {
		writeError(w, r, s.logger(), err)
		return
	}
	maxBody := s.MaxRequestBody
	if maxBody <= 0 {
		maxBody = defaultMaxRequestBody
	}
	if r.ContentLength > maxBody {
		writeError(w, r, s.logger(), radmark.Errorf(radmark.ETOOLARGE, "request body of %d bytes exceeds the limit of %d bytes; send fewer instances per request", r.ContentLength, maxBody))
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	overwrite := r.URL.Query().Get("overwrite") == "true"
	results, err := s.ingestParts(r.Context(), body, boundary, maxBody, archive.IngestOptions{StudyUID: study, Overwrite: overwrite, Audit: requestAudit(r.Context())})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = radmark.Errorf(radmark.ETOOLARGE, "request body exceeds the limit of %d bytes (%d instances before the limit were processed); send fewer instances per request", maxBody, len(results))
		}
		writeError(w, r, s.logger(), err)
		return
	}
	if len(results) == 0 {
		writeError(w, r, s.logger(), radmark.Errorf(radmark.EINVALID, "the request holds no application/dicom parts"))
		return
	}
	urls := archive.URLs{Base: baseURL(r)}
	var ok, failed []string
	for _, res := range results {
		if res.Err != nil {
			s.logger().Info("stow part refused", "request_id", RequestID(r.Context()), "part", res.Name, "sop_instance", res.SOPInstanceUID, "err", res.Err)
			failed = append(failed, fmt.Sprintf(`{"00000902":{"vr":"LO","Value":[%s]},"00081150":%s,"00081155":%s,"00081197":{"vr":"US","Value":[%d]}}`,
				jsonString(res.Name+": "+radmark.ErrorMessage(res.Err)), uidElement(res.SOPClassUID), uidElement(res.SOPInstanceUID), failureReason(res.Err)))
			continue
		}
		note := ""
		if res.Status == radmark.PutDuplicate {
			// Not a standard reason: lets clients such as radmark ingest
			// tell an identical re-send from a new instance.
			note = `"00000902":{"vr":"LO","Value":["duplicate: identical instance already stored"]},`
		}
		ok = append(ok, fmt.Sprintf(`{%s"00081150":%s,"00081155":%s,"00081190":{"vr":"UR","Value":[%s]}}`,
			note, uidElement(res.SOPClassUID), uidElement(res.SOPInstanceUID), jsonString(urls.Instance(res.StudyUID, res.SeriesUID, res.SOPInstanceUID))))
	}
	head := ""
	if study != "" {
		head = fmt.Sprintf(`"00081190":{"vr":"UR","Value":[%s]},`, jsonString(urls.Study(study)))
	}
	writeStowResponse(w, head, failed, ok)
}

// writeStowResponse writes a STOW-RS answer: head (attributes before the
// sequences, each followed by a comma), then FailedSOPSequence and
// ReferencedSOPSequence. 200 when nothing failed, 202 when some did, 409
// when nothing was stored.
func writeStowResponse(w http.ResponseWriter, head string, failed, ok []string) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{%s"00081198":{"vr":"SQ"%s},"00081199":{"vr":"SQ"%s}}`, head, seqValue(failed), seqValue(ok))
	status := http.StatusOK
	switch {
	case len(ok) == 0:
		status = http.StatusConflict
	case len(failed) > 0:
		status = http.StatusAccepted
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func seqValue(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return `,"Value":[` + strings.Join(items, ",") + `]`
}

func uidElement(u radmark.UID) string {
	if u == "" {
		return `{"vr":"UI"}`
	}
	return `{"vr":"UI","Value":[` + jsonString(string(u)) + `]}`
}
