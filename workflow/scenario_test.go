package workflow_test

import (
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/workflow"
)

// Reads used by the scenario. The liver cube C is 4×4×2 voxels; shifted
// one voxel along x it keeps 24 of them (Dice 48/64 = 0.75), one slice up
// 16 (Dice 0.5); two 5×4×2 cubes one voxel apart share 32 (Dice 0.8, on
// the bound). Box A is 10×10 px; B2 [2,0]-[10,10] has IoU 0.8 with it,
// B5 [5,0]-[15,10] IoU 1/3. Landmarks 1.5 and 3 voxels (3 and 6 mm) apart.
var (
	cubeC      = &[6]int{4, 8, 4, 8, 2, 4}
	cubeShiftX = &[6]int{5, 9, 4, 8, 2, 4}
	cubeShiftZ = &[6]int{4, 8, 4, 8, 3, 5}
	cubeWideA  = &[6]int{4, 9, 4, 8, 2, 4}
	cubeWideB  = &[6]int{5, 10, 4, 8, 2, 4}
	boxA       = [4]float64{0, 0, 10, 10}
	boxB2      = [4]float64{2, 0, 10, 10}
	boxB5      = [4]float64{5, 0, 15, 10}
	markA      = [3]float64{10, 10, 3}
	mark3mm    = [3]float64{10, 11.5, 3}
	mark6mm    = [3]float64{10, 13, 3}
)

// step is one case of the scenario script: what the two readers submit,
// which read the reviewer sends back first and what it becomes, how an
// arbitration decides, and the expected result.
type step struct {
	a, b    read
	changes string // "a" or "b": the reviewer requests changes on that read once
	fixed   read   // the read after the changes
	decide  string // "pick-a", "pick-b", "merge", "edit"
	// Expected: the outcome, the kinds of disagreement, the read whose
	// revision is final ("a", "b", or "" for a new one).
	outcome  string
	disagree []string
	final    string
}

