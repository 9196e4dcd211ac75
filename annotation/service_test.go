package annotation_test

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/labelmap"
)

func forEachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, engine))
		})
	}
}

// sphereSlices paints a ball of radius r voxels around voxel (ci, cj, ck)
// with value v, returning the changed slices as raw bytes.
func sphereSlices(columns, rows, slices int, ci, cj, ck, r float64, v uint8) (map[string][]byte, int) {
	out := map[string][]byte{}
	count := 0
	for k := 0; k < slices; k++ {
		var s []byte
		for j := 0; j < rows; j++ {
			for i := 0; i < columns; i++ {
				di, dj, dk := float64(i)-ci, float64(j)-cj, float64(k)-ck
				if di*di+dj*dj+dk*dk <= r*r {
					if s == nil {
						s = make([]byte, columns*rows)
					}
					s[j*columns+i] = v
					count++
				}
			}
		}
		if s != nil {
			out[itoa(k)] = s
		}
	}
	return out, count
}

func itoa(k int) string { return strconv.Itoa(k) }

func fmtInt(k int) string { return strconv.Itoa(k) }

// everyKind returns a CT content with one item of each CT kind.
func (e *env) everyKind() *annotation.SaveRequest {
	data, _ := sphereSlices(128, 128, 64, 36, 64, 53, 5, 1)
	return &annotation.SaveRequest{
		Message: "first read",
		Items: []radmark.Item{
			{ID: "seg-nodule", Kind: radmark.KindSegmentation, Label: "nodule", Source: human(), Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
			{ID: "box3d", Kind: radmark.KindBox3D, Label: "nodule", Source: radmark.Source{Type: "model", Name: "lungnet", Version: "2.1"}, Confidence: ptr(0.87),
				LPS: [][3]float64{ctVoxel(30, 58, 48), ctVoxel(42, 70, 58)}},
			{ID: "contour", Kind: radmark.KindContour, Label: "liver", Source: human(), Image: e.ctImage(11), Closed: true,
				Points: [][2]float64{{20, 40}, {60, 40}, {60, 80}, {20, 80}}},
			{ID: "polyline", Kind: radmark.KindContour, Label: "nodule", Source: human(), Image: e.ctImage(53),
				Points: [][2]float64{{10, 10}, {20, 10}, {20, 30}}},
			{ID: "carina", Kind: radmark.KindLandmark, Label: "carina", Source: human(), Image: e.ctImage(40), LPS: [][3]float64{ctVoxel(64, 60, 40)}},
			{ID: "len-img", Kind: radmark.KindLength, Label: "nodule", Source: human(), Image: e.ctImage(53), Points: [][2]float64{{31.5, 64.5}, {41.5, 64.5}}},
			{ID: "len-lps", Kind: radmark.KindLength, Label: "nodule", Source: human(), LPS: [][3]float64{ctVoxel(36, 64, 50), ctVoxel(36, 64, 56)}},
			{ID: "angle", Kind: radmark.KindAngle, Label: "nodule", Source: human(), Image: e.ctImage(53), Points: [][2]float64{{10, 10}, {10, 20}, {20, 20}}},
			{ID: "bidir", Kind: radmark.KindBidirectional, Label: "nodule", Source: human(), Image: e.ctImage(53),
				Points: [][2]float64{{31, 64}, {41, 64}, {36, 60}, {36, 68}}},
			{ID: "ellipse", Kind: radmark.KindEllipseROI, Label: "nodule", Source: human(), Image: e.ctImage(53), Points: [][2]float64{{32, 60}, {40, 68}}},
			{ID: "rect", Kind: radmark.KindRectangleROI, Label: "nodule", Source: human(), Image: e.ctImage(53), Points: [][2]float64{{32, 60}, {40, 68}}},
		},
		Answers: []radmark.Answer{
			{Question: "quality", Choices: []string{"good"}},
			{Question: "malignancy", Item: "box3d", Number: ptr(4.0)},
		},
		Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: radmark.UID(e.ct.SeriesInstanceUID), Columns: 128, Rows: 128, Slices: 64, Encoding: "raw", Data: data}},
	}
}

func TestEveryKindLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		set := e.ctSet("reader-1")
		req := e.everyKind()
		req.Submit = true
		r1, err := e.svc.Save(ctx, e.op, set.ID, req)
		if err != nil {
			t.Fatalf("save every kind: %v", err)
		}
		if r1.Number != 1 || r1.Parent != "" || r1.Author != "reader-1" || !r1.Submitted {
			t.Fatalf("revision 1 = %+v", r1)
		}
		got, err := e.svc.Revision(ctx, e.op, r1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ContentHash != r1.ContentHash || annotation.ContentHash(got.Content) != r1.ContentHash {
			t.Fatalf("stored content hash %s, computed %s, saved %s", got.ContentHash, annotation.ContentHash(got.Content), r1.ContentHash)
		}
		if len(got.Content.Items) != len(req.Items) || len(got.Content.Labelmaps) != 1 {
			t.Fatalf("stored %d items and %d labelmaps", len(got.Content.Items), len(got.Content.Labelmaps))
		}
		for _, it := range got.Content.Items {
			if it.Author != "reader-1" {
				t.Errorf("item %s author %q", it.ID, it.Author)
			}
		}
		// Update as another actor: move the landmark, drop the polyline,
		// add a second layer segment. Untouched items keep their author.
		op2 := annotation.Op{Actor: "reviewer", RequestID: "req-2"}
		req2 := &annotation.SaveRequest{Parent: r1.ID, Message: "correct landmark", Answers: got.Content.Answers}
		for _, it := range got.Content.Items {
			switch it.ID {
			case "polyline":
				continue
			case "carina":
				it.LPS = [][3]float64{ctVoxel(64, 61, 40)}
			}
			req2.Items = append(req2.Items, it)
		}
		data, n := sphereSlices(128, 128, 64, 39.5, 57, 11, 3, 2)
		req2.Items = append(req2.Items, radmark.Item{ID: "seg-liver", Kind: radmark.KindSegmentation, Label: "liver", Source: human(), Segment: &radmark.SegmentRef{Layer: 1, Value: 2}})
		rle := map[string][]byte{}
		for k, s := range data {
			rle[k] = labelmap.EncodeRuns(s)
		}
		req2.Labelmaps = []annotation.LabelmapEdit{{Layer: 1, SeriesUID: radmark.UID(e.ct.SeriesInstanceUID), Columns: 128, Rows: 128, Slices: 64, Encoding: "rle", Data: rle}}
		r2, err := e.svc.Save(ctx, op2, set.ID, req2)
		if err != nil {
			t.Fatalf("save 2: %v", err)
		}
		full2, _ := e.svc.Revision(ctx, e.op, r2.ID)
		for _, it := range full2.Content.Items {
			want := "reader-1"
			if it.ID == "carina" || it.ID == "seg-liver" {
				want = "reviewer"
			}
			if it.Author != want {
				t.Errorf("revision 2 item %s author %q, want %q", it.ID, it.Author, want)
			}
		}
		if full2.Content.Labelmaps[0].Chunks[53] != got.Content.Labelmaps[0].Chunks[53] {
			t.Error("layer 0 was not carried over unchanged")
		}

		hist, err := e.svc.Revisions(ctx, set.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].ID != r2.ID || hist[1].ID != r1.ID || hist[0].Parent != r1.ID {
			t.Fatalf("history = %v", ids(hist))
		}

		d, err := e.svc.Diff(ctx, e.op, r1.ID, r2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Added) != 1 || d.Added[0].ID != "seg-liver" || len(d.Removed) != 1 || d.Removed[0].ID != "polyline" ||
			len(d.Changed) != 1 || d.Changed[0].ID != "carina" || !slices.Contains(d.Changed[0].Fields, "lps") {
			t.Fatalf("diff added %v removed %v changed %v", d.Added, d.Removed, d.Changed)
		}
		if len(d.Voxels) != 1 || d.Voxels[0].Layer != 1 || d.Voxels[0].Value != 2 || d.Voxels[0].Added != int64(n) || d.Voxels[0].Item != "seg-liver" {
			t.Fatalf("voxel diff = %+v, want layer 1 value 2 +%d", d.Voxels, n)
		}

		// Revert to revision 1: a new revision 3 with revision 1's content.
		if _, err := e.svc.Revert(ctx, e.op, set.ID, r1.ID, r1.ID, ""); radmark.ErrorCode(err) != radmark.ECONFLICT {
			t.Fatalf("revert from a stale head: %v, want ECONFLICT", err)
		}
		r3, err := e.svc.Revert(ctx, e.op, set.ID, r2.ID, r1.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if r3.Number != 3 || r3.ContentHash != r1.ContentHash || r3.Parent != r2.ID {
			t.Fatalf("revert = %+v, want number 3 with revision 1's hash %s", r3, r1.ContentHash)
		}
		set2, _ := e.svc.Set(ctx, set.ID)
		if set2.Head != r3.ID || set2.HeadNumber != 3 {
			t.Fatalf("set head = %s (%d), want %s", set2.Head, set2.HeadNumber, r3.ID)
		}

		// The audit trail holds each mutation and read, in a chain.
		events, err := e.svc.Audit(ctx, radmark.AuditFilter{ObjectID: string(set.ID)})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events {
			actions = append(actions, ev.Action)
		}
		if want := []string{"set.create", "revision.save", "revision.save", "revision.revert"}; !slices.Equal(actions, want) {
			t.Fatalf("set audit actions = %v, want %v", actions, want)
		}
		if events[2].BeforeHash != r1.ContentHash || events[2].AfterHash != r2.ContentHash || events[2].Actor != "reviewer" || events[2].RequestID != "req-2" {
			t.Fatalf("save event = %+v", events[2])
		}
		reads, _ := e.svc.Audit(ctx, radmark.AuditFilter{Action: "revision.read"})
		if len(reads) < 2 {
			t.Fatalf("%d revision reads audited, want at least 2", len(reads))
		}
		n64, broken, err := e.svc.VerifyAudit(ctx)
		if err != nil || broken != nil || n64 < 8 {
			t.Fatalf("verify: %d events, broken %v, err %v", n64, broken, err)
		}
	})
}

