//go:build unix

package main

import (
	"os"
	"syscall"
)

// diskUsage returns the bytes of disk blocks a file occupies, -1 if unknown.
func diskUsage(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1
	}
	return int64(st.Blocks) * 512
}