var scenario = []step{
	{a: read{quality: "good", cube: cubeC}, b: read{quality: "good", cube: cubeC}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", boxes: [][4]float64{boxA}}, b: read{quality: "good", boxes: [][4]float64{boxB2}}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", marks: [][3]float64{markA}}, b: read{quality: "good", marks: [][3]float64{mark3mm}}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", cube: cubeWideA}, b: read{quality: "good", cube: cubeWideB}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", cube: cubeC}, b: read{quality: "good", cube: cubeShiftX}, decide: "pick-b", outcome: "picked", disagree: []string{"Dice 0.750"}, final: "b"},
	{a: read{quality: "good", cube: cubeC}, b: read{quality: "poor", cube: cubeC}, decide: "edit", outcome: "edited", disagree: []string{"quality: good vs poor"}},
	{a: read{quality: "good", cube: cubeC}, b: read{quality: "good", cube: cubeShiftZ}, decide: "merge", outcome: "merged", disagree: []string{"Dice 0.500"}},
	{a: read{quality: "good", boxes: [][4]float64{boxA}}, b: read{quality: "good", boxes: [][4]float64{boxB5}}, decide: "pick-a", outcome: "picked", disagree: []string{"IoU 0.333"}, final: "a"},
	{a: read{quality: "good", marks: [][3]float64{markA}}, b: read{quality: "good", marks: [][3]float64{mark6mm}}, decide: "pick-b", outcome: "picked", disagree: []string{"6.00 mm apart"}, final: "b"},
	{a: read{quality: "good", boxes: [][4]float64{boxA}}, b: read{quality: "good", boxes: [][4]float64{boxA, boxB5}}, decide: "pick-a", outcome: "picked", disagree: []string{"1 found by one read only"}, final: "a"},
	{a: read{quality: "good", cube: cubeShiftX}, b: read{quality: "good", cube: cubeC}, changes: "a", fixed: read{quality: "good", cube: cubeC}, outcome: "agreed", final: "a"},
	{a: read{quality: "good"}, b: read{quality: "poor"}, changes: "b", fixed: read{quality: "good"}, outcome: "agreed", final: "a"},
	{a: read{quality: "good"}, b: read{quality: "good"}, outcome: "agreed", final: "a"},
	{a: read{quality: "poor", cube: cubeC}, b: read{quality: "poor", cube: cubeC}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", cube: cubeC}, b: read{quality: "poor", cube: cubeShiftZ}, decide: "pick-a", outcome: "picked", disagree: []string{"quality: good vs poor", "Dice 0.500"}, final: "a"},
	{a: read{quality: "good", cube: cubeC, marks: [][3]float64{markA}}, b: read{quality: "good", cube: cubeC, marks: [][3]float64{markA}}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", marks: [][3]float64{markA}}, b: read{quality: "good"}, decide: "edit", outcome: "edited", disagree: []string{"1 placed by one read only"}},
	{a: read{quality: "good", boxes: [][4]float64{boxA}}, b: read{quality: "good", boxes: [][4]float64{boxA}}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", cube: cubeC}, b: read{quality: "good", cube: cubeShiftX}, changes: "b", fixed: read{quality: "good", cube: cubeC}, outcome: "agreed", final: "a"},
	{a: read{quality: "good", cube: cubeC, boxes: [][4]float64{boxA}}, b: read{quality: "good", cube: cubeC, boxes: [][4]float64{boxA}}, outcome: "agreed", final: "a"},
}

// TestScenario runs the script: 20 cases, readers ann and bob pulling,
// reviewer rev, arbiter rad; every case ends exactly as scripted.
func TestScenario(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, len(scenario))
			ctx := t.Context()
			e.configure(radmark.WorkflowConfig{Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull,
				Agree: radmark.Agreement{Dice: 0.8, IoU: 0.5, LandmarkMM: 5}})
			cases := e.addCases(len(scenario))
			arbitrations := 0
			for i, st := range scenario {
				c := cases[i]
				ta, tb := e.next("ann"), e.next("bob")
				if ta == nil || tb == nil || ta.CaseID != c.ID || tb.CaseID != c.ID || ta.Slot != 1 || tb.Slot != 2 {
					t.Fatalf("case %d: pulled %+v and %+v", i+1, ta, tb)
				}
				ta = e.do("ann", ta.ID, workflow.Start, workflow.Args{})
				tb = e.do("bob", tb.ID, workflow.Start, workflow.Args{})
				e.save("ann", ta, st.a)
				e.save("bob", tb, st.b)
				e.do("ann", ta.ID, workflow.Submit, workflow.Args{})
				e.do("bob", tb.ID, workflow.Submit, workflow.Args{})
				for _, x := range []struct {
					who  string
					task *radmark.Task
				}{{"a", ta}, {"b", tb}} {
					e.do("rev", x.task.ID, workflow.StartReview, workflow.Args{})
					if st.changes == x.who {
						e.do("rev", x.task.ID, workflow.RequestChanges, workflow.Args{})
						reader := map[string]string{"a": "ann", "b": "bob"}[x.who]
						task := e.do(reader, x.task.ID, workflow.Start, workflow.Args{})
						e.save(reader, task, st.fixed)
						e.do(reader, task.ID, workflow.Submit, workflow.Args{})
						e.do("rev", task.ID, workflow.StartReview, workflow.Args{})
					}
					e.do("rev", x.task.ID, workflow.Accept, workflow.Args{})
				}
				ta, _ = e.wf.Task(ctx, ta.ID)
				tb, _ = e.wf.Task(ctx, tb.ID)
				if st.decide != "" {
					got, _ := e.wf.Case(ctx, c.ID)
					if got.State != radmark.CaseArbitration {
						t.Fatalf("case %d: %s (%s), want arbitration", i+1, got.State, got.Outcome)
					}
					arb, err := e.wf.Next(ctx, e.op("rad"), e.project.ID, radmark.TaskArbitration)
					if err != nil || arb == nil || arb.CaseID != c.ID {
						t.Fatalf("case %d: arbitration task %+v %v", i+1, arb, err)
					}
					arbitrations++
					arb = e.do("rad", arb.ID, workflow.Start, workflow.Args{})
					d := &workflow.Decision{Note: "scripted"}
					switch st.decide {
					case "pick-a":
						d.Pick = ta.ID
					case "pick-b":
						d.Pick = tb.ID
					case "merge":
						d.Merge = []radmark.ID{ta.ID, tb.ID}
					case "edit":
						e.save("rad", arb, read{quality: "good", cube: cubeC})
						d.Edit = true
					}
					e.do("rad", arb.ID, workflow.Resolve, workflow.Args{Decision: d})
				}
				got, err := e.wf.Case(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != radmark.CaseDone || got.Outcome != st.outcome {
					t.Errorf("case %d: %s/%s, want done/%s (%s)", i+1, got.State, got.Outcome, st.outcome, got.Disagreement)
				}
				for _, d := range st.disagree {
					if !strings.Contains(got.Disagreement, d) {
						t.Errorf("case %d: disagreement %q lacks %q", i+1, got.Disagreement, d)
					}
				}
				if len(st.disagree) == 0 && got.Disagreement != "" {
					t.Errorf("case %d: unexpected disagreement %q", i+1, got.Disagreement)
				}
				switch st.final {
				case "a":
					if got.FinalRevision != ta.Revision || got.FinalSet != ta.SetID {
						t.Errorf("case %d: final %s, want read a's %s", i+1, got.FinalRevision, ta.Revision)
					}
				case "b":
					if got.FinalRevision != tb.Revision || got.FinalSet != tb.SetID {
						t.Errorf("case %d: final %s, want read b's %s", i+1, got.FinalRevision, tb.Revision)
					}
				default:
					e.checkNewFinal(i+1, got, st)
				}
			}
			if arbitrations != 8 {
				t.Errorf("%d arbitrations, want 8", arbitrations)
			}
			p, err := e.wf.Progress(ctx, e.project.ID)
			if err != nil {
				t.Fatal(err)
			}
			if p.Cases != 20 || p.CasesBy[radmark.CaseDone] != 20 || p.ReadsBy[radmark.TaskAccepted] != 40 || p.ArbitrateBy[radmark.TaskResolved] != 8 {
				t.Errorf("progress: %+v", p)
			}
			for _, r := range p.Readers {
				want := map[string]int{"ann": 20, "bob": 20, "rad": 8}[r.User]
				if r.Finished != want || r.WorkSeconds <= 0 {
					t.Errorf("progress of %s: %+v, want %d finished", r.User, r, want)
				}
			}
			if n, broken, err := e.ann.VerifyAudit(ctx); err != nil || broken != nil || n == 0 {
				t.Errorf("audit chain: %d %v %v", n, broken, err)
			}
		})
	}
}