func ids(revs []*radmark.Revision) []radmark.ID {
	var out []radmark.ID
	for _, r := range revs {
		out = append(out, r.ID)
	}
	return out
}

func TestXRayBox(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		set := e.xraySet("reader-1")
		img := e.xrayImage()
		r, err := e.svc.Save(t.Context(), e.op, set.ID, &annotation.SaveRequest{Items: []radmark.Item{
			{ID: "b", Kind: radmark.KindBox2D, Label: "nodule", Source: human(), Image: img, Points: [][2]float64{{42, 28}, {58, 44}}},
			{ID: "l", Kind: radmark.KindLength, Label: "nodule", Source: human(), Image: img, Points: [][2]float64{{0, 0}, {250, 0}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ms, err := e.svc.Measurements(t.Context(), e.op, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		// XRaySmall has 1.4 mm pixels: the box is 16 px = 22.4 mm square,
		// the length the full 250 px width = 350 mm.
		if ms[0].Width == nil || math.Abs(ms[0].Width.Value-22.4) > 1e-9 || ms[0].Area.Unit != "mm2" || math.Abs(ms[0].Area.Value-22.4*22.4) > 1e-6 {
			t.Fatalf("box measurement = %+v", ms[0])
		}
		if math.Abs(ms[1].Length.Value-350) > 1e-9 || ms[1].Length.Unit != "mm" {
			t.Fatalf("length = %+v", ms[1].Length)
		}
		// Patient points cannot be placed on a projection image.
		_, err = e.svc.Save(t.Context(), e.op, set.ID, &annotation.SaveRequest{Parent: r.ID, Items: []radmark.Item{
			{ID: "lm", Kind: radmark.KindLandmark, Label: "carina", Source: human(), Image: img, LPS: [][3]float64{{0, 0, 0}}},
		}})
		if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(radmark.ErrorMessage(err), "projection") {
			t.Fatalf("landmark on X-ray: %v", err)
		}
	})
}

func TestConcurrentSaves(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		set := e.ctSet("reader-1")
		first, err := e.svc.Save(t.Context(), e.op, set.ID, &annotation.SaveRequest{Items: []radmark.Item{}})
		if err != nil {
			t.Fatal(err)
		}
		const writers = 8
		var wg sync.WaitGroup
		results := make([]*radmark.Revision, writers)
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				results[w], errs[w] = e.svc.Save(t.Context(), annotation.Op{Actor: "writer"}, set.ID, &annotation.SaveRequest{
					Parent: first.ID, Message: "writer " + fmtInt(w),
					Items: []radmark.Item{{ID: "w" + fmtInt(w), Kind: radmark.KindLandmark, Label: "carina", Source: human(),
						Image: e.ctImage(40), LPS: [][3]float64{ctVoxel(float64(w), 60, 40)}}},
				})
			})
		}
		wg.Wait()
		var winner *radmark.Revision
		for w := range writers {
			if errs[w] == nil {
				if winner != nil {
					t.Fatalf("two writers saved on the same head: %s and %s", winner.ID, results[w].ID)
				}
				winner = results[w]
				continue
			}
			var ce *annotation.ConflictError
			if radmark.ErrorCode(errs[w]) != radmark.ECONFLICT || !errors.As(errs[w], &ce) {
				t.Fatalf("writer %d: %v, want a conflict", w, errs[w])
			}
		}
		if winner == nil {
			t.Fatal("no writer succeeded")
		}
		// Losers learn the winner's revision as the head.
		for w := range writers {
			var ce *annotation.ConflictError
			if errors.As(errs[w], &ce) && ce.Head != winner.ID && ce.Head != first.ID {
				t.Errorf("writer %d told head %s, winner is %s", w, ce.Head, winner.ID)
			}
		}
		hist, _ := e.svc.Revisions(t.Context(), set.ID)
		if len(hist) != 2 || hist[0].ID != winner.ID {
			t.Fatalf("history after the race = %v", ids(hist))
		}
		// A loser reloads and saves on the new head: nothing is lost.
		if _, err := e.svc.Save(t.Context(), e.op, set.ID, &annotation.SaveRequest{Parent: winner.ID, Items: []radmark.Item{}}); err != nil {
			t.Fatal(err)
		}
		if _, broken, err := e.svc.VerifyAudit(t.Context()); err != nil || broken != nil {
			t.Fatalf("audit after the race: %v %v", broken, err)
		}
	})
}

