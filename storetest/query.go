package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
)

// fixture is a small archive whose values exercise matching: non-ASCII
// names (Greek, Cyrillic, Japanese), SQL LIKE and GLOB specials in data,
// ties in the sort order, absent dates and numbers.
type fixtureStudy struct {
	uid                             radmark.UID
	patient                         radmark.Patient
	date, time, acc, id, desc, refd string
	series                          []fixtureSeries
}

type fixtureSeries struct {
	uid                    radmark.UID
	modality               string
	number                 *int
	desc, body, pdate, ptm string
	instances              []fixtureInstance
}

type fixtureInstance struct {
	uid      radmark.UID
	number   *int
	sopClass radmark.UID
}

func num(n int) *int { return &n }

const (
	ctImage = "1.2.840.10008.5.1.4.1.1.2"
	mrImage = "1.2.840.10008.5.1.4.1.1.4"
	srDoc   = "1.2.840.10008.5.1.4.1.1.88.22"
)

func one(uid radmark.UID) []fixtureInstance {
	return []fixtureInstance{{uid: uid + ".1", number: num(1), sopClass: ctImage}}
}

var fixture = []fixtureStudy{
	{uid: "2.25.1", patient: radmark.Patient{ID: "PID-1", Name: "Doe^John", BirthDate: "19600101", Sex: "M"},
		date: "20240115", time: "083000", acc: "ACC-1", id: "S-1", desc: "CT Chest", refd: "House^Gregory",
		series: []fixtureSeries{
			{uid: "2.25.1.1", modality: "CT", number: num(1), desc: "Axial 1mm", body: "CHEST", pdate: "20240115", ptm: "083100",
				instances: []fixtureInstance{
					{uid: "2.25.1.1.99", sopClass: ctImage},
					{uid: "2.25.1.1.10", number: num(10), sopClass: ctImage},
					{uid: "2.25.1.1.2", number: num(2), sopClass: ctImage},
					{uid: "2.25.1.1.1", number: num(1), sopClass: ctImage},
				}},
			{uid: "2.25.1.2", modality: "SR", desc: "Report", instances: []fixtureInstance{{uid: "2.25.1.2.1", number: num(1), sopClass: srDoc}}},
			{uid: "2.25.1.3", modality: "CT", number: num(10), desc: "Coronal", body: "CHEST", pdate: "20240115", ptm: "084500", instances: one("2.25.1.3")},
		}},
	{uid: "2.25.2", patient: radmark.Patient{ID: "ΠΑΠ-1", Name: "Παπαδόπουλος^Γιώργος", BirthDate: "19751231", Sex: "M"},
		date: "20240115", time: "120000", acc: "ACC-2", id: "S-2", desc: "MR Knee", refd: "Grey^Meredith",
		series: []fixtureSeries{
			{uid: "2.25.2.1", modality: "MR", number: num(2), desc: "T1 SAG", body: "KNEE", pdate: "20240115", ptm: "121500",
				instances: []fixtureInstance{{uid: "2.25.2.1.2", number: num(2), sopClass: mrImage}, {uid: "2.25.2.1.1", number: num(1), sopClass: mrImage}}},
		}},
	{uid: "2.25.3", patient: radmark.Patient{ID: "ИВ-1", Name: "Иванов^Иван", BirthDate: "19800505", Sex: "M"},
		date: "20231201", time: "235959", acc: "ACC-3", id: "S-3", desc: "Рентген грудной клетки",
		series: []fixtureSeries{
			{uid: "2.25.3.1", modality: "CR", number: num(1), body: "CHEST", pdate: "20231201", instances: one("2.25.3.1")},
			{uid: "2.25.3.2", modality: "DX", number: num(2), body: "CHEST", pdate: "20231202", instances: one("2.25.3.2")},
		}},
	{uid: "2.25.4", patient: radmark.Patient{ID: "山田-1", Name: "山田^太郎", Sex: "M"},
		acc: "ACC-4", desc: "CT Head", refd: "house^gregory",
		series: []fixtureSeries{{uid: "2.25.4.1", modality: "CT", number: num(1), body: "HEAD", instances: one("2.25.4.1")}}},
	{uid: "2.25.5", patient: radmark.Patient{ID: "100%_A", Issuer: `ISS\X`, Name: "O'Brien^Ann", BirthDate: "19900101", Sex: "F"},
		date: "20240301", acc: "ACC[5]", id: "S-5", desc: "PET_CT 50%",
		series: []fixtureSeries{
			{uid: "2.25.5.1", modality: "PT", number: num(3), desc: "PET AC", instances: one("2.25.5.1")},
			{uid: "2.25.5.2", modality: "CT", number: num(4), desc: "CT AC", instances: one("2.25.5.2")},
		}},
	{uid: "2.25.6", patient: radmark.Patient{ID: "100xyA", Name: "doe^jane", Sex: "F"},
		date: "20240115", time: "083000", acc: "acc-1", id: "S-6", desc: "ct chest",
		series: []fixtureSeries{{uid: "2.25.6.1", modality: "CT", number: num(1), body: "CHEST", instances: one("2.25.6.1")}}},
}

