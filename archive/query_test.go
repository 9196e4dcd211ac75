package archive

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/radmark/radmark"
)

func TestParseSearch(t *testing.T) {
	tests := []struct {
		name    string
		level   radmark.Level
		query   string
		filters []radmark.Filter
		limit   int
		offset  int
		code    string
	}{
		{name: "empty", level: radmark.StudyLevel, query: "", limit: DefaultLimit},
		{name: "patient name wildcard", level: radmark.StudyLevel, query: "PatientName=DOE*",
			filters: []radmark.Filter{{Key: radmark.KeyPatientName, Kind: radmark.MatchWildcard, Values: []string{"DOE*"}}}, limit: DefaultLimit},
		{name: "tag instead of keyword", level: radmark.StudyLevel, query: "00100020=P1",
			filters: []radmark.Filter{{Key: radmark.KeyPatientID, Kind: radmark.MatchSingle, Values: []string{"P1"}}}, limit: DefaultLimit},
		{name: "uid list", level: radmark.StudyLevel, query: "StudyInstanceUID=1.2.3,1.2.4",
			filters: []radmark.Filter{{Key: radmark.KeyStudyInstanceUID, Kind: radmark.MatchList, Values: []string{"1.2.3", "1.2.4"}}}, limit: DefaultLimit},
		{name: "uid list with backslash", level: radmark.StudyLevel, query: `StudyInstanceUID=1.2.3\1.2.4`,
			filters: []radmark.Filter{{Key: radmark.KeyStudyInstanceUID, Kind: radmark.MatchList, Values: []string{"1.2.3", "1.2.4"}}}, limit: DefaultLimit},
		{name: "bad uid", level: radmark.StudyLevel, query: "StudyInstanceUID=1.2.x", code: radmark.EINVALID},
		{name: "date range", level: radmark.StudyLevel, query: "StudyDate=20200101-20201231",
			filters: []radmark.Filter{{Key: radmark.KeyStudyDate, Kind: radmark.MatchRange, Lo: "20200101", Hi: "20201231"}}, limit: DefaultLimit},
		{name: "open date range", level: radmark.StudyLevel, query: "StudyDate=-20201231",
			filters: []radmark.Filter{{Key: radmark.KeyStudyDate, Kind: radmark.MatchRange, Hi: "20201231"}}, limit: DefaultLimit},
		{name: "iso date", level: radmark.StudyLevel, query: "StudyDate=2020-03-04",
			filters: []radmark.Filter{{Key: radmark.KeyStudyDate, Kind: radmark.MatchSingle, Values: []string{"20200304"}}}, limit: DefaultLimit},
		{name: "bad date", level: radmark.StudyLevel, query: "StudyDate=2020", code: radmark.EINVALID},
		{name: "reversed range", level: radmark.StudyLevel, query: "StudyDate=20201231-20200101", code: radmark.EINVALID},
		{name: "time range end padded", level: radmark.StudyLevel, query: "StudyTime=1000-1030",
			filters: []radmark.Filter{{Key: radmark.KeyStudyTime, Kind: radmark.MatchRange, Lo: "1000", Hi: "103099.999999"}}, limit: DefaultLimit},
		{name: "modalities", level: radmark.StudyLevel, query: "ModalitiesInStudy=CT,MR",
			filters: []radmark.Filter{{Key: radmark.KeyModalitiesInStudy, Kind: radmark.MatchList, Values: []string{"CT", "MR"}}}, limit: DefaultLimit},
		{name: "universal match ignored", level: radmark.StudyLevel, query: "PatientName=*&AccessionNumber=", limit: DefaultLimit},
		{name: "lower level key refused", level: radmark.StudyLevel, query: "Modality=CT", code: radmark.EINVALID},
		{name: "higher level key on series", level: radmark.SeriesLevel, query: "PatientID=P1&SeriesNumber=3",
			filters: []radmark.Filter{
				{Key: radmark.KeyPatientID, Kind: radmark.MatchSingle, Values: []string{"P1"}},
				{Key: radmark.KeySeriesNumber, Kind: radmark.MatchSingle, Values: []string{"3"}},
			}, limit: DefaultLimit},
		{name: "series number not numeric", level: radmark.SeriesLevel, query: "SeriesNumber=three", code: radmark.EINVALID},
		{name: "limit offset", level: radmark.StudyLevel, query: "limit=10&offset=20", limit: 10, offset: 20},
		{name: "bad limit", level: radmark.StudyLevel, query: "limit=-1", code: radmark.EINVALID},
		{name: "bad includefield", level: radmark.StudyLevel, query: "includefield=NoSuchKeyword", code: radmark.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSearch(tt.level, "", "", params)
			if tt.code != "" {
				if radmark.ErrorCode(err) != tt.code {
					t.Fatalf("error %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.filters, s.Query.Filters); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
			if s.Query.Limit != tt.limit || s.Query.Offset != tt.offset {
				t.Errorf("limit %d offset %d, want %d %d", s.Query.Limit, s.Query.Offset, tt.limit, tt.offset)
			}
		})
	}
}

func TestParseSearchWarnsAboutUnsupported(t *testing.T) {
	s, err := ParseSearch(radmark.StudyLevel, "", "", url.Values{"fuzzymatching": {"true"}, "InstitutionName": {"X"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 2 {
		t.Errorf("warnings %q, want two", s.Warnings)
	}
}
