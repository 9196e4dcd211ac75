package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/radmark/radmark"
)

// errRaced means a write found the archive other than the transaction read
// it before taking its locks: another writer committed in between. Running
// the batch again reads the new state.
var errRaced = errors.New("archive changed by a concurrent writer")

// maxAttempts bounds the retries of one batch after races or deadlocks.
const maxAttempts = 10

// chunkSize bounds the rows or values in one statement, well below the
// engines' limits on bound parameters (SQLite 32766, PostgreSQL 65535).
const chunkSize = 500

// PutInstances implements radmark.ArchiveStore.PutInstances.
//
// Semantics, per record and in order (a later record sees the earlier ones):
//   - An invalid record (missing UIDs or digest, UIDs that disagree between
//     the study, series and instance parts, text that is not UTF-8 or holds
//     NUL) fails with EINVALID.
//   - The SOP instance already stored with the same SHA-256: PutDuplicate,
//     and nothing changes (not even study or series attributes).
//   - Stored with another SHA-256: ECONFLICT, unless opts.Overwrite, in which
//     case the row is replaced (PutReplaced with the old blob key, and
//     CreatedAt the time of the replace); the new record may place the
//     instance in another series or study.
//   - A series already indexed under another study: ECONFLICT.
//   - Otherwise PutStored. The patient (keyed by PatientID and
//     IssuerOfPatientID, both possibly empty), study and series are upserted
//     with the attributes of the newest record that was stored or replaced.
//
// Counters and ModalitiesInStudy stay exact; series, studies and patients
// left empty by a replace are deleted. The batch runs in one transaction; if
// that fails for a reason other than a race, every record is retried in a
// transaction of its own so that one bad record cannot stop the others. The
// error return means nothing was indexed.
// PutInstances indexes records at the store's current time (Now); see
// PutInstancesAt.
func (s *Store) PutInstances(ctx context.Context, records []*radmark.InstanceRecord, opts radmark.PutOptions) ([]radmark.PutResult, error) {
	now := time.Now().UTC()
	if s.Now != nil {
		now = s.Now()
	}
	return s.PutInstancesAt(ctx, now, records, opts)
}

func (s *Store) PutInstancesAt(ctx context.Context, now time.Time, records []*radmark.InstanceRecord, opts radmark.PutOptions) ([]radmark.PutResult, error) {
	now = Timestamp(now)
	events := opts.Audit
	staged, err := s.stageEvents("index instances", events)
	if err != nil {
		return nil, err
	}
	opts.Audit = nil
	// appended is set when the transaction that carried the events
	// committed: they are then copied back with their place in the chain.
	appended := false
	defer func() {
		if appended {
			for i, e := range events {
				*e = staged[i]
			}
		}
	}()
	results := make([]radmark.PutResult, len(records))
	var valid []int
	for i, r := range records {
		if err := validateRecord(r); err != nil {
			results[i].Err = err
			continue
		}
		valid = append(valid, i)
	}
	if len(valid) == 0 {
		if len(staged) > 0 {
			// The events are stored all the same: the request they
			// record happened.
			if err := s.mutateOnce(ctx, nil, func(tx *sql.Tx) error { return s.appendPutEvents(ctx, tx, opts, staged) }); err != nil {
				return nil, fmt.Errorf("index instances: %w", err)
			}
			appended = true
		}
		return results, nil
	}
	batch := make([]*radmark.InstanceRecord, len(valid))
	for j, i := range valid {
		batch[j] = records[i]
	}
	res, batchErr := s.putWithRetry(ctx, now, batch, opts, staged)
	if batchErr == nil {
		for j, i := range valid {
			results[i] = res[j]
		}
		appended = true
		return results, nil
	}
	if ctx.Err() != nil || len(valid) == 1 {
		return nil, fmt.Errorf("index instances: %w", batchErr)
	}

	// The events go with the first record whose transaction commits.
	for _, i := range valid {
		var carried []radmark.AuditEvent
		if !appended {
			carried = staged
		}
		res, err := s.putWithRetry(ctx, now, records[i:i+1], opts, carried)
		if err != nil {
			results[i] = radmark.PutResult{Err: fmt.Errorf("index instance %s: %w", records[i].Instance.SOPInstanceUID, err)}
			continue
		}
		results[i] = res[0]
		appended = true
	}
	if !appended {
		return nil, fmt.Errorf("index instances: %w", batchErr)
	}
	return results, nil
}

