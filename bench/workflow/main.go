// Command workflow load-tests the reading workflow on the embedded
// default (SQLite file, filesystem blobs): simulated annotators on
// loopback pull their next task, start it, save annotations several
// times and submit, for a fixed time, through the real HTTP API.
//
//	go run ./bench/workflow                         # 200 annotators, 60 s
//	go run ./bench/workflow -annotators 50 -duration 10s -cases 300
//
// Each annotator is a goroutine with its own HTTP connection; between two
// saves it thinks for a random time around -think (uniform in [½, 1½]×),
// as a reader does while drawing. A save is one POST
// /annotation-sets/{set}/revisions with a box, a length and the answers
// (the complete snapshot, as the UI sends), based on the set's head. The
// server runs in the same process on a loopback port; requests carry
// their user name in a header that stands in for authentication (the
// session or token check is not in the measured path).
//
// After the run it checks, from the database, that no task was given to
// two annotators, that every task an annotator received is assigned to
// them and every assigned task was received (none lost), that nobody
// holds two reads of one case, and that the audit chain holds one claim
// event per claim. It reports throughput and p50/p95/p99/max of saves,
// pulls and transitions as a Markdown table; the target (from the issue)
// is a save p99 under 200 ms on 2 cores.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/httpapi"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/sqlite"
	"github.com/radmark/radmark/workflow"
)

const targetSaveP99 = 200 * time.Millisecond

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/workflow:", err)
		os.Exit(1)
	}
}

