package main

import (
	"encoding/json"

	"github.com/radmark/radmark"
)

// manifestSize is the size of a labelmap manifest as a revision stores it.
func manifestSize(m *radmark.Labelmap) int {
	b, err := json.Marshal(m)
	if err != nil {
		return -1
	}
	return len(b)
}