func (s *Store) putWithRetry(ctx context.Context, now time.Time, recs []*radmark.InstanceRecord, opts radmark.PutOptions, events []radmark.AuditEvent) ([]radmark.PutResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.putTx(ctx, now, recs, opts, events)
		if err == nil {
			return res, nil
		}
		if attempt >= maxAttempts || ctx.Err() != nil || !(errors.Is(err, errRaced) || s.retryable(err)) {
			return nil, err
		}
		// Jitter keeps writers that collided from colliding again in step.
		select {
		case <-time.After(time.Duration(1+rand.IntN(5*attempt)) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func validateRecord(r *radmark.InstanceRecord) error {
	if r == nil {
		return radmark.Errorf(radmark.EINVALID, "instance record is nil")
	}
	in := &r.Instance
	sop := in.SOPInstanceUID
	switch {
	case sop == "":
		return radmark.Errorf(radmark.EINVALID, "instance has no SOP Instance UID")
	case r.Study.UID == "":
		return radmark.Errorf(radmark.EINVALID, "instance %s has no Study Instance UID", sop)
	case r.Series.UID == "":
		return radmark.Errorf(radmark.EINVALID, "instance %s has no Series Instance UID", sop)
	case in.StudyUID != "" && in.StudyUID != r.Study.UID:
		return radmark.Errorf(radmark.EINVALID, "instance %s: its study UID %s differs from its study record's %s", sop, in.StudyUID, r.Study.UID)
	case in.SeriesUID != "" && in.SeriesUID != r.Series.UID:
		return radmark.Errorf(radmark.EINVALID, "instance %s: its series UID %s differs from its series record's %s", sop, in.SeriesUID, r.Series.UID)
	case r.Series.StudyUID != "" && r.Series.StudyUID != r.Study.UID:
		return radmark.Errorf(radmark.EINVALID, "instance %s: series %s names study %s, but the study record is %s", sop, r.Series.UID, r.Series.StudyUID, r.Study.UID)
	case in.SHA256 == "":
		return radmark.Errorf(radmark.EINVALID, "instance %s has no SHA-256 digest", sop)
	case in.BlobKey == "":
		return radmark.Errorf(radmark.EINVALID, "instance %s has no blob key", sop)
	case in.Size < 0 || in.NumberOfFrames < 0 || in.Rows < 0 || in.Columns < 0:
		return radmark.Errorf(radmark.EINVALID, "instance %s has a negative size, frame count, rows or columns", sop)
	}
	// PostgreSQL rejects text that is not UTF-8 or holds NUL, SQLite stores
	// it; checking here makes both engines refuse the same records.
	p := &r.Study.Patient
	if r.Linkage != nil {
		if err := checkLinkage("instance "+string(sop), string(sop), r.Linkage); err != nil {
			return err
		}
	}
	for _, f := range [...]struct{ name, value string }{
		{"SOPInstanceUID", string(sop)}, {"SOPClassUID", string(in.SOPClassUID)},
		{"TransferSyntaxUID", string(in.TransferSyntaxUID)}, {"StudyInstanceUID", string(r.Study.UID)},
		{"SeriesInstanceUID", string(r.Series.UID)}, {"blob key", in.BlobKey}, {"SHA-256", in.SHA256},
		{"PatientID", p.ID}, {"IssuerOfPatientID", p.Issuer}, {"PatientName", p.Name},
		{"PatientBirthDate", p.BirthDate}, {"PatientSex", p.Sex}, {"StudyDate", r.Study.Date},
		{"StudyTime", r.Study.Time}, {"AccessionNumber", r.Study.AccessionNumber}, {"StudyID", r.Study.StudyID},
		{"StudyDescription", r.Study.Description}, {"ReferringPhysicianName", r.Study.ReferringPhysicianName},
		{"Modality", r.Series.Modality}, {"SeriesDescription", r.Series.Description},
		{"BodyPartExamined", r.Series.BodyPartExamined},
		{"PerformedProcedureStepStartDate", r.Series.PerformedStartDate},
		{"PerformedProcedureStepStartTime", r.Series.PerformedStartTime},
	} {
		if !utf8.ValidString(f.value) || strings.IndexByte(f.value, 0) >= 0 {
			return radmark.Errorf(radmark.EINVALID, "instance %s: %s is not valid UTF-8 text", sop, f.name)
		}
	}
	return nil
}

type patientKey struct{ id, issuer string }

func patientOf(r *radmark.InstanceRecord) patientKey {
	return patientKey{r.Study.Patient.ID, r.Study.Patient.Issuer}
}

func comparePatients(a, b patientKey) int {
	return cmp.Or(strings.Compare(a.id, b.id), strings.Compare(a.issuer, b.issuer))
}

// storedInstance is an instance row as the transaction first read it.
type storedInstance struct {
	pk, seriesPK, studyPK int64
	sha256, blobKey       string
	seriesUID, studyUID   string
}

type storedStudy struct {
	pk, patientPK int64
	patient       patientKey
}

// putTx indexes recs in one transaction; see PutInstances.
func (s *Store) putTx(ctx context.Context, now time.Time, recs []*radmark.InstanceRecord, opts radmark.PutOptions, events []radmark.AuditEvent) (_ []radmark.PutResult, err error) {
	var begin interface {
		BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
	} = s.write
	if opts.Unsynced && s.dialect == SQLite {
		conn, err := s.unsyncedConn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.done()
		begin = conn.Conn
	}
	tx, err := begin.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	sops, seriesUIDs, studyUIDs := make([]string, 0, len(recs)), []string{}, []string{}
	for _, r := range recs {
		sops = append(sops, string(r.Instance.SOPInstanceUID))
		seriesUIDs = append(seriesUIDs, string(r.Series.UID))
		studyUIDs = append(studyUIDs, string(r.Study.UID))
	}
	// Read what the batch depends on, under advisory locks on PostgreSQL:
	// first its SOP instances, then the studies they are in now and the
	// studies the records name.
	sops = distinct(sops)
	if err := s.advisoryLock(ctx, tx, "instance", sops); err != nil {
		return nil, err
	}
	stored, err := s.loadInstances(ctx, tx, sops)
	if err != nil {
		return nil, err
	}
	for _, in := range stored {
		studyUIDs = append(studyUIDs, in.studyUID)
	}
	studyUIDs = distinct(studyUIDs)
	if err := s.advisoryLock(ctx, tx, "study", studyUIDs); err != nil {
		return nil, err
	}
	seriesStudy, err := s.loadSeriesStudies(ctx, tx, distinct(seriesUIDs))
	if err != nil {
		return nil, err
	}
	studies, err := s.loadStudies(ctx, tx, studyUIDs)
	if err != nil {
		return nil, err
	}

	// Decide each record's outcome against the stored state as modified by
	// the records before it. state holds, per SOP instance, the record it
	// ends up as (nil: untouched) and its current digest and blob.
	type current struct {
		sha256, blobKey string
		rec             *radmark.InstanceRecord
	}
	results := make([]radmark.PutResult, len(recs))
	linkageProjects, err := s.existingProjects(ctx, tx, recs)
	if err != nil {
		return nil, err
	}
	state := map[string]*current{}
	lastStudy := map[string]*radmark.InstanceRecord{}
	lastSeries := map[string]*radmark.InstanceRecord{}
	lastPatient := map[patientKey]*radmark.InstanceRecord{}
	for i, r := range recs {
		sop := string(r.Instance.SOPInstanceUID)
		if r.Linkage != nil && !linkageProjects[r.Linkage.ProjectID] {
			results[i].Err = radmark.Errorf(radmark.ENOTFOUND, "instance %s: its linkage names project %s, which does not exist", sop, r.Linkage.ProjectID)
			continue
		}
		cur := state[sop]
		if cur == nil {
			if old := stored[sop]; old != nil {
				cur = &current{sha256: old.sha256, blobKey: old.blobKey}
				state[sop] = cur
			}
		}
		if cur != nil && strings.EqualFold(cur.sha256, r.Instance.SHA256) {
			results[i].Status = radmark.PutDuplicate
			continue
		}
		if st, ok := seriesStudy[string(r.Series.UID)]; ok && st != string(r.Study.UID) {
			results[i].Err = radmark.Errorf(radmark.ECONFLICT,
				"instance %s: series %s is already indexed in study %s, not %s", sop, r.Series.UID, st, r.Study.UID)
			continue
		}
		if cur != nil {
			if !opts.Overwrite {
				results[i].Err = radmark.Errorf(radmark.ECONFLICT,
					"SOP instance %s exists with different content (stored sha256 %s…, new %s…)",
					sop, prefix(cur.sha256), prefix(r.Instance.SHA256))
				continue
			}
			results[i] = radmark.PutResult{Status: radmark.PutReplaced, PreviousBlobKey: cur.blobKey}
		} else {
			results[i].Status = radmark.PutStored
			cur = &current{}
			state[sop] = cur
		}
		cur.sha256, cur.blobKey, cur.rec = r.Instance.SHA256, r.Instance.BlobKey, r
		seriesStudy[string(r.Series.UID)] = string(r.Study.UID)
		lastStudy[string(r.Study.UID)] = r
		lastSeries[string(r.Series.UID)] = r
		lastPatient[patientOf(r)] = r
	}

	// Each de-identified instance indexed now or found stored already
	// keeps its linkage in this transaction: never one without the other.
	for i, r := range recs {
		if r.Linkage != nil && results[i].Err == nil {
			if err := s.putLinkage(ctx, tx, string(r.Instance.SOPInstanceUID), r.Linkage); err != nil {
				return nil, err
			}
		}
	}

	// Turn the final states into row changes and counter deltas. Targets are
	// the series and studies instances end up in; old ones are where replaced
	// instances came from, which may end up empty.
	type update struct {
		old *storedInstance
		rec *radmark.InstanceRecord
	}
	var inserts []*radmark.InstanceRecord
	var updates []update
	seriesDelta, studyDelta := map[string]int{}, map[string]int{}
	targetSeries, targetStudies := map[string]bool{}, map[string]bool{}
	oldSeries, oldStudies := map[string]int64{}, map[string]int64{}
	oldPatients := map[patientKey]int64{}
	for sop, cur := range state {
		r := cur.rec
		if r == nil {
			continue
		}
		se, st := string(r.Series.UID), string(r.Study.UID)
		targetSeries[se], targetStudies[st] = true, true
		seriesDelta[se]++
		studyDelta[st]++
		old := stored[sop]
		if old == nil {
			inserts = append(inserts, r)
			continue
		}
		updates = append(updates, update{old, r})
		seriesDelta[old.seriesUID]--
		studyDelta[old.studyUID]--
		oldSeries[old.seriesUID] = old.seriesPK
		oldStudies[old.studyUID] = old.studyPK
		prev, ok := studies[old.studyUID]
		if !ok {
			return nil, fmt.Errorf("study %s of instance %s not found: %w", old.studyUID, sop, errRaced)
		}
		oldPatients[prev.patient] = prev.patientPK
	}
	if len(inserts)+len(updates) == 0 {
		if err := s.commitPut(ctx, tx, opts, events); err != nil {
			return nil, err
		}
		return results, nil
	}
	slices.SortFunc(inserts, func(a, b *radmark.InstanceRecord) int {
		return strings.Compare(string(a.Instance.SOPInstanceUID), string(b.Instance.SOPInstanceUID))
	})
	slices.SortFunc(updates, func(a, b update) int {
		return strings.Compare(string(a.rec.Instance.SOPInstanceUID), string(b.rec.Instance.SOPInstanceUID))
	})
	targetPatients := map[patientKey]bool{}
	for st := range targetStudies {
		k := patientOf(lastStudy[st])
		targetPatients[k] = true
		if prev, ok := studies[st]; ok && prev.patient != k {
			oldPatients[prev.patient] = prev.patientPK
		}
	}

	// Lock in the global order: patients, studies, series, each by key.
	patientKeys := make([]patientKey, 0, len(targetPatients)+len(oldPatients))
	for k := range targetPatients {
		patientKeys = append(patientKeys, k)
	}
	for k := range oldPatients {
		if !targetPatients[k] {
			patientKeys = append(patientKeys, k)
		}
	}
	slices.SortFunc(patientKeys, comparePatients)
	patientPK := map[patientKey]int64{}
	for _, k := range patientKeys {
		if !targetPatients[k] {
			if err := s.lockRow(ctx, tx, "patient", oldPatients[k]); err != nil {
				return nil, err
			}
			continue
		}
		pk, err := s.putPatient(ctx, tx, now, lastPatient[k])
		if err != nil {
			return nil, err
		}
		patientPK[k] = pk
	}

	studyPK := map[string]int64{}
	for _, uid := range sortedKeys(targetStudies, oldStudies) {
		if !targetStudies[uid] {
			if err := s.addInstances(ctx, tx, now, "study", oldStudies[uid], studyDelta[uid]); err != nil {
				return nil, err
			}
			studyPK[uid] = oldStudies[uid]
			continue
		}
		r := lastStudy[uid]
		pk, err := s.putStudy(ctx, tx, now, r, patientPK[patientOf(r)], studyDelta[uid])
		if err != nil {
			return nil, err
		}
		studyPK[uid] = pk
	}

	// The studies whose series set or modalities may change: those of a
	// series inserted or changed, and all of them when instances move.
	refresh := map[int64]bool{}
	seriesPK := map[string]int64{}
	for _, uid := range sortedKeys(targetSeries, oldSeries) {
		if !targetSeries[uid] {
			if err := s.addInstances(ctx, tx, now, "series", oldSeries[uid], seriesDelta[uid]); err != nil {
				return nil, err
			}
			continue
		}
		r := lastSeries[uid]
		stPK := studyPK[string(r.Study.UID)]
		pk, same, err := s.putSeries(ctx, tx, now, r, stPK, seriesDelta[uid])
		if err != nil {
			return nil, err
		}
		seriesPK[uid] = pk
		if !same {
			refresh[stPK] = true
		}
	}

	if err := s.insertInstances(ctx, tx, now, inserts, seriesPK); err != nil {
		return nil, err
	}
	for _, u := range updates {
		if err := s.replaceInstance(ctx, tx, now, u.old, u.rec, seriesPK[string(u.rec.Series.UID)]); err != nil {
			return nil, err
		}
	}

	// Remove what replaces emptied, then refresh the derived study columns.
	for uid, pk := range oldSeries {
		if !targetSeries[uid] {
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM series WHERE pk = ? AND num_instances = 0`), pk); err != nil {
				return nil, fmt.Errorf("delete empty series %s: %w", uid, err)
			}
		}
	}
	affected := make([]int64, 0, len(studyPK))
	for _, pk := range studyPK {
		if refresh[pk] || len(updates) > 0 {
			affected = append(affected, pk)
		}
	}
	if err := s.refreshStudies(ctx, tx, now, affected); err != nil {
		return nil, err
	}
	for uid, pk := range oldStudies {
		if !targetStudies[uid] {
			if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM study WHERE pk = ? AND num_instances = 0`), pk); err != nil {
				return nil, fmt.Errorf("delete empty study %s: %w", uid, err)
			}
		}
	}
	for k, pk := range oldPatients {
		if !targetPatients[k] {
			if _, err := tx.ExecContext(ctx, s.rebind(
				`DELETE FROM patient WHERE pk = ? AND NOT EXISTS (SELECT 1 FROM study WHERE patient_pk = ?)`), pk, pk); err != nil {
				return nil, fmt.Errorf("delete patient without studies: %w", err)
			}
		}
	}

	if err := s.commitPut(ctx, tx, opts, events); err != nil {
		return nil, err
	}
	return results, nil
}

// commitPut ends an index transaction: the caller's hook
// (PutOptions.BeforeCommit), the audit events, the commit. The events
// come last, so that the chain's head is locked for the shortest time.
// On error the caller rolls back.
func (s *Store) commitPut(ctx context.Context, tx *sql.Tx, opts radmark.PutOptions, events []radmark.AuditEvent) error {
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(); err != nil {
			return fmt.Errorf("before commit: %w", err)
		}
	}
	if err := s.appendPutEvents(ctx, tx, opts, events); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// existingProjects returns which of the projects the records' linkage
// names exist.
func (s *Store) existingProjects(ctx context.Context, tx *sql.Tx, recs []*radmark.InstanceRecord) (map[radmark.ID]bool, error) {
	out := map[radmark.ID]bool{}
	for _, r := range recs {
		if r.Linkage == nil {
			continue
		}
		if _, seen := out[r.Linkage.ProjectID]; seen {
			continue
		}
		err := s.missingProject(ctx, tx, r.Linkage.ProjectID)
		if err != nil && radmark.ErrorCode(err) != radmark.ENOTFOUND {
			return nil, err
		}
		out[r.Linkage.ProjectID] = err == nil
	}
	return out, nil
}

func prefix(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func distinct(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}

func sortedKeys(a map[string]bool, b map[string]int64) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if !a[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (s *Store) loadInstances(ctx context.Context, tx *sql.Tx, sops []string) (map[string]*storedInstance, error) {
	out := map[string]*storedInstance{}
	for chunk := range slices.Chunk(sops, chunkSize) {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT i.sop_uid, i.pk, i.sha256, i.blob_key,
	se.pk, se.uid, st.pk, st.uid
FROM instance i
JOIN series se ON se.pk = i.series_pk
JOIN study st ON st.pk = se.study_pk
WHERE i.sop_uid IN (`+placeholders(len(chunk))+`)`), anys(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("read stored instances: %w", err)
		}
		for rows.Next() {
			var uid string
			var in storedInstance
			if err := rows.Scan(&uid, &in.pk, &in.sha256, &in.blobKey, &in.seriesPK, &in.seriesUID,
				&in.studyPK, &in.studyUID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read stored instances: %w", err)
			}
			out[uid] = &in
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read stored instances: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read stored instances: %w", err)
		}
	}
	return out, nil
}

// loadSeriesStudies maps each stored series among uids to its study's UID.
func (s *Store) loadSeriesStudies(ctx context.Context, tx *sql.Tx, uids []string) (map[string]string, error) {
	out := map[string]string{}
	for chunk := range slices.Chunk(uids, chunkSize) {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT se.uid, st.uid FROM series se
JOIN study st ON st.pk = se.study_pk WHERE se.uid IN (`+placeholders(len(chunk))+`)`), anys(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("read stored series: %w", err)
		}
		for rows.Next() {
			var se, st string
			if err := rows.Scan(&se, &st); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read stored series: %w", err)
			}
			out[se] = st
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read stored series: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read stored series: %w", err)
		}
	}
	return out, nil
}

func (s *Store) loadStudies(ctx context.Context, tx *sql.Tx, uids []string) (map[string]storedStudy, error) {
	out := map[string]storedStudy{}
	for chunk := range slices.Chunk(uids, chunkSize) {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT st.uid, st.pk, p.pk, p.patient_id, p.issuer FROM study st
JOIN patient p ON p.pk = st.patient_pk WHERE st.uid IN (`+placeholders(len(chunk))+`)`), anys(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("read stored studies: %w", err)
		}
		for rows.Next() {
			var uid string
			var st storedStudy
			if err := rows.Scan(&uid, &st.pk, &st.patientPK, &st.patient.id, &st.patient.issuer); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read stored studies: %w", err)
			}
			out[uid] = st
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read stored studies: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read stored studies: %w", err)
		}
	}
	return out, nil
}

// advisoryLock serialises, on PostgreSQL, the writers of the same SOP
// instances or studies, so that what a transaction reads about them stays
// true until it commits. Without it two writers of one new instance would
// both find it absent, and one would have to start over (the re-checks in
// the writes catch that, but under heavy overlap retries pile up); and a
// study could change patient between the read that chose which patients to
// lock and the lock. Transaction-level advisory locks on hashes of the
// UIDs, taken in key order within a kind and instances before studies
// before any row lock, so writers cannot deadlock on them. A hash collision
// only makes two unrelated writers wait for each other.
func (s *Store) advisoryLock(ctx context.Context, tx *sql.Tx, kind string, uids []string) error {
	if s.dialect != Postgres || len(uids) == 0 {
		return nil
	}
	// A volatile function in the select list runs after ORDER BY.
	rows, err := tx.QueryContext(ctx, `SELECT pg_advisory_xact_lock(k) FROM
	(SELECT DISTINCT hashtextextended($1 || u, 0) AS k FROM unnest($2::text[]) AS u) AS keys
ORDER BY k`, "radmark "+kind+" ", uids)
	if err != nil {
		return fmt.Errorf("lock %ss: %w", kind, err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("lock %ss: %w", kind, err)
	}
	return nil
}

// lockRow makes a row that the transaction will change later wait for (and
// be seen after) concurrent writers, in the global lock order. SQLite's
// write lock already serialises writers.
func (s *Store) lockRow(ctx context.Context, tx *sql.Tx, table string, pk int64) error {
	if s.dialect != Postgres {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT pk FROM `+table+` WHERE pk = $1 FOR UPDATE`, pk)
	if err != nil {
		return fmt.Errorf("lock %s: %w", table, err)
	}
	return rows.Close()
}

// addInstances applies a counter delta to a study or series (and so locks it).
func (s *Store) addInstances(ctx context.Context, tx *sql.Tx, now time.Time, table string, pk int64, delta int) error {
	_, err := tx.ExecContext(ctx, s.rebind(`UPDATE `+table+` SET num_instances = num_instances + ?, updated_at = ? WHERE pk = ?`),
		delta, now, pk)
	if err != nil {
		return fmt.Errorf("update %s counters: %w", table, err)
	}
	return nil
}

// Most records of a batch add instances to a patient, study and series
// that are already indexed with exactly the attributes the records carry
// (the other slices of the same series). For them the put* functions only
// bump the counters and updated_at, which no index covers, instead of
// upserting every column: an upsert rewrites the entries of every index on
// the columns it sets, identical or not, which made a one-instance
// transaction write about twenty pages to the log instead of about eight.
// When the stored row differs (or is missing), the full upsert runs.

// nullSafeEq is the equality operator under which NULL equals NULL.
func (s *Store) nullSafeEq() string {
	if s.dialect == Postgres {
		return "IS NOT DISTINCT FROM"
	}
	return "IS"
}

// putPatient stores the patient of r and returns its pk.
func (s *Store) putPatient(ctx context.Context, tx *sql.Tx, now time.Time, r *radmark.InstanceRecord) (int64, error) {
	p := &r.Study.Patient
	var pk int64
	err := tx.QueryRowContext(ctx, s.rebind(`UPDATE patient SET updated_at = ?
WHERE patient_id = ? AND issuer = ? AND name = ? AND name_lc = ? AND birth_date = ? AND sex = ?
RETURNING pk`), now, p.ID, p.Issuer, p.Name, Fold(p.Name), p.BirthDate, p.Sex).Scan(&pk)
	switch {
	case err == nil:
		return pk, nil
	case errors.Is(err, sql.ErrNoRows):
		return s.upsertPatient(ctx, tx, now, r)
	}
	return 0, fmt.Errorf("update patient %q (issuer %q): %w", p.ID, p.Issuer, err)
}

// putStudy stores the study of r, adding delta to its instances, and
// returns its pk.
func (s *Store) putStudy(ctx context.Context, tx *sql.Tx, now time.Time, r *radmark.InstanceRecord, patientPK int64, delta int) (int64, error) {
	st := &r.Study
	var pk int64
	err := tx.QueryRowContext(ctx, s.rebind(`UPDATE study SET num_instances = num_instances + ?, updated_at = ?
WHERE uid = ? AND patient_pk = ? AND study_date = ? AND study_time = ? AND accession_number = ?
	AND study_id = ? AND study_description = ? AND study_description_lc = ?
	AND referring_physician_name = ? AND referring_physician_name_lc = ? AND attributes `+s.nullSafeEq()+` ?
RETURNING pk`), delta, now, string(st.UID), patientPK, st.Date, st.Time, st.AccessionNumber, st.StudyID,
		st.Description, Fold(st.Description), st.ReferringPhysicianName,
		Fold(st.ReferringPhysicianName), nullBytes(st.Attributes)).Scan(&pk)
	switch {
	case err == nil:
		return pk, nil
	case errors.Is(err, sql.ErrNoRows):
		return s.upsertStudy(ctx, tx, now, r, patientPK, delta)
	}
	return 0, fmt.Errorf("update study %s: %w", st.UID, err)
}

// putSeries stores the series of r, adding delta to its instances, and
// returns its pk; same reports that the row was already stored as is.
func (s *Store) putSeries(ctx context.Context, tx *sql.Tx, now time.Time, r *radmark.InstanceRecord, studyPK int64, delta int) (pk int64, same bool, err error) {
	se := &r.Series
	eq := s.nullSafeEq()
	err = tx.QueryRowContext(ctx, s.rebind(`UPDATE series SET num_instances = num_instances + ?, updated_at = ?
WHERE uid = ? AND study_pk = ? AND modality = ? AND series_number `+eq+` ? AND series_description = ?
	AND series_description_lc = ? AND body_part_examined = ? AND performed_start_date = ?
	AND performed_start_time = ? AND attributes `+eq+` ?
RETURNING pk`), delta, now, string(se.UID), studyPK, se.Modality, nullInt(se.Number), se.Description,
		Fold(se.Description), se.BodyPartExamined, se.PerformedStartDate, se.PerformedStartTime,
		nullBytes(se.Attributes)).Scan(&pk)
	switch {
	case err == nil:
		return pk, true, nil
	case errors.Is(err, sql.ErrNoRows):
		pk, err = s.upsertSeries(ctx, tx, now, r, studyPK, delta)
		return pk, false, err
	}
	return 0, false, fmt.Errorf("update series %s: %w", se.UID, err)
}

func (s *Store) upsertPatient(ctx context.Context, tx *sql.Tx, now time.Time, r *radmark.InstanceRecord) (int64, error) {
	p := &r.Study.Patient
	var pk int64
	err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO patient (patient_id, issuer, name, name_lc, birth_date, sex, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (patient_id, issuer) DO UPDATE SET name = excluded.name, name_lc = excluded.name_lc,
	birth_date = excluded.birth_date, sex = excluded.sex, updated_at = excluded.updated_at
RETURNING pk`), p.ID, p.Issuer, p.Name, Fold(p.Name), p.BirthDate, p.Sex, now).Scan(&pk)
	if err != nil {
		return 0, fmt.Errorf("upsert patient %q (issuer %q): %w", p.ID, p.Issuer, err)
	}
	return pk, nil
}

func (s *Store) upsertStudy(ctx context.Context, tx *sql.Tx, now time.Time, r *radmark.InstanceRecord, patientPK int64, delta int) (int64, error) {
	st := &r.Study
	var pk int64
	err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO study (uid, patient_pk, study_date, study_time,
	accession_number, study_id, study_description, study_description_lc, referring_physician_name,
	referring_physician_name_lc, modalities, num_series, num_instances, attributes, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, ?, ?, ?)
ON CONFLICT (uid) DO UPDATE SET patient_pk = excluded.patient_pk, study_date = excluded.study_date,
	study_time = excluded.study_time, accession_number = excluded.accession_number,
	study_id = excluded.study_id, study_description = excluded.study_description,
	study_description_lc = excluded.study_description_lc,
	referring_physician_name = excluded.referring_physician_name,
	referring_physician_name_lc = excluded.referring_physician_name_lc,
	num_instances = study.num_instances + excluded.num_instances,
	attributes = excluded.attributes, updated_at = excluded.updated_at
RETURNING pk`), string(st.UID), patientPK, st.Date, st.Time, st.AccessionNumber, st.StudyID,
		st.Description, Fold(st.Description), st.ReferringPhysicianName,
		Fold(st.ReferringPhysicianName), delta, nullBytes(st.Attributes), now).Scan(&pk)
	if err != nil {
		return 0, fmt.Errorf("upsert study %s: %w", st.UID, err)
	}
	return pk, nil
}