type options struct {
	annotators int
	duration   time.Duration
	think      time.Duration
	saves      int
	cases      int
	readers    int
	cpus       int
	dir        string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("workflow", flag.ContinueOnError)
	fs.IntVar(&o.annotators, "annotators", 200, "simulated annotators")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long they work")
	fs.DurationVar(&o.think, "think", time.Second, "mean think time between two requests of one annotator")
	fs.IntVar(&o.saves, "saves", 4, "saves per task before it is submitted")
	fs.IntVar(&o.cases, "cases", 1500, "cases (single-image studies) in the project")
	fs.IntVar(&o.readers, "readers", 2, "independent reads per case")
	fs.IntVar(&o.cpus, "cpus", 0, "GOMAXPROCS for the run (0: leave it)")
	fs.StringVar(&o.dir, "dir", "", "data directory (default: a temporary one, removed after)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load phase to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.cpus > 0 {
		runtime.GOMAXPROCS(o.cpus)
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "radmark-bench-workflow-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	e, err := setUp(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	fmt.Fprintf(os.Stderr, "bench/workflow: %d cases ready; %d annotators for %s\n", o.cases, o.annotators, o.duration)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	res := e.load(ctx, o)
	pprof.StopCPUProfile()
	check := e.verify(ctx, res)
	report(out, o, res, check)
	if check != nil {
		return check
	}
	return nil
}

// env is the server under test.
type env struct {
	db      *sqlite.DB
	wf      *workflow.Service
	project radmark.ID
	base    string
	srv     *http.Server
}

func (e *env) close() {
	_ = e.srv.Close()
	_ = e.db.Close()
}

func setUp(ctx context.Context, o options) (*env, error) {
	db, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(o.dir, "radmark.db"))
	if err != nil {
		return nil, err
	}
	blobs, err := fsblob.Open(ctx, filepath.Join(o.dir, "blobs"))
	if err != nil {
		db.Close()
		return nil, err
	}
	arch := &archive.Service{Store: db, Blobs: blobs}
	// Single small radiographs: one instance per case keeps the set-up
	// short; saves are validated against their geometry as any other.
	var sources []archive.Source
	var refs []workflow.CaseRef
	for i := range o.cases {
		spec := phantom.XRaySpec{Rows: 64, Columns: 64, PixelSpacing: [2]float64{1, 1}, Background: 50, Seed: uint64(1000 + i)}
		img, err := phantom.GenerateXRay(spec)
		if err != nil {
			db.Close()
			return nil, err
		}
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, img.Dataset, dicom.WriteOptions{}); err != nil {
			db.Close()
			return nil, err
		}
		sources = append(sources, archive.Source{Name: fmt.Sprint("case", i), Data: bytes.NewReader(buf.Bytes()), Size: int64(buf.Len())})
		refs = append(refs, workflow.CaseRef{StudyUID: radmark.UID(img.Dataset.Strings(dicom.TagStudyInstanceUID)[0])})
	}
	for chunk := range slices.Chunk(sources, 200) {
		res, err := arch.Ingest(ctx, chunk, archive.IngestOptions{})
		if err != nil {
			db.Close()
			return nil, err
		}
		for _, r := range res {
			if r.Err != nil {
				db.Close()
				return nil, fmt.Errorf("ingest %s: %w", r.Name, r.Err)
			}
		}
	}
	ann := &annotation.Service{Store: db, Blobs: blobs, Images: &annotation.ArchiveImages{Source: arch}}
	roster := &workflow.MemoryRoster{}
	roster.Set("manager", radmark.RoleManager)
	for i := range o.annotators {
		roster.Set(annotatorName(i), radmark.RoleAnnotator)
	}
	wf := &workflow.Service{Store: db, Annotations: ann, Archive: db, Roster: roster}
	mgr := workflow.Op{Actor: actor("manager")}
	p, err := ann.CreateProject(ctx, annotation.Op{Actor: "manager"}, "Load test", "bench/workflow")
	if err != nil {
		db.Close()
		return nil, err
	}
	if _, err := ann.PutSchema(ctx, annotation.Op{Actor: "manager"}, p.ID, 0, []radmark.Label{{ID: "nodule", Name: "Nodule", Color: "#ff0000",
		Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
		Type:     radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"}, Kinds: []radmark.Kind{radmark.KindBox2D, radmark.KindLength}}},
		[]radmark.Question{{ID: "quality", Text: "Image quality", Type: radmark.QuestionSingle, Level: radmark.LevelStudy, Required: true,
			Options: []radmark.Option{{Value: "good"}, {Value: "poor"}}}}); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := wf.PutConfig(ctx, mgr, &radmark.WorkflowConfig{ProjectID: p.ID, Readers: o.readers,
		ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull}, 0); err != nil {
		db.Close()
		return nil, err
	}
	for chunk := range slices.Chunk(refs, 1000) {
		if _, err := wf.AddCases(ctx, mgr, p.ID, workflow.AddRequest{Studies: chunk}); err != nil {
			db.Close()
			return nil, err
		}
	}
	s := &httpapi.Server{Archive: arch, Annotations: ann, Logger: slog.New(slog.DiscardHandler), Version: "bench"}
	s.UseWorkflow(wf)
	h := s.Handler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(httpapi.WithActor(r.Context(), actor(r.Header.Get("X-Bench-User"))))
		h.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &env{db: db, wf: wf, project: p.ID, base: "http://" + ln.Addr().String(), srv: srv}, nil
}

func annotatorName(i int) string { return fmt.Sprintf("annotator-%03d", i) }

func actor(name string) *radmark.Actor {
	return &radmark.Actor{User: &radmark.User{ID: radmark.ID("user-" + name), Name: name}, Via: "session"}
}

// results is what the annotators did.
type results struct {
	mu          sync.Mutex
	saves       []time.Duration
	pulls       []time.Duration
	transitions []time.Duration
	received    map[radmark.ID][]string // task → annotators who received it from a pull
	submitted   int
	idle        int
	errors      []string
	elapsed     time.Duration
}

func (r *results) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errors) < 20 {
		r.errors = append(r.errors, fmt.Sprintf(format, args...))
	}
}

type client struct {
	e    *env
	name string
	http *http.Client
	rng  *rand.Rand
	res  *results
}

// call posts body as JSON and decodes the answer into v; it returns the
// time the request took.
func (c *client) call(ctx context.Context, method, path string, body, v any, headers ...string) (time.Duration, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.e.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bench-User", c.name)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	if resp.StatusCode >= 300 {
		return took, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if v != nil {
		return took, json.Unmarshal(b, v)
	}
	return took, nil
}

