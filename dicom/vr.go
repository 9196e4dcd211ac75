package dicom

// VR is a DICOM value representation, its two ASCII characters packed into
// 16 bits so it compares cheaply and costs no allocation while parsing.
type VR uint16

func vrFromBytes(a, b byte) VR { return VR(uint16(a)<<8 | uint16(b)) }

// The value representations of PS3.5 Table 6.2-1.
var (
	AE = vrFromBytes('A', 'E')
	AS = vrFromBytes('A', 'S')
	AT = vrFromBytes('A', 'T')
	CS = vrFromBytes('C', 'S')
	DA = vrFromBytes('D', 'A')
	DS = vrFromBytes('D', 'S')
	DT = vrFromBytes('D', 'T')
	FD = vrFromBytes('F', 'D')
	FL = vrFromBytes('F', 'L')
	IS = vrFromBytes('I', 'S')
	LO = vrFromBytes('L', 'O')
	LT = vrFromBytes('L', 'T')
	OB = vrFromBytes('O', 'B')
	OD = vrFromBytes('O', 'D')
	OF = vrFromBytes('O', 'F')
	OL = vrFromBytes('O', 'L')
	OV = vrFromBytes('O', 'V')
	OW = vrFromBytes('O', 'W')
	PN = vrFromBytes('P', 'N')
	SH = vrFromBytes('S', 'H')
	SL = vrFromBytes('S', 'L')
	SQ = vrFromBytes('S', 'Q')
	SS = vrFromBytes('S', 'S')
	ST = vrFromBytes('S', 'T')
	SV = vrFromBytes('S', 'V')
	TM = vrFromBytes('T', 'M')
	UC = vrFromBytes('U', 'C')
	UI = vrFromBytes('U', 'I')
	UL = vrFromBytes('U', 'L')
	UN = vrFromBytes('U', 'N')
	UR = vrFromBytes('U', 'R')
	US = vrFromBytes('U', 'S')
	UT = vrFromBytes('U', 'T')
	UV = vrFromBytes('U', 'V')
)

func (vr VR) String() string { return string([]byte{byte(vr >> 8), byte(vr)}) }

// ParseVR returns the VR named by s ("PN"), and whether s is a known VR.
func ParseVR(s string) (VR, bool) {
	if len(s) != 2 {
		return 0, false
	}
	vr := vrFromBytes(s[0], s[1])
	return vr, vr.Known()
}

// Known reports whether vr is one of the standard VRs.
func (vr VR) Known() bool {
	switch vr {
	case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW,
		PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV:
		return true
	}
	return false
}

// longLength reports whether an explicit-VR element of this VR has the
// 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). Unknown VRs use the
// long form too: the standard promises every future VR will.
func (vr VR) longLength() bool {
	switch vr {
	case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, PN, SH, SL, SS, ST, TM, UI, UL, US:
		return false
	}
	return true
}

// IsText reports whether values of this VR are character strings.
func (vr VR) IsText() bool {
	switch vr {
	case AE, AS, CS, DA, DS, DT, IS, LO, LT, PN, SH, ST, TM, UC, UI, UR, UT:
		return true
	}
	return false
}

// usesCharset reports whether values of this VR are decoded with the
// dataset's Specific Character Set; the other text VRs are plain ASCII.
func (vr VR) usesCharset() bool {
	switch vr {
	case LO, LT, PN, SH, ST, UC, UT:
		return true
	}
	return false
}

// singleValued reports whether the backslash is an ordinary character in
// values of this VR rather than a value separator.
func (vr VR) singleValued() bool {
	switch vr {
	case LT, ST, UT, UR:
		return true
	}
	return false
}

// IsBulk reports whether values of this VR are opaque binary data that
// DICOMweb carries as InlineBinary or BulkDataURI.
func (vr VR) IsBulk() bool {
	switch vr {
	case OB, OD, OF, OL, OV, OW, UN:
		return true
	}
	return false
}

// wordSize is the size of one binary value of this VR, used to swap byte
// order when reading big-endian data; 0 for byte-oriented VRs.
func (vr VR) wordSize() int {
	switch vr {
	case US, SS, OW, AT:
		return 2
	case UL, SL, FL, OF, OL:
		return 4
	case FD, OD, SV, UV, OV:
		return 8
	}
	return 0
}