func (s *Store) upsertSeries(ctx context.Context, tx *sql.Tx, now time.Time, r *radmark.InstanceRecord, studyPK int64, delta int) (int64, error) {
	se := &r.Series
	var pk int64
	// The WHERE keeps a series in the study it was first indexed in: if a
	// concurrent writer put it in another study, no row comes back.
	err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO series (uid, study_pk, modality, series_number,
	series_description, series_description_lc, body_part_examined, performed_start_date,
	performed_start_time, num_instances, attributes, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (uid) DO UPDATE SET modality = excluded.modality, series_number = excluded.series_number,
	series_description = excluded.series_description,
	series_description_lc = excluded.series_description_lc,
	body_part_examined = excluded.body_part_examined,
	performed_start_date = excluded.performed_start_date,
	performed_start_time = excluded.performed_start_time,
	num_instances = series.num_instances + excluded.num_instances,
	attributes = excluded.attributes, updated_at = excluded.updated_at
WHERE series.study_pk = excluded.study_pk
RETURNING pk`), string(se.UID), studyPK, se.Modality, nullInt(se.Number), se.Description,
		Fold(se.Description), se.BodyPartExamined, se.PerformedStartDate,
		se.PerformedStartTime, delta, nullBytes(se.Attributes), now).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errRaced
	}
	if err != nil {
		return 0, fmt.Errorf("upsert series %s: %w", se.UID, err)
	}
	return pk, nil
}

const instanceColumns = 14

func instanceValues(now time.Time, r *radmark.InstanceRecord, seriesPK int64) ([]any, error) {
	in := &r.Instance
	var pixel any
	if in.Pixel != nil {
		b, err := json.Marshal(in.Pixel)
		if err != nil {
			return nil, fmt.Errorf("encode pixel location of %s: %w", in.SOPInstanceUID, err)
		}
		pixel = string(b)
	}
	return []any{string(in.SOPInstanceUID), string(in.SOPClassUID), seriesPK, nullInt(in.InstanceNumber),
		string(in.TransferSyntaxUID), in.NumberOfFrames, in.Rows, in.Columns, in.BlobKey, in.Size,
		in.SHA256, pixel, nullBytes(in.Metadata), now}, nil
}

func (s *Store) insertInstances(ctx context.Context, tx *sql.Tx, now time.Time, recs []*radmark.InstanceRecord, seriesPK map[string]int64) error {
	row := "(" + placeholders(instanceColumns) + ")"
	for chunk := range slices.Chunk(recs, chunkSize) {
		args := make([]any, 0, len(chunk)*instanceColumns)
		for _, r := range chunk {
			v, err := instanceValues(now, r, seriesPK[string(r.Series.UID)])
			if err != nil {
				return err
			}
			args = append(args, v...)
		}
		q := `INSERT INTO instance (sop_uid, sop_class_uid, series_pk, instance_number, transfer_syntax_uid,
	number_of_frames, num_rows, num_columns, blob_key, size, sha256, pixel, metadata, created_at)
VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", ") + `
ON CONFLICT (sop_uid) DO NOTHING RETURNING sop_uid`
		rows, err := tx.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return fmt.Errorf("insert instances: %w", err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("insert instances: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("insert instances: %w", err)
		}
		if n != len(chunk) {
			return errRaced
		}
	}
	return nil
}

