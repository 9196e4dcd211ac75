package dimse

import (
	"context"
	"net/netip"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
)

// ProjectAE routes associations called by AETitle into one project. Its
// allow-lists, where set, replace the server's for that AE title.
type ProjectAE struct {
	AETitle        string
	Project        string
	AllowedCallers []string
	AllowedHosts   []string
}

type projectAE struct {
	ProjectAE
	hosts []netip.Prefix
}

// ProjectStore takes the data sets sent to a project's AE title; the
// intake service (which de-identifies them) is one.
type ProjectStore interface {
	// StoreToProject stores src, a Part 10 file, into project. held is
	// the reason it was held for review rather than reaching the
	// project; err is a *radmark.Error saying why it was refused.
	StoreToProject(ctx context.Context, project, callingAE string, src archive.Source) (held string, err error)
}

func (s *Server) projectOf(calledAE string) string {
	if p, ok := s.projects[calledAE]; ok {
		return p.Project
	}
	return ""
}

// StatusNotAuthorized refuses a C-STORE the receiver may not accept
// (PS3.7 C.4.2: "Refused: Not Authorized"), here a project that has no
// de-identification profile.
const StatusNotAuthorized uint16 = 0x0124

// StatusCoerced is the C-STORE warning that data elements were changed
// (PS3.4 B.2.3): what a project stores is the de-identified copy.
const StatusCoerced uint16 = 0xB000

// storeToProject hands a data set to the project's intake and maps its
// answer to a C-STORE status. Success is a warning, coercion: the
// project holds a de-identified copy under other UIDs, never what was
// sent.
func (s *Server) storeToProject(ctx context.Context, a *association, src archive.Source) (uint16, string) {
	held, err := s.cfg.ProjectStore.StoreToProject(ctx, a.project, a.callingAE, src)
	if err != nil {
		msg := radmark.ErrorMessage(err)
		switch radmark.ErrorCode(err) {
		case radmark.EFORBIDDEN:
			return StatusNotAuthorized, msg
		case radmark.EUNAVAILABLE, radmark.ETOOLARGE, radmark.EINTERNAL:
			return StatusOutOfResources, msg
		case radmark.ECONFLICT:
			return StatusDatasetMismatch, msg
		}
		return StatusCannotUnderstand, msg
	}
	if held != "" {
		return StatusCoerced, "de-identified and held for review: " + held
	}
	return StatusCoerced, "de-identified for project " + a.project
}
