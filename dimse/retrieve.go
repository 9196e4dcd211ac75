package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
)

// retrieve is the C-MOVE SCP (get false) and the C-GET SCP (get true).
func (s *Server) retrieve(ctx context.Context, a *association, m *message, mdl model, get bool, log *slog.Logger) error {
	c := m.cmd
	field := CMoveRSP
	if get {
		field = CGetRSP
	}
	final := &Command{Field: field, MessageIDRespondedTo: c.MessageID, AffectedSOPClassUID: c.AffectedSOPClassUID}
	fail := refuser(a, m, final, log.With("op", opName(get)))
	ident, lvl, err := queryIdentifier(m, mdl, fail)
	if ident == nil {
		return err
	}
	var peer Peer
	if !get {
		found := false
		for _, p := range s.cfg.Peers {
			if p.AETitle == c.MoveDestination {
				peer, found = p, true
			}
		}
		if !found {
			return fail(StatusMoveDestinationUnknown, "move destination "+c.MoveDestination+" is not in the AE table")
		}
	}
	instances, err := s.selectInstances(ctx, ident, lvl)
	if err != nil {
		if radmark.ErrorCode(err) == radmark.EINVALID {
			return fail(StatusDatasetMismatch, err.Error())
		}
		return fail(StatusUnableToProcess, err.Error())
	}
	log.Info("dimse: retrieve", "op", opName(get), "level", lvl, "instances", len(instances), "destination", c.MoveDestination)

	var completed, failed, warned uint16
	var failedUIDs []string
	cancelled := false
	total := len(instances)
	progress := func(r SendResult) bool {
		switch {
		case r.Err != nil || statusKind(r.Status) == "failure":
			failed++
			failedUIDs = append(failedUIDs, string(r.SOPInstanceUID))
			log.Warn("dimse: retrieve sub-operation failed", "sop_instance", r.SOPInstanceUID, "status", fmt.Sprintf("0x%04X", r.Status), "err", r.Err)
		case r.Status != StatusSuccess:
			warned++
		default:
			completed++
		}
		if get && a.cancelled {
			cancelled = true
			return false
		}
		if !get && a.pendingData() {
			next, err := a.readMessage()
			if err != nil {
				return false
			}
			next.close()
			if next.cmd.Field == CCancelRQ && next.cmd.MessageIDRespondedTo == c.MessageID {
				cancelled = true
				return false
			}
		}
		done := int(completed + failed + warned)
		if done < total {
			rsp := &Command{Field: field, MessageIDRespondedTo: c.MessageID, AffectedSOPClassUID: c.AffectedSOPClassUID, Status: StatusPending,
				Remaining: u16p(uint16(total - done)), Completed: u16p(completed), Failed: u16p(failed), Warning: u16p(warned)}
			if err := a.writeMessage(m.ctx, rsp, nil); err != nil {
				return false
			}
		}
		return true
	}
	if len(instances) > 0 {
		var sendErr error
		if get {
			a.watchCancel, a.cancelled = c.MessageID, false
			sendErr = s.getSubOps(ctx, a, instances, progress)
			a.watchCancel = 0
		} else {
			var results []SendResult
			results, sendErr = send(ctx, s.archive, peer, DialOptions{CallingAE: s.cfg.AETitle, MaxPDULength: s.cfg.MaxPDULength,
				Timeout: s.cfg.ARTIMTimeout, IdleTimeout: s.cfg.IdleTimeout}, instances, a.callingAE, c.MessageID, progress)
			if sendErr != nil && !cancelled {
				// The rest could not be sent: count them failed.
				for _, in := range instances[len(results):] {
					failed++
					failedUIDs = append(failedUIDs, string(in.SOPInstanceUID))
				}
				if len(results) == 0 {
					final.ErrorComment = sendErr.Error()
				}
			}
		}
		if sendErr != nil && !cancelled {
			log.Warn("dimse: retrieve sub-operations ended early", "op", opName(get), "err", sendErr)
			if get && (a.closed || errors.Is(sendErr, ErrProtocol)) {
				return sendErr
			}
		}
	}
	final.Completed, final.Failed, final.Warning = u16p(completed), u16p(failed), u16p(warned)
	switch {
	case cancelled:
		final.Status = StatusCancel
		final.Remaining = u16p(uint16(total - int(completed+failed+warned)))
	case failed == 0 && warned == 0:
		final.Status = StatusSuccess
	case completed == 0 && warned == 0:
		final.Status = StatusSubOpsOutOfResources
	default:
		final.Status = StatusSubOpsWarning
	}
	if len(failedUIDs) == 0 {
		return a.writeMessage(m.ctx, final, nil)
	}
	id := &dicom.Dataset{}
	id.SetStringVR(tagFailedSOPInstanceUIDList, dicom.UI, failedUIDs...)
	var buf bytes.Buffer
	if err := dicom.WriteDatasetSyntax(&buf, id, m.ctx.TransferSyntax); err != nil {
		return err
	}
	return a.writeMessage(m.ctx, final, &buf)
}