func (c *client) think(ctx context.Context, mean time.Duration) bool {
	d := time.Duration(float64(mean) * (0.5 + c.rng.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// work is one annotator's loop: pull, start, save, submit. At the
// deadline (stop) the annotator makes no new request, but the ones under
// way complete: an answer the server sent is never thrown away, so every
// claim reaches its annotator.
func (c *client) work(ctx, stop context.Context, o options) {
	pp := "/api/v1/projects/" + string(c.e.project)
	// Annotators do not start in step.
	if !c.think(stop, o.think) {
		return
	}
	for stop.Err() == nil {
		var next struct{ Task *radmark.Task }
		took, err := c.call(ctx, "POST", pp+"/next-task", nil, &next)
		if err != nil {
			if ctx.Err() == nil {
				c.res.fail("%s pulls: %v", c.name, err)
			}
			return
		}
		c.res.mu.Lock()
		c.res.pulls = append(c.res.pulls, took)
		if next.Task != nil && !slices.Contains(c.res.received[next.Task.ID], c.name) {
			c.res.received[next.Task.ID] = append(c.res.received[next.Task.ID], c.name)
		}
		if next.Task == nil {
			c.res.idle++
		}
		c.res.mu.Unlock()
		if next.Task == nil {
			if !c.think(stop, o.think) {
				return
			}
			continue
		}
		task := next.Task
		var d struct{ Task *radmark.Task }
		if !c.transition(ctx, task.ID, "start", &d) {
			return
		}
		head := radmark.ID("")
		for i := range o.saves {
			if !c.think(stop, o.think) {
				return
			}
			rev, ok := c.save(ctx, d.Task, head, i)
			if !ok {
				return
			}
			head = rev
		}
		if !c.think(stop, o.think) {
			return
		}
		if !c.transition(ctx, task.ID, "submit", nil) {
			return
		}
		c.res.mu.Lock()
		c.res.submitted++
		c.res.mu.Unlock()
	}
}

func (c *client) transition(ctx context.Context, task radmark.ID, tr string, v any) bool {
	took, err := c.call(ctx, "POST", "/api/v1/tasks/"+string(task)+"/"+tr, map[string]any{}, v)
	if err != nil {
		if ctx.Err() == nil {
			c.res.fail("%s %s: %v", c.name, tr, err)
		}
		return false
	}
	c.res.mu.Lock()
	c.res.transitions = append(c.res.transitions, took)
	c.res.mu.Unlock()
	return true
}

func (c *client) save(ctx context.Context, task *radmark.Task, head radmark.ID, i int) (radmark.ID, bool) {
	x := 5 + float64(c.rng.IntN(30))
	req := annotation.SaveRequest{Parent: head, Message: fmt.Sprint("save ", i+1),
		Items: []radmark.Item{
			{ID: "box", Kind: radmark.KindBox2D, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: c.image(ctx, task),
				Points: [][2]float64{{x, x}, {x + 10, x + 12}}},
			{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: c.image(ctx, task),
				Points: [][2]float64{{x, x}, {x + 10, x + 12}}},
		},
		Answers: []radmark.Answer{{Question: "quality", Choices: []string{"good"}}}}
	h := []string{"If-None-Match", "*"}
	if head != "" {
		h = []string{"If-Match", `"` + string(head) + `"`}
	}
	var rev radmark.Revision
	took, err := c.call(ctx, "POST", "/api/v1/annotation-sets/"+string(task.SetID)+"/revisions", req, &rev, h...)
	if err != nil {
		if ctx.Err() == nil {
			c.res.fail("%s saves: %v", c.name, err)
		}
		return "", false
	}
	c.res.mu.Lock()
	c.res.saves = append(c.res.saves, took)
	c.res.mu.Unlock()
	return rev.ID, true
}

var (
	imagesMu sync.Mutex
	images   = map[radmark.UID]radmark.UID{} // study → its one instance
)

// image names the single image of the task's study (looked up once).
func (c *client) image(ctx context.Context, task *radmark.Task) *radmark.ImageRef {
	imagesMu.Lock()
	defer imagesMu.Unlock()
	sop, ok := images[task.StudyUID]
	if !ok {
		ins, err := c.e.db.FindInstances(ctx, radmark.Query{Level: radmark.InstanceLevel, StudyUID: task.StudyUID})
		if err == nil && len(ins) == 1 {
			sop = ins[0].SOPInstanceUID
			images[task.StudyUID] = sop
		}
	}
	return &radmark.ImageRef{SOPInstanceUID: sop}
}

func (e *env) load(ctx context.Context, o options) *results {
	res := &results{received: map[radmark.ID][]string{}}
	tr := &http.Transport{MaxIdleConns: o.annotators * 2, MaxIdleConnsPerHost: o.annotators * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	stop, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.annotators {
		c := &client{e: e, name: annotatorName(i), http: &http.Client{Transport: tr}, rng: rand.New(rand.NewPCG(uint64(i), 7)), res: res}
		wg.Go(func() { c.work(ctx, stop, o) })
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// verify checks assignments against the database.
func (e *env) verify(ctx context.Context, res *results) error {
	var problems []string
	tasks, err := e.wf.Tasks(ctx, radmark.TaskFilter{ProjectID: e.project})
	if err != nil {
		return err
	}
	perCase := map[string]bool{}
	assigned := 0
	for _, t := range tasks {
		got := res.received[t.ID]
		if len(got) > 1 {
			problems = append(problems, fmt.Sprintf("task %s was given to %v", t.ID, got))
		}
		if t.Assignee == "" {
			if len(got) > 0 {
				problems = append(problems, fmt.Sprintf("task %s was received by %v but is unassigned", t.ID, got))
			}
			continue
		}
		assigned++
		if len(got) != 1 || got[0] != t.Assignee {
			problems = append(problems, fmt.Sprintf("task %s is assigned to %s but was received by %v (lost assignment)", t.ID, t.Assignee, got))
		}
		k := string(t.CaseID) + "/" + t.Assignee
		if perCase[k] {
			problems = append(problems, fmt.Sprintf("%s holds two reads of case %s", t.Assignee, t.CaseID))
		}
		perCase[k] = true
	}
	claims := 0
	var after int64
	for {
		evs, err := e.db.AuditEvents(ctx, radmark.AuditFilter{Action: "task.claim", AfterSeq: after, Limit: 1000})
		if err != nil {
			return err
		}
		claims += len(evs)
		if len(evs) < 1000 {
			break
		}
		after = evs[len(evs)-1].Seq
	}
	if claims != assigned {
		problems = append(problems, fmt.Sprintf("%d claim events in the audit trail for %d assigned tasks", claims, assigned))
	}
	problems = append(problems, res.errors...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("checks failed:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	// Nearest rank.
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func report(out io.Writer, o options, res *results, check error) {
	fmt.Fprintf(out, "### Reading workflow under load (%d annotators, %s, embedded SQLite)\n\n", o.annotators, o.duration)
	fmt.Fprintf(out, "GOMAXPROCS %d, %d cases × %d reads, %d saves per task, think time ~%s.\n\n", runtime.GOMAXPROCS(0), o.cases, o.readers, o.saves, o.think)
	secs := res.elapsed.Seconds()
	fmt.Fprintf(out, "| requests | count | per second | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		ds   []time.Duration
	}{{"save (POST revisions)", res.saves}, {"next task (pull)", res.pulls}, {"start / submit", res.transitions}} {
		fmt.Fprintf(out, "| %s | %d | %.1f | %s | %s | %s | %s |\n", row.name, len(row.ds), float64(len(row.ds))/secs,
			ms(percentile(row.ds, .50)), ms(percentile(row.ds, .95)), ms(percentile(row.ds, .99)), ms(percentile(row.ds, 1)))
	}
	fmt.Fprintf(out, "\nTasks submitted: %d; pulls that found nothing: %d.\n\n", res.submitted, res.idle)
	verdict := "**met**"
	if p := percentile(res.saves, .99); p >= targetSaveP99 {
		verdict = "**not met**"
	}
	fmt.Fprintf(out, "| target | measured | |\n|---|---:|---|\n| save p99 < %s | %s | %s |\n\n", ms(targetSaveP99), ms(percentile(res.saves, .99)), verdict)
	if check != nil {
		fmt.Fprintf(out, "Checks: FAILED: %v\n", check)
	} else {
		fmt.Fprintf(out, "Checks: no task given twice, none lost (every assigned task reached its annotator and only them), nobody holds two reads of a case, one audited claim per assignment.\n")
	}
}
