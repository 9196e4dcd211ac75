package dicom

import (
	dcmuid "github.com/suyashkumar/dicom/pkg/uid"
)

// Transfer syntax UIDs radmark knows.
const (
	ImplicitVRLittleEndian                         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian                         = "1.2.840.10008.1.2.1"
	EncapsulatedUncompressedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.98"
	DeflatedExplicitVRLittleEndian                 = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian                            = "1.2.840.10008.1.2.2"
	JPEGBaseline8Bit                               = "1.2.840.10008.1.2.4.50"
	JPEGExtended12Bit                              = "1.2.840.10008.1.2.4.51"
	JPEGLossless                                   = "1.2.840.10008.1.2.4.57"
	JPEGLosslessSV1                                = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless                                 = "1.2.840.10008.1.2.4.80"
	JPEGLSNearLossless                             = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless                               = "1.2.840.10008.1.2.4.90"
	JPEG2000                                       = "1.2.840.10008.1.2.4.91"
	RLELossless                                    = "1.2.840.10008.1.2.5"
)

// TransferSyntax describes how a dataset is encoded.
type TransferSyntax struct {
	UID          string
	Name         string
	ExplicitVR   bool
	BigEndian    bool
	Deflated     bool
	Encapsulated bool // pixel data is a sequence of fragments
	Lossy        bool
	Retired      bool
}

var transferSyntaxes = map[string]TransferSyntax{}

func init() {
	add := func(uid, name string, explicit, big, deflated, encap, lossy bool) {
		transferSyntaxes[uid] = TransferSyntax{UID: uid, Name: name, ExplicitVR: explicit, BigEndian: big, Deflated: deflated, Encapsulated: encap, Lossy: lossy}
	}
	add(ImplicitVRLittleEndian, "Implicit VR Little Endian", false, false, false, false, false)
	add(ExplicitVRLittleEndian, "Explicit VR Little Endian", true, false, false, false, false)
	add(EncapsulatedUncompressedExplicitVRLittleEndian, "Encapsulated Uncompressed Explicit VR Little Endian", true, false, false, true, false)
	add(DeflatedExplicitVRLittleEndian, "Deflated Explicit VR Little Endian", true, false, true, false, false)
	add(ExplicitVRBigEndian, "Explicit VR Big Endian", true, true, false, false, false)
	add(JPEGBaseline8Bit, "JPEG Baseline (Process 1)", true, false, false, true, true)
	add(JPEGExtended12Bit, "JPEG Extended (Process 2 & 4)", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 & 5)", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.53", "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.54", "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9)", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.55", "JPEG Full Progression, Non-Hierarchical (Process 10 & 12)", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.56", "JPEG Full Progression, Non-Hierarchical (Process 11 & 13)", true, false, false, true, true)
	add(JPEGLossless, "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, false, true, false)
	add("1.2.840.10008.1.2.4.58", "JPEG Lossless, Non-Hierarchical (Process 15)", true, false, false, true, false)
	add(JPEGLosslessSV1, "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", true, false, false, true, false)
	add(JPEGLSLossless, "JPEG-LS Lossless Image Compression", true, false, false, true, false)
	add(JPEGLSNearLossless, "JPEG-LS Lossy (Near-Lossless) Image Compression", true, false, false, true, true)
	add(JPEG2000Lossless, "JPEG 2000 Image Compression (Lossless Only)", true, false, false, true, false)
	add(JPEG2000, "JPEG 2000 Image Compression", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", true, false, false, true, false)
	add("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.94", "JPIP Referenced", true, false, false, false, false)
	add("1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", true, false, true, false, false)
	add("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", true, false, false, true, false)
	add("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", true, false, false, true, false)
	add("1.2.840.10008.1.2.4.112", "JPEG XL", true, false, false, true, true)
	add("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", true, false, false, true, false)
	add("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", true, false, false, true, false)
	add("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", true, false, false, true, true)
	add(RLELossless, "RLE Lossless", true, false, false, true, false)
	add("1.2.840.10008.1.2.6.1", "RFC 2557 MIME encapsulation", true, false, false, false, false)
	add("1.2.840.10008.1.2.6.2", "XML Encoding", true, false, false, false, false)
	add("1.2.840.10008.1.2.7.1", "SMPTE ST 2110-20 Uncompressed Progressive Active Video", true, false, false, false, false)
	add("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", true, false, false, true, false)
	ts := transferSyntaxes[ExplicitVRBigEndian]
	ts.Retired = true
	transferSyntaxes[ExplicitVRBigEndian] = ts
}

// LookupTransferSyntax returns the transfer syntax with the given UID and
// whether radmark knows it. Datasets in unknown syntaxes are refused: their
// encoding cannot be known.
func LookupTransferSyntax(uid string) (TransferSyntax, bool) {
	ts, ok := transferSyntaxes[uid]
	return ts, ok
}

// UIDName returns the standard name of a well-known UID (SOP class,
// transfer syntax...), or "" if it is not in the registry.
func UIDName(uid string) string {
	if ts, ok := transferSyntaxes[uid]; ok {
		return ts.Name
	}
	info, err := dcmuid.Lookup(uid)
	if err != nil {
		return ""
	}
	return info.Name
}

// ValidUID reports whether s is a syntactically valid UID (PS3.5 9.1):
// at most 64 characters, dot-separated numeric components without leading
// zeros.
func ValidUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			comp := s[start:i]
			if len(comp) == 0 || (len(comp) > 1 && comp[0] == '0') {
				return false
			}
			start = i + 1
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
