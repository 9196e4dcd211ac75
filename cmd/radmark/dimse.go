package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dimse"
)

// dimseFlags configure DICOM networking (C-ECHO, C-STORE, C-FIND, C-MOVE,
// C-GET) for `radmark serve`.
type dimseFlags struct {
	port                       *int
	bind, ae, allow, hosts     *string
	peers, cert, key, clientCA *string
	projects                   *string
}

func (f *dimseFlags) register(fs *flag.FlagSet) {
	f.port = fs.Int("dicom-port", envInt("dicom-port", 0), "DIMSE port (0: no DICOM networking)")
	f.bind = fs.String("dicom-bind", envDefault("dicom-bind", ""), "address the DIMSE port binds to (default all)")
	f.ae = fs.String("dicom-ae", envDefault("dicom-ae", "RADMARK"), "AE title radmark answers to")
	f.allow = fs.String("dicom-allow", envDefault("dicom-allow", ""), "calling AE titles allowed, comma-separated (default any)")
	f.hosts = fs.String("dicom-allow-hosts", envDefault("dicom-allow-hosts", ""), "peer IPs or CIDRs allowed, comma-separated (default any)")
	f.peers = fs.String("dicom-peers", envDefault("dicom-peers", ""), "AE table for C-MOVE: AE@host:port,...")
	f.cert = fs.String("dicom-tls-cert", envDefault("dicom-tls-cert", ""), "PEM certificate: DIMSE over TLS (PS3.15 Annex B)")
	f.key = fs.String("dicom-tls-key", envDefault("dicom-tls-key", ""), "PEM key for --dicom-tls-cert")
	f.projects = fs.String("dicom-projects", envDefault("dicom-projects", ""),
		`project AE titles, ";"-separated: "AE project=ID [callers=A,B] [hosts=IP,CIDR]"; what they receive is de-identified into the project`)
	f.clientCA = fs.String("dicom-tls-client-ca", envDefault("dicom-tls-client-ca", ""), "PEM CAs whose client certificates are required")
}

func commaList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' })
}

// start runs the DIMSE server when a port is set; the returned function
// stops it.
func (f *dimseFlags) start(ctx context.Context, arch *archive.Service, projects dimse.ProjectStore, log *slog.Logger) (func(), error) {
	if *f.port <= 0 {
		return func() {}, nil
	}
	peers, err := dimse.ParsePeers(*f.peers)
	if err != nil {
		return nil, usageError{"--dicom-peers: " + err.Error()}
	}
	projectAEs, err := parseProjectAEs(*f.projects)
	if err != nil {
		return nil, usageError{"--dicom-projects: " + err.Error()}
	}
	cfg := dimse.Config{AETitle: *f.ae, Addr: net.JoinHostPort(*f.bind, strconv.Itoa(*f.port)), Peers: peers, Logger: log,
		AllowedCallers: commaList(*f.allow), AllowedHosts: commaList(*f.hosts), Projects: projectAEs, ProjectStore: projects}
	if *f.cert != "" {
		if cfg.TLS, err = dimse.TLSConfig(*f.cert, *f.key, *f.clientCA); err != nil {
			return nil, err
		}
	}
	ds, err := dimse.NewServer(cfg, arch)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := ds.ListenAndServe(ctx); err != nil && !errors.Is(err, dimse.ErrServerClosed) {
			log.Error("dimse", "err", err)
		}
	}()
	return func() { ds.Close() }, nil
}
