package phantom

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
)

// deriveUID returns a UID under the 2.25 root (PS3.5 B.2): the decimal
// value of a UUID. The UUID is version 8 (RFC 9562 custom) built from the
// SHA-256 of the parts, so the same inputs always give the same UID and
// different inputs collide no more often than random UUIDs do.
func deriveUID(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	sum := h.Sum(nil)[:16]
	sum[6] = sum[6]&0x0f | 0x80 // version 8
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	return "2.25." + new(big.Int).SetBytes(sum).String()
}

// uidDomain separates phantom UIDs from any other hash-derived UIDs.
const uidDomain = "radmark/phantom/v1"

// studyKey identifies the study a spec belongs to: the patient and study
// identity and the seed. Series made from specs that share them (say CT512
// and CTSmall with default identities) land in one study and share one
// frame of reference, which is true: they sample the same anatomy in the
// same LPS frame.
func studyKey(m Modality, id Identity, seed uint64) string {
	b, _ := json.Marshal(struct {
		M    Modality
		P    string
		PID  string
		D, T string
		S    string
		A    string
		Seed uint64
	}{m, id.PatientName, id.PatientID, id.StudyDate, id.StudyTime, id.StudyID, id.AccessionNumber, seed})
	return string(b)
}

// seriesKey identifies a series: the whole normalised spec, so any change
// to the grid, anatomy, noise or identity gives new series and instance
// UIDs.
func seriesKey(s Spec) string {
	b, err := json.Marshal(s)
	if err != nil {
		// A Spec holds only numbers and strings; Marshal fails only on NaN
		// or Inf, which normalize rejects.
		panic("phantom: cannot encode spec: " + err.Error())
	}
	return string(b)
}

// parallel calls f(k) for k in [0, n) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(k int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				f(k)
			}
		}()
	}
	wg.Wait()
}
