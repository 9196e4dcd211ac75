package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"168h", 168 * time.Hour, ""},
		{" 30m ", 30 * time.Minute, ""},
		{"0", 0, ""},
		{"-1h", 0, "cannot be negative"},
		{"7d", 0, "want a duration such as 168h"},
		{"", 0, "want a duration such as 168h"},
	} {
		got, err := parseRetention(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("parseRetention(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, new(usageError)) {
			t.Errorf("parseRetention(%q) = %v, %v; want a usage error with %q", tt.in, got, err, tt.err)
		}
	}
}