func (s *Store) replaceInstance(ctx context.Context, tx *sql.Tx, now time.Time, old *storedInstance, r *radmark.InstanceRecord, seriesPK int64) error {
	v, err := instanceValues(now, r, seriesPK)
	if err != nil {
		return err
	}
	// The row must still be what the transaction read before locking;
	// otherwise another writer replaced or moved it first.
	res, err := tx.ExecContext(ctx, s.rebind(`UPDATE instance SET sop_class_uid = ?, series_pk = ?,
	instance_number = ?, transfer_syntax_uid = ?, number_of_frames = ?, num_rows = ?, num_columns = ?,
	blob_key = ?, size = ?, sha256 = ?, pixel = ?, metadata = ?, created_at = ?
WHERE pk = ? AND sha256 = ? AND series_pk = ?`), append(v[1:], old.pk, old.sha256, old.seriesPK)...)
	if err != nil {
		return fmt.Errorf("replace instance %s: %w", r.Instance.SOPInstanceUID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("replace instance %s: %w", r.Instance.SOPInstanceUID, err)
	}
	if n != 1 {
		return errRaced
	}
	return nil
}

// refreshStudies recomputes num_series and modalities of the given studies
// from their series. Both are small per study, so recounting is cheaper to
// get right than tracking deltas; the caller holds the studies' locks, so
// the count sees every committed series.
func (s *Store) refreshStudies(ctx context.Context, tx *sql.Tx, now time.Time, pks []int64) error {
	slices.Sort(pks)
	type derived struct {
		series     int
		modalities []string
	}
	for chunk := range slices.Chunk(pks, chunkSize) {
		got := make(map[int64]*derived, len(chunk))
		args := make([]any, len(chunk))
		for i, pk := range chunk {
			got[pk] = &derived{}
			args[i] = pk
		}
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT study_pk, modality, count(*) FROM series
WHERE study_pk IN (`+placeholders(len(chunk))+`) GROUP BY study_pk, modality ORDER BY study_pk, modality`), args...)
		if err != nil {
			return fmt.Errorf("count series: %w", err)
		}
		for rows.Next() {
			var pk int64
			var modality string
			var n int
			if err := rows.Scan(&pk, &modality, &n); err != nil {
				rows.Close()
				return fmt.Errorf("count series: %w", err)
			}
			d := got[pk]
			d.series += n
			if modality != "" {
				d.modalities = append(d.modalities, modality)
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("count series: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("count series: %w", err)
		}
		for _, pk := range chunk {
			d := got[pk]
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE study SET num_series = ?, modalities = ?, updated_at = ? WHERE pk = ?`),
				d.series, strings.Join(d.modalities, `\`), now, pk); err != nil {
				return fmt.Errorf("update study: %w", err)
			}
		}
	}
	return nil
}

// unsyncedConn holds SQLite's writer connection with synchronous=NORMAL
// (a WAL commit then does not wait for the disk) until done puts it back
// to FULL. Holding the connection keeps every other writer off it
// meanwhile; a connection that cannot be put back is discarded, so no
// other commit ever runs unsynced by mistake.
type unsyncedConn struct {
	*sql.Conn
	done func()
}

func (s *Store) unsyncedConn(ctx context.Context) (*unsyncedConn, error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &unsyncedConn{Conn: conn, done: func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous=FULL"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}}, nil
}
