package httpapi

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"
)

// TestUICopyOfOpenAPIIsCurrent checks that the web UI's copy of the API
// document (ui/src/api/openapi.json, from which its TypeScript types are
// generated) describes the API the server has, so a route or a field
// added here cannot be missing from the UI's types unnoticed.
func TestUICopyOfOpenAPIIsCurrent(t *testing.T) {
	e, _ := newServeLikeEnv(t)
	served, err := json.Marshal(openAPIDocument(e.srv.apiRoutes(), "test"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../ui/src/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(served, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("ui/src/api/openapi.json: %v", err)
	}
	// The version names the build, not the API.
	delete(want["info"].(map[string]any), "version")
	delete(got["info"].(map[string]any), "version")
	if reflect.DeepEqual(want, got) {
		return
	}
	const fix = "regenerate the UI's copy: run `bin/radmark serve` and `node ui/scripts/gen-api.mjs http://ADDR/api/v1/openapi.json`"
	wantPaths, _ := want["paths"].(map[string]any)
	gotPaths, _ := got["paths"].(map[string]any)
	for _, p := range sortedKeys(wantPaths) {
		if !reflect.DeepEqual(wantPaths[p], gotPaths[p]) {
			t.Errorf("path %s differs from the UI's copy", p)
		}
	}
	for _, p := range sortedKeys(gotPaths) {
		if _, ok := wantPaths[p]; !ok {
			t.Errorf("the UI's copy has path %s, which the server does not", p)
		}
	}
	t.Fatalf("ui/src/api/openapi.json is not the server's OpenAPI document; %s", fix)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