// checkNewFinal checks a result the arbiter made: a revision of rad's
// set, complete, holding the union of the reads (merge) or rad's edit.
func (e *env) checkNewFinal(n int, c *radmark.Case, st step) {
	e.t.Helper()
	set := e.set(c.FinalSet)
	if set.Reader != "rad" || set.Head != c.FinalRevision {
		e.t.Errorf("case %d: final set %+v (revision %s), want rad's head", n, set, c.FinalRevision)
		return
	}
	rev, err := e.ann.Store.Revision(e.t.Context(), c.FinalRevision)
	if err != nil {
		e.t.Fatal(err)
	}
	voxels := 0
	if len(rev.Content.Labelmaps) == 1 {
		v, err := labelmap.Load(e.t.Context(), e.ann.Blobs, &rev.Content.Labelmaps[0])
		if err != nil {
			e.t.Fatal(err)
		}
		for _, x := range v.Voxels {
			if x != 0 {
				voxels++
			}
		}
	}
	switch st.outcome {
	case "merged": // C and C one slice up: 48 voxels, one segment item
		if voxels != 48 || len(rev.Content.Items) != 1 || rev.Content.Answers[0].Choices[0] != "good" || !rev.Submitted {
			e.t.Errorf("case %d: merged result: %d voxels, %+v", n, voxels, rev.Content)
		}
	case "edited":
		if voxels != 32 || rev.Content.Answers[0].Choices[0] != "good" {
			e.t.Errorf("case %d: edited result: %d voxels, %+v", n, voxels, rev.Content)
		}
	}
}
