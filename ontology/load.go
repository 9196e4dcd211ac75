package ontology

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"strings"

	"github.com/radmark/radmark"
)

// dataFiles are the embedded data files, in the order their lists are shown.
var dataFiles = []string{"data/dicom.tsv", "data/radlex.tsv", "data/icd10.tsv"}

func loadEmbedded() (*Index, error) {
	var concepts []Concept
	var lists []ListInfo
	for _, name := range dataFiles {
		b, err := fs.ReadFile(dataFS, name)
		if err != nil {
			return nil, err
		}
		cs, ls, err := parseData(name, b)
		if err != nil {
			return nil, err
		}
		concepts = append(concepts, cs...)
		lists = append(lists, ls...)
	}
	return build(concepts, lists)
}

// parseData reads one data file in the format ontology/gen/gen.py writes:
// tab-separated scheme, code, meaning, lists, parent, categories, synonyms
// and list meanings; '|' separates the items of a multi-valued field; '#'
// starts a comment, and '#list<TAB>NAME<TAB>TITLE' declares a list.
func parseData(name string, b []byte) ([]Concept, []ListInfo, error) {
	var concepts []Concept
	var lists []ListInfo
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	bad := func(format string, args ...any) error {
		return radmark.Errorf(radmark.EINVALID, "ontology: %s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, "#") {
			if rest, ok := strings.CutPrefix(text, "#list\t"); ok {
				n, title, ok := strings.Cut(rest, "\t")
				if !ok || n == "" || title == "" {
					return nil, nil, bad("a #list line needs a name and a title")
				}
				lists = append(lists, ListInfo{Name: n, Title: title})
			}
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 8 {
			return nil, nil, bad("%d fields, want 8", len(f))
		}
		c := Concept{Scheme: f[0], Code: f[1], Meaning: f[2], Lists: split(f[3]), Synonyms: split(f[6])}
		if f[4] != "" {
			ref, err := parseRef(f[4])
			if err != nil {
				return nil, nil, bad("parent: %v", err)
			}
			c.Parent = &ref
		}
		for _, s := range split(f[5]) {
			ref, err := parseRef(s)
			if err != nil {
				return nil, nil, bad("category: %v", err)
			}
			c.Categories = append(c.Categories, ref)
		}
		for _, s := range split(f[7]) {
			l, m, ok := strings.Cut(s, "=")
			if !ok || l == "" || m == "" {
				return nil, nil, bad("list meaning %q is not LIST=MEANING", s)
			}
			if c.ListMeanings == nil {
				c.ListMeanings = map[string]string{}
			}
			c.ListMeanings[l] = m
		}
		concepts = append(concepts, c)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, bad("%v", err)
	}
	return concepts, lists, nil
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

// parseRef reads SCHEME:CODE.
func parseRef(s string) (radmark.Code, error) {
	scheme, code, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || code == "" {
		return radmark.Code{}, fmt.Errorf("%q is not SCHEME:CODE", s)
	}
	return radmark.Code{Scheme: scheme, Value: code}, nil
}