func opName(get bool) string {
	if get {
		return "C-GET"
	}
	return "C-MOVE"
}

// getSubOps sends instances back over the requesting association (C-GET),
// on the storage contexts for which the requestor took the SCP role.
func (s *Server) getSubOps(ctx context.Context, a *association, instances []*radmark.Instance, progress func(SendResult) bool) error {
	cl := &Client{a: a}
	for _, in := range instances {
		r := SendResult{SOPInstanceUID: in.SOPInstanceUID}
		obj, err := readStored(ctx, s.archive, in)
		if err == nil {
			if _, ok := a.roles[obj.sopClass]; !ok {
				err = fmt.Errorf("the requestor did not take the SCP role for %s", obj.sopClass)
			}
		}
		if err == nil {
			var ts string
			var data []byte
			if ts, data, err = obj.encodedFor(ctx, s.archive, in, cl); err == nil {
				r.Status, err = cl.store(obj.sopClass, obj.sopInstance, ts, bytes.NewReader(data), "", 0)
				var se *StatusError
				if err != nil && !errors.As(err, &se) {
					return err
				}
			}
		}
		if err != nil && r.Status == 0 {
			r.Status = StatusUnableToProcess
		}
		r.Err = err
		if !progress(r) {
			return nil
		}
	}
	return nil
}

// selectInstances resolves a retrieve identifier to instances through its
// unique keys (PS3.4 C.4.2.2.1): PatientID, StudyInstanceUID,
// SeriesInstanceUID or SOPInstanceUID lists.
func (s *Server) selectInstances(ctx context.Context, ident *dicom.Dataset, lvl string) ([]*radmark.Instance, error) {
	uids := func(t dicom.Tag) []radmark.UID {
		var out []radmark.UID
		for _, v := range ident.Strings(t) {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, radmark.UID(v))
			}
		}
		return out
	}
	one := func(t dicom.Tag) radmark.UID {
		if u := uids(t); len(u) == 1 {
			return u[0]
		}
		return ""
	}
	var out []*radmark.Instance
	add := func(study, series, sop radmark.UID) error {
		ins, err := s.archive.Select(ctx, study, series, sop)
		if radmark.ErrorCode(err) == radmark.ENOTFOUND {
			return nil
		}
		out = append(out, ins...)
		return err
	}
	switch lvl {
	case "PATIENT":
		pid := ident.String(dicom.TagPatientID)
		if pid == "" || strings.ContainsAny(pid, "*?") {
			return nil, radmark.Errorf(radmark.EINVALID, "a PATIENT level retrieve needs a Patient ID")
		}
		q, err := archive.ParseSearch(radmark.StudyLevel, "", "", url.Values{"PatientID": {pid}, "limit": {strconv.Itoa(s.cfg.MaxFindResults)}})
		if err != nil {
			return nil, err
		}
		studies, err := s.search(ctx, q, "STUDY")
		if err != nil {
			return nil, err
		}
		for _, st := range studies {
			if err := add(radmark.UID(st.str(dicom.TagStudyInstanceUID)), "", ""); err != nil {
				return nil, err
			}
		}
	case "STUDY":
		studies := uids(dicom.TagStudyInstanceUID)
		if len(studies) == 0 {
			return nil, radmark.Errorf(radmark.EINVALID, "a STUDY level retrieve needs Study Instance UIDs")
		}
		for _, st := range studies {
			if err := add(st, "", ""); err != nil {
				return nil, err
			}
		}
	case "SERIES":
		series := uids(dicom.TagSeriesInstanceUID)
		if len(series) == 0 {
			return nil, radmark.Errorf(radmark.EINVALID, "a SERIES level retrieve needs Series Instance UIDs")
		}
		for _, se := range series {
			if err := add(one(dicom.TagStudyInstanceUID), se, ""); err != nil {
				return nil, err
			}
		}
	default:
		sops := uids(dicom.TagSOPInstanceUID)
		if len(sops) == 0 {
			return nil, radmark.Errorf(radmark.EINVALID, "an IMAGE level retrieve needs SOP Instance UIDs")
		}
		for _, sop := range sops {
			if err := add(one(dicom.TagStudyInstanceUID), one(dicom.TagSeriesInstanceUID), sop); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