func loadFixture(t *testing.T, s radmark.ArchiveStore) {
	t.Helper()
	var recs []*radmark.InstanceRecord
	for _, st := range fixture {
		for _, se := range st.series {
			for _, in := range se.instances {
				r := Record(st.uid, se.uid, in.uid, "v1")
				r.Study.Patient = st.patient
				r.Study.Date, r.Study.Time, r.Study.AccessionNumber, r.Study.StudyID = st.date, st.time, st.acc, st.id
				r.Study.Description, r.Study.ReferringPhysicianName = st.desc, st.refd
				r.Series.Modality, r.Series.Number, r.Series.Description = se.modality, se.number, se.desc
				r.Series.BodyPartExamined, r.Series.PerformedStartDate, r.Series.PerformedStartTime = se.body, se.pdate, se.ptm
				r.Instance.InstanceNumber, r.Instance.SOPClassUID = in.number, in.sopClass
				recs = append(recs, r)
			}
		}
	}
	// Two batches, so that studies are updated as well as created.
	mustPut(t, s, recs[:5]...)
	mustPut(t, s, recs[5:]...)
}

func single(k radmark.Key, v string) radmark.Filter {
	return radmark.Filter{Key: k, Kind: radmark.MatchSingle, Values: []string{v}}
}

func list(k radmark.Key, v ...string) radmark.Filter {
	return radmark.Filter{Key: k, Kind: radmark.MatchList, Values: v}
}

func wild(k radmark.Key, pattern string) radmark.Filter {
	return radmark.Filter{Key: k, Kind: radmark.MatchWildcard, Values: []string{pattern}}
}

func rng(k radmark.Key, lo, hi string) radmark.Filter {
	return radmark.Filter{Key: k, Kind: radmark.MatchRange, Lo: lo, Hi: hi}
}

func uids(prefix string, suffixes ...string) []radmark.UID {
	out := make([]radmark.UID, len(suffixes))
	for i, s := range suffixes {
		out[i] = radmark.UID(prefix + s)
	}
	return out
}

type queryCase struct {
	name string
	q    radmark.Query
	want []radmark.UID
}

