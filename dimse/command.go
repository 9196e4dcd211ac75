package dimse

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Command fields (PS3.7 E.1).
const (
	CStoreRQ  uint16 = 0x0001
	CStoreRSP uint16 = 0x8001
	CGetRQ    uint16 = 0x0010
	CGetRSP   uint16 = 0x8010
	CFindRQ   uint16 = 0x0020
	CFindRSP  uint16 = 0x8020
	CMoveRQ   uint16 = 0x0021
	CMoveRSP  uint16 = 0x8021
	CEchoRQ   uint16 = 0x0030
	CEchoRSP  uint16 = 0x8030
	CCancelRQ uint16 = 0x0FFF
)

// Status codes (PS3.4, PS3.7 C).
const (
	StatusSuccess                uint16 = 0x0000
	StatusCancel                 uint16 = 0xFE00
	StatusPending                uint16 = 0xFF00
	StatusPendingWarning         uint16 = 0xFF01 // optional keys not supported
	StatusOutOfResources         uint16 = 0xA700
	StatusSubOpsOutOfResources   uint16 = 0xA702 // C-MOVE/C-GET: number of matches or sub-operations
	StatusMoveDestinationUnknown uint16 = 0xA801
	StatusDatasetMismatch        uint16 = 0xA900 // data set does not match SOP class / identifier
	StatusCannotUnderstand       uint16 = 0xC000
	StatusUnableToProcess        uint16 = 0xC001
	StatusSubOpsWarning          uint16 = 0xB000 // C-MOVE/C-GET: one or more sub-operations failed
	StatusSOPClassNotSupported   uint16 = 0x0122
	StatusUnrecognizedOperation  uint16 = 0x0211
	StatusDuplicateInvocation    uint16 = 0x0210
	StatusInvalidArgumentValue   uint16 = 0x0115
)

// noDataSet is CommandDataSetType's value for a message without a data set.
const noDataSet uint16 = 0x0101

// Command element tags (group 0000).
const (
	tagCommandGroupLength      uint32 = 0x00000000
	tagAffectedSOPClassUID     uint32 = 0x00000002
	tagRequestedSOPClassUID    uint32 = 0x00000003
	tagCommandField            uint32 = 0x00000100
	tagMessageID               uint32 = 0x00000110
	tagMessageIDRespondedTo    uint32 = 0x00000120
	tagMoveDestination         uint32 = 0x00000600
	tagPriority                uint32 = 0x00000700
	tagCommandDataSetType      uint32 = 0x00000800
	tagStatus                  uint32 = 0x00000900
	tagOffendingElement        uint32 = 0x00000901
	tagErrorComment            uint32 = 0x00000902
	tagAffectedSOPInstanceUID  uint32 = 0x00001000
	tagRemainingSubOps         uint32 = 0x00001020
	tagCompletedSubOps         uint32 = 0x00001021
	tagFailedSubOps            uint32 = 0x00001022
	tagWarningSubOps           uint32 = 0x00001023
	tagMoveOriginatorAE        uint32 = 0x00001030
	tagMoveOriginatorMessageID uint32 = 0x00001031
)

// Command is a DIMSE command set (PS3.7 9.3, 10.3).
type Command struct {
	Field                  uint16
	MessageID              uint16
	MessageIDRespondedTo   uint16
	AffectedSOPClassUID    string
	AffectedSOPInstanceUID string
	MoveDestination        string
	Priority               uint16
	HasDataSet             bool
	Status                 uint16
	ErrorComment           string
	// Sub-operation counters of C-MOVE/C-GET responses; nil when absent.
	Remaining, Completed, Failed, Warning *uint16
	MoveOriginatorAE                      string
	MoveOriginatorMessageID               uint16
	// hasStatus reports that Status was present (responses).
	hasStatus bool
}

// IsResponse reports whether c is a response (high bit of the field).
func (c *Command) IsResponse() bool { return c.Field&0x8000 != 0 }

func u16p(v uint16) *uint16 { return &v }

// maxCommandSize bounds a command set; real ones are a few hundred bytes.
const maxCommandSize = 64 << 10

