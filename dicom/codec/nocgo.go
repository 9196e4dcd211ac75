//go:build !cgo

package codec

// Without cgo there is no CharLS or OpenJPEG: the JPEG-LS and JPEG 2000
// syntaxes report EUNSUPPORTED (and Supported says false), while RLE and
// JPEG, which are pure Go, work the same.

const (
	haveCharLS   = false
	haveOpenJPEG = false
	haveHTJ2K    = false
)

func needsCgo(what string) error {
	return unsupportedf("%s decoding needs a cgo build of radmark with CharLS and OpenJPEG (CGO_ENABLED=1, libcharls-dev, libopenjp2-7-dev)", what)
}

func decodeJPEGLS(_ []byte, _ Info) (*Frame, error) { return nil, needsCgo("JPEG-LS") }

func decodeJPEG2000(_ []byte, _ Info) (*Frame, error) { return nil, needsCgo("JPEG 2000") }

func decodeHTJ2K(_ []byte, _ Info) (*Frame, error) { return nil, needsCgo("HTJ2K") }