func testFindStudies(t *testing.T, open Opener) {
	s := open(t)
	loadFixture(t, s)
	st := func(f ...radmark.Filter) radmark.Query { return radmark.Query{Filters: f} }
	tests := []queryCase{
		{"all, newest first, ties by UID, no date last", st(), uids("2.25.", "5", "2", "1", "6", "3", "4")},
		{"level given", radmark.Query{Level: radmark.StudyLevel}, uids("2.25.", "5", "2", "1", "6", "3", "4")},
		{"scoped to a study", radmark.Query{StudyUID: "2.25.2"}, uids("2.25.", "2")},
		{"scoped to a missing study", radmark.Query{StudyUID: "9.9"}, nil},
		{"limit", radmark.Query{Limit: 2}, uids("2.25.", "5", "2")},
		{"limit and offset", radmark.Query{Limit: 2, Offset: 2}, uids("2.25.", "1", "6")},
		{"offset only", radmark.Query{Offset: 4}, uids("2.25.", "3", "4")},
		{"offset past the end", radmark.Query{Offset: 10}, nil},

		{"name ignores case", st(single(radmark.KeyPatientName, "DOE^JOHN")), uids("2.25.", "1")},
		{"name exact", st(single(radmark.KeyPatientName, "Doe^John")), uids("2.25.", "1")},
		{"name wildcard", st(wild(radmark.KeyPatientName, "doe*")), uids("2.25.", "1", "6")},
		{"name wildcard upper", st(wild(radmark.KeyPatientName, "DOE^J*")), uids("2.25.", "1", "6")},
		{"name wildcard inner", st(wild(radmark.KeyPatientName, "*^j*")), uids("2.25.", "1", "6")},
		{"name ? is one character", st(wild(radmark.KeyPatientName, "?oe^jo?n")), uids("2.25.", "1")},
		{"name ? is not two", st(wild(radmark.KeyPatientName, "?e^john")), nil},
		{"Greek in capitals (final sigma)", st(single(radmark.KeyPatientName, "ΠΑΠΑΔΌΠΟΥΛΟΣ^ΓΙΏΡΓΟΣ")), uids("2.25.", "2")},
		{"Greek in lower case", st(single(radmark.KeyPatientName, "παπαδόπουλος^γιώργος")), uids("2.25.", "2")},
		{"Greek wildcard", st(wild(radmark.KeyPatientName, "ΠΑΠΑΔ*")), uids("2.25.", "2")},
		{"Cyrillic, other case", st(single(radmark.KeyPatientName, "ИВАНОВ^ИВАН")), uids("2.25.", "3")},
		{"Cyrillic wildcard", st(wild(radmark.KeyPatientName, "иван*")), uids("2.25.", "3")},
		{"Japanese", st(single(radmark.KeyPatientName, "山田^太郎")), uids("2.25.", "4")},
		{"Japanese ? is one character", st(wild(radmark.KeyPatientName, "山?^太郎")), uids("2.25.", "4")},
		{"Japanese leading ?", st(wild(radmark.KeyPatientName, "?田*")), uids("2.25.", "4")},
		{"apostrophe", st(single(radmark.KeyPatientName, "o'brien^ann")), uids("2.25.", "5")},
		{"only stars is universal", st(wild(radmark.KeyPatientName, "**")), uids("2.25.", "5", "2", "1", "6", "3", "4")},
		{"empty single value is universal", st(single(radmark.KeyPatientName, "")), uids("2.25.", "5", "2", "1", "6", "3", "4")},
		{"wildcard without wildcards is exact", st(wild(radmark.KeyPatientName, "doe")), nil},

		{"PatientID is case-sensitive", st(single(radmark.KeyPatientID, "pid-1")), nil},
		{"PatientID", st(single(radmark.KeyPatientID, "PID-1")), uids("2.25.", "1")},
		{"% and _ in data are literal", st(wild(radmark.KeyPatientID, "100%_*")), uids("2.25.", "5")},
		{"? next to a literal _", st(wild(radmark.KeyPatientID, "100?_A")), uids("2.25.", "5")},
		{"backslash is literal", st(wild(radmark.KeyIssuerOfPatientID, `ISS\*`)), uids("2.25.", "5")},
		{"issuer", st(single(radmark.KeyIssuerOfPatientID, `ISS\X`)), uids("2.25.", "5")},
		{"bracket is literal", st(wild(radmark.KeyAccessionNumber, "ACC[*")), uids("2.25.", "5")},
		{"bracket pair is literal", st(wild(radmark.KeyAccessionNumber, "*[5]")), uids("2.25.", "5")},
		{"accession is case-sensitive", st(single(radmark.KeyAccessionNumber, "ACC-1")), uids("2.25.", "1")},
		{"accession wildcard is case-sensitive", st(wild(radmark.KeyAccessionNumber, "acc*")), uids("2.25.", "6")},
		{"StudyID", st(single(radmark.KeyStudyID, "S-1")), uids("2.25.", "1")},
		{"sex", st(single(radmark.KeyPatientSex, "F")), uids("2.25.", "5", "6")},
		{"birth date range", st(rng(radmark.KeyPatientBirthDate, "19700101", "19851231")), uids("2.25.", "2", "3")},

		{"description ignores case", st(single(radmark.KeyStudyDescription, "CT CHEST")), uids("2.25.", "1", "6")},
		{"description wildcard", st(wild(radmark.KeyStudyDescription, "*chest*")), uids("2.25.", "1", "6")},
		{"description % and _ literal", st(single(radmark.KeyStudyDescription, "pet_ct 50%")), uids("2.25.", "5")},
		{"description _ is not a wildcard", st(wild(radmark.KeyStudyDescription, "ct_chest*")), nil},
		{"description % is not a wildcard", st(wild(radmark.KeyStudyDescription, "pet%*")), nil},
		{"description ends with %", st(wild(radmark.KeyStudyDescription, "*0%")), uids("2.25.", "5")},
		{"description ? matches _", st(wild(radmark.KeyStudyDescription, "pet?ct*")), uids("2.25.", "5")},
		{"Cyrillic description", st(wild(radmark.KeyStudyDescription, "РЕНТГЕН*")), uids("2.25.", "3")},
		{"referring physician ignores case", st(single(radmark.KeyReferringPhysicianName, "HOUSE^GREGORY")), uids("2.25.", "1", "4")},

		{"date single", st(single(radmark.KeyStudyDate, "20240115")), uids("2.25.", "2", "1", "6")},
		{"date list", st(list(radmark.KeyStudyDate, "20231201", "20240301")), uids("2.25.", "5", "3")},
		{"date range", st(rng(radmark.KeyStudyDate, "20240101", "20240131")), uids("2.25.", "2", "1", "6")},
		{"date range inclusive", st(rng(radmark.KeyStudyDate, "20231201", "20240115")), uids("2.25.", "2", "1", "6", "3")},
		{"date from", st(rng(radmark.KeyStudyDate, "20240115", "")), uids("2.25.", "5", "2", "1", "6")},
		{"date until excludes absent dates", st(rng(radmark.KeyStudyDate, "", "20231231")), uids("2.25.", "3")},
		{"time range", st(rng(radmark.KeyStudyTime, "080000", "090000")), uids("2.25.", "1", "6")},
		{"date and time", st(single(radmark.KeyStudyDate, "20240115"), rng(radmark.KeyStudyTime, "100000", "")), uids("2.25.", "2")},
		{"UID list", st(list(radmark.KeyStudyInstanceUID, "2.25.3", "2.25.1", "9.9")), uids("2.25.", "1", "3")},

		{"modality in study", st(single(radmark.KeyModalitiesInStudy, "CT")), uids("2.25.", "5", "1", "6", "4")},
		{"modalities in study list", st(list(radmark.KeyModalitiesInStudy, "MR", "DX")), uids("2.25.", "2", "3")},
		{"modality is case-sensitive", st(single(radmark.KeyModalitiesInStudy, "ct")), nil},
		{"modality wildcard", st(wild(radmark.KeyModalitiesInStudy, "?R")), uids("2.25.", "2", "1", "3")},
		{"name and date, the QIDO search", radmark.Query{Limit: 100, Filters: []radmark.Filter{
			wild(radmark.KeyPatientName, "doe*"), rng(radmark.KeyStudyDate, "20240101", "20241231")}}, uids("2.25.", "1", "6")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []radmark.UID
			for _, st := range findStudies(t, s, tt.q) {
				got = append(got, st.UID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("studies (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("derived values", func(t *testing.T) {
		got := map[radmark.UID][]any{}
		for _, st := range findStudies(t, s, radmark.Query{}) {
			got[st.UID] = []any{st.NumSeries, st.NumInstances, st.ModalitiesInStudy}
		}
		want := map[radmark.UID][]any{
			"2.25.1": {3, 6, []string{"CT", "SR"}}, "2.25.2": {1, 2, []string{"MR"}},
			"2.25.3": {2, 2, []string{"CR", "DX"}}, "2.25.4": {1, 1, []string{"CT"}},
			"2.25.5": {2, 2, []string{"CT", "PT"}}, "2.25.6": {1, 1, []string{"CT"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		CheckInvariants(t, s)
	})
}

func testFindSeries(t *testing.T, open Opener) {
	s := open(t)
	loadFixture(t, s)
	se := func(f ...radmark.Filter) radmark.Query { return radmark.Query{Filters: f} }
	tests := []queryCase{
		{"all, by number, absent last", se(), uids("2.25.", "1.1", "3.1", "4.1", "6.1", "2.1", "3.2", "5.1", "5.2", "1.3", "1.2")},
		{"scoped to a study", radmark.Query{StudyUID: "2.25.1"}, uids("2.25.", "1.1", "1.3", "1.2")},
		{"scoped to a study and series", radmark.Query{StudyUID: "2.25.1", SeriesUID: "2.25.1.3"}, uids("2.25.", "1.3")},
		{"series of another study", radmark.Query{StudyUID: "2.25.2", SeriesUID: "2.25.1.3"}, nil},
		{"limit and offset", radmark.Query{StudyUID: "2.25.1", Limit: 1, Offset: 1}, uids("2.25.", "1.3")},
		{"modality", se(single(radmark.KeyModality, "CT")), uids("2.25.", "1.1", "4.1", "6.1", "5.2", "1.3")},
		{"modality list", se(list(radmark.KeyModality, "CR", "DX")), uids("2.25.", "3.1", "3.2")},
		{"number", se(single(radmark.KeySeriesNumber, "2")), uids("2.25.", "2.1", "3.2")},
		{"number with leading zero", se(single(radmark.KeySeriesNumber, "02")), uids("2.25.", "2.1", "3.2")},
		{"number list", se(list(radmark.KeySeriesNumber, "1", "10")), uids("2.25.", "1.1", "3.1", "4.1", "6.1", "1.3")},
		{"number range is numeric", se(rng(radmark.KeySeriesNumber, "2", "10")), uids("2.25.", "2.1", "3.2", "5.1", "5.2", "1.3")},
		{"number from", se(rng(radmark.KeySeriesNumber, "4", "")), uids("2.25.", "5.2", "1.3")},
		{"number until", se(rng(radmark.KeySeriesNumber, "", "1")), uids("2.25.", "1.1", "3.1", "4.1", "6.1")},
		{"description ignores case", se(single(radmark.KeySeriesDescription, "AXIAL 1MM")), uids("2.25.", "1.1")},
		{"description wildcard", se(wild(radmark.KeySeriesDescription, "t1*")), uids("2.25.", "2.1")},
		{"body part", se(single(radmark.KeyBodyPartExamined, "KNEE")), uids("2.25.", "2.1")},
		{"body part is case-sensitive", se(single(radmark.KeyBodyPartExamined, "knee")), nil},
		{"performed date range", se(rng(radmark.KeyPerformedProcedureStepStartDate, "20231201", "20231231")), uids("2.25.", "3.1", "3.2")},
		{"performed time", se(rng(radmark.KeyPerformedProcedureStepStartTime, "084000", "")), uids("2.25.", "2.1", "1.3")},
		{"series UID", se(list(radmark.KeySeriesInstanceUID, "2.25.5.2", "2.25.2.1")), uids("2.25.", "2.1", "5.2")},
		{"by patient name", se(wild(radmark.KeyPatientName, "DOE*")), uids("2.25.", "1.1", "6.1", "1.3", "1.2")},
		{"by study date", se(single(radmark.KeyStudyDate, "20231201")), uids("2.25.", "3.1", "3.2")},
		{"by study UID filter", se(single(radmark.KeyStudyInstanceUID, "2.25.5")), uids("2.25.", "5.1", "5.2")},
		{"by modalities in study", se(single(radmark.KeyModalitiesInStudy, "SR")), uids("2.25.", "1.1", "1.3", "1.2")},
		{"study and series keys", se(single(radmark.KeyPatientName, "doe^john"), single(radmark.KeyModality, "CT")), uids("2.25.", "1.1", "1.3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []radmark.UID
			for _, se := range findSeries(t, s, tt.q) {
				got = append(got, se.UID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("series carry their study and counts", func(t *testing.T) {
		got := findSeries(t, s, radmark.Query{StudyUID: "2.25.1"})
		if len(got) != 3 || got[0].StudyUID != "2.25.1" || got[0].NumInstances != 4 || got[1].NumInstances != 1 || *got[0].Number != 1 || got[2].Number != nil {
			t.Errorf("series of 2.25.1: %+v", got)
		}
	})
}

func testFindInstances(t *testing.T, open Opener) {
	s := open(t)
	loadFixture(t, s)
	in := func(f ...radmark.Filter) radmark.Query { return radmark.Query{Filters: f} }
	tests := []queryCase{
		{"series, by number, absent last", radmark.Query{StudyUID: "2.25.1", SeriesUID: "2.25.1.1"}, uids("2.25.1.1.", "1", "2", "10", "99")},
		{"series without study", radmark.Query{SeriesUID: "2.25.2.1"}, uids("2.25.2.1.", "1", "2")},
		{"study", radmark.Query{StudyUID: "2.25.3"}, uids("2.25.3.", "1.1", "2.1")},
		{"limit and offset", radmark.Query{SeriesUID: "2.25.1.1", Limit: 2, Offset: 1}, uids("2.25.1.1.", "2", "10")},
		{"number", radmark.Query{SeriesUID: "2.25.1.1", Filters: []radmark.Filter{single(radmark.KeyInstanceNumber, "10")}}, uids("2.25.1.1.", "10")},
		{"number range is numeric", radmark.Query{SeriesUID: "2.25.1.1", Filters: []radmark.Filter{rng(radmark.KeyInstanceNumber, "2", "10")}}, uids("2.25.1.1.", "2", "10")},
		{"number list", radmark.Query{SeriesUID: "2.25.1.1", Filters: []radmark.Filter{list(radmark.KeyInstanceNumber, "1", "99")}}, uids("2.25.1.1.", "1")},
		{"SOP class", in(single(radmark.KeySOPClassUID, mrImage)), uids("2.25.2.1.", "1", "2")},
		{"SOP instance UIDs", in(list(radmark.KeySOPInstanceUID, "2.25.6.1.1", "2.25.1.2.1")), uids("2.25.", "1.2.1", "6.1.1")},
		{"by series modality", in(single(radmark.KeyModality, "SR")), uids("2.25.1.2.", "1")},
		{"by study description", in(single(radmark.KeyStudyDescription, "mr knee")), uids("2.25.2.1.", "1", "2")},
		{"by patient", in(single(radmark.KeyPatientID, "ИВ-1")), uids("2.25.3.", "1.1", "2.1")},
		{"by series number", in(rng(radmark.KeySeriesNumber, "3", "4")), uids("2.25.5.", "1.1", "2.1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []radmark.UID
			for _, in := range findInstances(t, s, tt.q) {
				got = append(got, in.SOPInstanceUID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
		})
	}
}

func testQueryErrors(t *testing.T, open Opener) {
	s := open(t)
	loadFixture(t, s)
	tests := []struct {
		name  string
		level radmark.Level
		q     radmark.Query
	}{
		{"series key in a study query", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{single(radmark.KeyModality, "CT")}}},
		{"instance key in a study query", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{single(radmark.KeySOPClassUID, ctImage)}}},
		{"instance key in a series query", radmark.SeriesLevel, radmark.Query{Filters: []radmark.Filter{single(radmark.KeyInstanceNumber, "1")}}},
		{"unknown key", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{single("PatientWeight", "70")}}},
		{"unknown kind", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{{Key: radmark.KeyPatientID, Kind: 99, Values: []string{"x"}}}}},
		{"no kind", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{{Key: radmark.KeyPatientID, Values: []string{"x"}}}}},
		{"single without value", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{{Key: radmark.KeyPatientID, Kind: radmark.MatchSingle}}}},
		{"empty list", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{{Key: radmark.KeyStudyInstanceUID, Kind: radmark.MatchList}}}},
		{"wildcard without pattern", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{{Key: radmark.KeyPatientName, Kind: radmark.MatchWildcard}}}},
		{"range without bounds", radmark.StudyLevel, radmark.Query{Filters: []radmark.Filter{rng(radmark.KeyStudyDate, "", "")}}},
		{"non-numeric series number", radmark.SeriesLevel, radmark.Query{Filters: []radmark.Filter{single(radmark.KeySeriesNumber, "two")}}},
		{"non-numeric number in a list", radmark.SeriesLevel, radmark.Query{Filters: []radmark.Filter{list(radmark.KeySeriesNumber, "1", "x")}}},
		{"non-numeric range bound", radmark.InstanceLevel, radmark.Query{Filters: []radmark.Filter{rng(radmark.KeyInstanceNumber, "1", "ten")}}},
		{"wildcard on a number", radmark.SeriesLevel, radmark.Query{Filters: []radmark.Filter{wild(radmark.KeySeriesNumber, "1*")}}},
		{"study query scoped to a series", radmark.StudyLevel, radmark.Query{SeriesUID: "2.25.1.1"}},
		{"negative limit", radmark.StudyLevel, radmark.Query{Limit: -1}},
		{"negative offset", radmark.InstanceLevel, radmark.Query{Offset: -1}},
		{"level mismatch", radmark.StudyLevel, radmark.Query{Level: radmark.SeriesLevel}},
		{"level mismatch on series", radmark.SeriesLevel, radmark.Query{Level: radmark.InstanceLevel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			switch tt.level {
			case radmark.StudyLevel:
				_, err = s.FindStudies(ctx(t), tt.q)
			case radmark.SeriesLevel:
				_, err = s.FindSeries(ctx(t), tt.q)
			case radmark.InstanceLevel:
				_, err = s.FindInstances(ctx(t), tt.q)
			}
			if code := radmark.ErrorCode(err); code != radmark.EINVALID {
				t.Errorf("err = %v (code %q), want %s", err, code, radmark.EINVALID)
			}
			if msg := radmark.ErrorMessage(err); msg == "" || msg == "internal error" {
				t.Errorf("message %q does not say what is wrong", msg)
			}
		})
	}
}