func TestBadSaves(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		set := e.ctSet("reader-1")
		head, err := e.svc.Save(ctx, e.op, set.ID, &annotation.SaveRequest{Items: []radmark.Item{}})
		if err != nil {
			t.Fatal(err)
		}
		series := radmark.UID(e.ct.SeriesInstanceUID)
		xray := e.xrayImage()
		item := func(it radmark.Item) []radmark.Item {
			if it.Source.Type == "" {
				it.Source = human()
			}
			if it.ID == "" {
				it.ID = "x"
			}
			return []radmark.Item{it}
		}
		tests := []struct {
			name string
			req  annotation.SaveRequest
			code string
			want string
		}{
			{"stale parent", annotation.SaveRequest{Parent: "0190aaaa-0000-7000-8000-000000000000"}, radmark.ECONFLICT, "not the head"},
			{"first save again", annotation.SaveRequest{}, radmark.ECONFLICT, "already has revision"},
			{"point outside image", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindLength, Label: "nodule", Image: e.ctImage(3), Points: [][2]float64{{10, 10}, {129, 10}}})}, radmark.EINVALID, "outside the 128×128 image"},
			{"negative point", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox2D, Label: "nodule", Image: e.ctImage(3), Points: [][2]float64{{-1, 10}, {12, 20}}})}, radmark.EINVALID, "outside"},
			{"landmark off its slice", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindLandmark, Label: "carina", Image: e.ctImage(40), LPS: [][3]float64{ctVoxel(64, 60, 42)}})}, radmark.EINVALID, "off image"},
			{"box3d outside volume", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox3D, Label: "nodule", LPS: [][3]float64{ctVoxel(10, 10, 10), ctVoxel(20, 20, 70)}})}, radmark.EINVALID, "outside the volume"},
			{"label not in schema", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox3D, Label: "spleen", LPS: [][3]float64{ctVoxel(10, 10, 10), ctVoxel(20, 20, 20)}})}, radmark.EINVALID, "not in schema"},
			{"kind not allowed for label", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox3D, Label: "carina", LPS: [][3]float64{ctVoxel(10, 10, 10), ctVoxel(20, 20, 20)}})}, radmark.EINVALID, "does not allow"},
			{"image of another study", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox2D, Label: "nodule", Image: xray, Points: [][2]float64{{1, 1}, {5, 5}}})}, radmark.EINVALID, "not in study"},
			{"unknown image", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox2D, Label: "nodule", Image: &radmark.ImageRef{SOPInstanceUID: "1.2.3"}, Points: [][2]float64{{1, 1}, {5, 5}}})}, radmark.EINVALID, "not in study"},
			{"frame of a single-frame image", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindBox2D, Label: "nodule", Image: &radmark.ImageRef{SOPInstanceUID: e.ctImage(3).SOPInstanceUID, Frame: 2}, Points: [][2]float64{{1, 1}, {5, 5}}})}, radmark.EINVALID, "single-frame"},
			{"labelmap of the wrong shape", annotation.SaveRequest{Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: 128, Rows: 128, Slices: 63, Encoding: "raw"}}}, radmark.EINVALID, "must be 128×128×64"},
			{"raw slice of the wrong size", annotation.SaveRequest{Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: 128, Rows: 128, Slices: 64, Encoding: "raw", Data: map[string][]byte{"3": make([]byte, 100)}}}}, radmark.EINVALID, "100 bytes"},
			{"slice index out of range", annotation.SaveRequest{Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: 128, Rows: 128, Slices: 64, Encoding: "raw", Data: map[string][]byte{"64": make([]byte, 128*128)}}}}, radmark.EINVALID, "not an index"},
			{"segment without labelmap", annotation.SaveRequest{Items: item(radmark.Item{Kind: radmark.KindSegmentation, Label: "nodule", Segment: &radmark.SegmentRef{Layer: 3, Value: 1}})}, radmark.EINVALID, "no labelmap"},
			{"missing required answer on submit", annotation.SaveRequest{Submit: true}, radmark.EINVALID, "required question \"quality\""},
			{"answer outside range", annotation.SaveRequest{Items: item(radmark.Item{ID: "n", Kind: radmark.KindBox3D, Label: "nodule", LPS: [][3]float64{ctVoxel(10, 10, 10), ctVoxel(20, 20, 20)}}), Answers: []radmark.Answer{{Question: "malignancy", Item: "n", Number: ptr(7.0)}}}, radmark.EINVALID, "outside the allowed range"},
		}
		before := e.auditCount()
		for _, tt := range tests {
			req := tt.req
			if req.Parent == "" && tt.name != "first save again" {
				req.Parent = head.ID
			}
			_, err := e.svc.Save(ctx, e.op, set.ID, &req)
			if radmark.ErrorCode(err) != tt.code || !strings.Contains(radmark.ErrorMessage(err), tt.want) {
				t.Errorf("%s: got %v (code %s), want %s containing %q", tt.name, err, radmark.ErrorCode(err), tt.code, tt.want)
			}
		}
		if after := e.auditCount(); after != before {
			t.Errorf("failed saves wrote %d audit events", after-before)
		}
		hist, _ := e.svc.Revisions(ctx, set.ID)
		if len(hist) != 1 {
			t.Errorf("failed saves left %d revisions", len(hist))
		}
	})
}