// decodeCommand parses a command set in implicit VR little endian. It never
// panics and never allocates more than the input holds.
func decodeCommand(b []byte) (*Command, error) {
	if len(b) > maxCommandSize {
		return nil, protoErr("command set of %d bytes exceeds %d", len(b), maxCommandSize)
	}
	c := &Command{}
	seen := map[uint32]bool{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, protoErr("truncated command element")
		}
		tag := uint32(binary.LittleEndian.Uint16(b[0:2]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:4]))
		n := binary.LittleEndian.Uint32(b[4:8])
		if tag>>16 != 0 {
			return nil, protoErr("element (%04X,%04X) outside group 0000 in a command set", tag>>16, tag&0xFFFF)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, protoErr("command element (0000,%04X) of %d bytes overruns the command set", tag, n)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		seen[tag] = true
		us := func() (uint16, error) {
			if len(v) != 2 {
				return 0, protoErr("command element (0000,%04X) has %d bytes, US needs 2", tag, len(v))
			}
			return binary.LittleEndian.Uint16(v), nil
		}
		var err error
		switch tag {
		case tagAffectedSOPClassUID, tagRequestedSOPClassUID:
			if c.AffectedSOPClassUID == "" {
				c.AffectedSOPClassUID = trimUID(v)
			}
		case tagAffectedSOPInstanceUID:
			c.AffectedSOPInstanceUID = trimUID(v)
		case tagCommandField:
			c.Field, err = us()
		case tagMessageID:
			c.MessageID, err = us()
		case tagMessageIDRespondedTo:
			c.MessageIDRespondedTo, err = us()
		case tagMoveDestination:
			c.MoveDestination = strings.Trim(string(v), " \x00")
		case tagPriority:
			c.Priority, err = us()
		case tagCommandDataSetType:
			var t uint16
			t, err = us()
			c.HasDataSet = t != noDataSet
		case tagStatus:
			c.Status, err = us()
			c.hasStatus = true
		case tagErrorComment:
			c.ErrorComment = strings.Trim(string(v), " \x00")
		case tagRemainingSubOps, tagCompletedSubOps, tagFailedSubOps, tagWarningSubOps:
			var x uint16
			if x, err = us(); err == nil {
				switch tag {
				case tagRemainingSubOps:
					c.Remaining = u16p(x)
				case tagCompletedSubOps:
					c.Completed = u16p(x)
				case tagFailedSubOps:
					c.Failed = u16p(x)
				default:
					c.Warning = u16p(x)
				}
			}
		case tagMoveOriginatorAE:
			c.MoveOriginatorAE = strings.Trim(string(v), " \x00")
		case tagMoveOriginatorMessageID:
			c.MoveOriginatorMessageID, err = us()
		}
		if err != nil {
			return nil, err
		}
	}
	if !seen[tagCommandField] {
		return nil, protoErr("command set lacks CommandField (0000,0100)")
	}
	if !seen[tagCommandDataSetType] {
		return nil, protoErr("command set lacks CommandDataSetType (0000,0800)")
	}
	return c, nil
}

type cmdElem struct {
	tag uint32
	val []byte
}

// encode writes the command set in implicit VR little endian, group length
// first.
func (c *Command) encode() []byte {
	var els []cmdElem
	str := func(tag uint32, s string, pad byte) {
		v := []byte(s)
		if len(v)%2 == 1 {
			v = append(v, pad)
		}
		els = append(els, cmdElem{tag, v})
	}
	us := func(tag uint32, x uint16) {
		els = append(els, cmdElem{tag, []byte{byte(x), byte(x >> 8)}})
	}
	if c.AffectedSOPClassUID != "" {
		str(tagAffectedSOPClassUID, c.AffectedSOPClassUID, 0)
	}
	us(tagCommandField, c.Field)
	if c.IsResponse() || c.Field == CCancelRQ {
		us(tagMessageIDRespondedTo, c.MessageIDRespondedTo)
	} else {
		us(tagMessageID, c.MessageID)
	}
	if c.MoveDestination != "" {
		v := make([]byte, 16)
		copy(v, fmt.Sprintf("%-16s", c.MoveDestination))
		els = append(els, cmdElem{tagMoveDestination, v})
	}
	switch c.Field {
	case CStoreRQ, CFindRQ, CMoveRQ, CGetRQ:
		us(tagPriority, c.Priority)
	}
	if c.HasDataSet {
		us(tagCommandDataSetType, 0x0000)
	} else {
		us(tagCommandDataSetType, noDataSet)
	}
	if c.IsResponse() {
		us(tagStatus, c.Status)
		if c.ErrorComment != "" {
			ec := c.ErrorComment
			if len(ec) > 64 {
				ec = ec[:64]
			}
			str(tagErrorComment, ec, ' ')
		}
	}
	if c.AffectedSOPInstanceUID != "" {
		str(tagAffectedSOPInstanceUID, c.AffectedSOPInstanceUID, 0)
	}
	for _, p := range []struct {
		tag uint32
		v   *uint16
	}{{tagRemainingSubOps, c.Remaining}, {tagCompletedSubOps, c.Completed}, {tagFailedSubOps, c.Failed}, {tagWarningSubOps, c.Warning}} {
		if p.v != nil {
			us(p.tag, *p.v)
		}
	}
	if c.MoveOriginatorAE != "" {
		str(tagMoveOriginatorAE, c.MoveOriginatorAE, ' ')
		us(tagMoveOriginatorMessageID, c.MoveOriginatorMessageID)
	}
	sort.Slice(els, func(i, j int) bool { return els[i].tag < els[j].tag })
	n := 0
	for _, e := range els {
		n += 8 + len(e.val)
	}
	out := make([]byte, 0, 12+n)
	out = append(out, 0, 0, 0, 0, 4, 0, 0, 0, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	for _, e := range els {
		out = binary.LittleEndian.AppendUint16(out, uint16(e.tag>>16))
		out = binary.LittleEndian.AppendUint16(out, uint16(e.tag))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e.val)))
		out = append(out, e.val...)
	}
	return out
}

// statusKind classifies a status (PS3.7 C).
func statusKind(s uint16) string {
	switch {
	case s == StatusSuccess:
		return "success"
	case s == StatusPending || s == StatusPendingWarning:
		return "pending"
	case s == StatusCancel:
		return "cancel"
	case s&0xF000 == 0xB000 || s == 0x0107 || s == 0x0116:
		return "warning"
	}
	return "failure"
}
