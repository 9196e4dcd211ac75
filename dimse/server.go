package dimse

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
)

// Archive is what the DIMSE services need from the archive;
// *archive.Service implements it.
type Archive interface {
	Ingest(ctx context.Context, sources []archive.Source, opts archive.IngestOptions) ([]archive.Result, error)
	SearchStudies(ctx context.Context, q *archive.Search, urls archive.URLs) ([]archive.SearchResult, error)
	SearchSeries(ctx context.Context, q *archive.Search, urls archive.URLs) ([]archive.SearchResult, error)
	SearchInstances(ctx context.Context, q *archive.Search, urls archive.URLs) ([]archive.SearchResult, error)
	Select(ctx context.Context, study, series, sop radmark.UID) ([]*radmark.Instance, error)
	Open(ctx context.Context, in *radmark.Instance) (io.ReadCloser, error)
	// Encoded returns the instance as a Part 10 file in ts (used to
	// decompress for peers that accept only uncompressed syntaxes).
	Encoded(ctx context.Context, in *radmark.Instance, ts string) (io.ReadCloser, string, error)
}

// Peer is a known application entity: a C-MOVE destination, or a PACS the
// C-STORE SCU sends to.
type Peer struct {
	AETitle string
	Host    string
	Port    int
	// TLS, if set, secures associations to the peer (PS3.15 B.1).
	TLS *tls.Config
}

// Addr is the peer's host:port.
func (p Peer) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// ParsePeers reads an AE table written as "AE@host:port" entries separated
// by commas or newlines, e.g. "PACS@10.0.0.5:104,WS1@ws1.local:11112".
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		f = strings.TrimSpace(f)
		if f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		ae, addr, ok := strings.Cut(f, "@")
		if !ok {
			return nil, fmt.Errorf("dimse: peer %q is not AE@host:port", f)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dimse: peer %q: %w", f, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("dimse: peer %q: port %q is not a TCP port", f, port)
		}
		if err := checkAETitle(ae); err != nil {
			return nil, fmt.Errorf("dimse: peer %q: %w", f, err)
		}
		out = append(out, Peer{AETitle: ae, Host: host, Port: n})
	}
	return out, nil
}

func checkAETitle(ae string) error {
	if strings.TrimSpace(ae) == "" || len(ae) > 16 {
		return fmt.Errorf("AE title %q must have 1 to 16 characters", ae)
	}
	for _, c := range ae {
		if c < 0x20 || c > 0x7E || c == '\\' {
			return fmt.Errorf("AE title %q may hold printable ASCII except backslash only", ae)
		}
	}
	return nil
}

// Config configures a DIMSE server.
type Config struct {
	// AETitle is the called AE title radmark answers to.
	AETitle string
	// Addr is the listen address for ListenAndServe (":11112" default).
	Addr string
	// AllowedCallers lists the calling AE titles accepted; empty accepts
	// any. AllowedHosts lists the peer addresses (IPs or CIDR prefixes)
	// accepted; empty accepts any.
	AllowedCallers []string
	AllowedHosts   []string
	// TLS, if set, makes ListenAndServe and Serve accept only TLS
	// connections (PS3.15 B.1); set ClientAuth to require certificates.
	TLS *tls.Config
	// MaxPDULength is the longest P-DATA-TF radmark accepts (default 1 MiB,
	// at most 16 MiB); it is announced to the peer.
	MaxPDULength uint32
	// MaxAssociations bounds concurrent associations (default 32); more
	// are rejected as transient, local limit exceeded.
	MaxAssociations int
	// MaxDataSetSize bounds one received data set (default 4 GiB).
	MaxDataSetSize int64
	// ARTIMTimeout bounds association set-up and release (default 30 s);
	// IdleTimeout the wait for the peer's next PDU (default 5 min).
	ARTIMTimeout time.Duration
	IdleTimeout  time.Duration
	// Peers is the AE table of C-MOVE destinations.
	Peers []Peer
	// SpoolDir holds received data sets too large for memory (default the
	// system temp folder).
	SpoolDir string
	// Authenticate, if set, checks the user identity an association
	// request carries (PS3.7 D.3.3.7; nil when it carries none). Returning
	// false rejects the association (permanent, calling AE not
	// recognized); response is sent back when the requestor asked for a
	// positive response. Without it, identities are accepted unchecked.
	Authenticate func(callingAE string, id *UserIdentity) (ok bool, response []byte)
	// Projects are further called AE titles, each leading into one
	// project through ProjectStore (which de-identifies): associations
	// called so may only echo and store.
	Projects     []ProjectAE
	ProjectStore ProjectStore
	// MaxFindResults caps the matches of one C-FIND or retrieve (default
	// 10000).
	MaxFindResults int
	Logger         *slog.Logger
}

func (c *Config) setDefaults() error {
	if err := checkAETitle(c.AETitle); err != nil {
		return fmt.Errorf("dimse: %w", err)
	}
	if c.Addr == "" {
		c.Addr = ":11112"
	}
	if c.MaxPDULength == 0 {
		c.MaxPDULength = 1 << 20
	}
	if c.MaxPDULength < 4096 || c.MaxPDULength > 16<<20 {
		return fmt.Errorf("dimse: MaxPDULength %d must be between 4096 and 16 MiB", c.MaxPDULength)
	}
	if c.MaxAssociations <= 0 {
		c.MaxAssociations = 32
	}
	if c.MaxDataSetSize <= 0 {
		c.MaxDataSetSize = 4 << 30
	}
	if c.ARTIMTimeout <= 0 {
		c.ARTIMTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.MaxFindResults <= 0 {
		c.MaxFindResults = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, h := range c.AllowedHosts {
		if _, err := parseHostRule(h); err != nil {
			return err
		}
	}
	for _, p := range c.Peers {
		if err := checkAETitle(p.AETitle); err != nil {
			return fmt.Errorf("dimse: peer: %w", err)
		}
	}
	seen := map[string]bool{strings.TrimSpace(c.AETitle): true}
	for _, p := range c.Projects {
		if err := checkAETitle(p.AETitle); err != nil {
			return fmt.Errorf("dimse: project %s: %w", p.Project, err)
		}
		if p.Project == "" {
			return fmt.Errorf("dimse: AE title %s names no project", p.AETitle)
		}
		if seen[strings.TrimSpace(p.AETitle)] {
			return fmt.Errorf("dimse: AE title %s is used twice", p.AETitle)
		}
		seen[strings.TrimSpace(p.AETitle)] = true
		for _, h := range p.AllowedHosts {
			if _, err := parseHostRule(h); err != nil {
				return err
			}
		}
	}
	if len(c.Projects) > 0 && c.ProjectStore == nil {
		return errors.New("dimse: project AE titles need a ProjectStore")
	}
	return nil
}

func parseHostRule(h string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(h); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("dimse: allowed host %q is neither an IP address nor a CIDR prefix", h)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Server is a DIMSE service provider: Verification, Storage, and
// Query/Retrieve (FIND, MOVE, GET) in the Patient and Study Root models.
type Server struct {
	cfg     Config
	archive Archive
	hosts   []netip.Prefix
	// projects maps the project AE titles to their routes.
	projects map[string]*projectAE
	sem      chan struct{}

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	closed    bool
	wg        sync.WaitGroup
}

// NewServer checks cfg and returns a server storing into and answering from
// a.
func NewServer(cfg Config, a Archive) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, archive: a, sem: make(chan struct{}, cfg.MaxAssociations),
		listeners: map[net.Listener]bool{}, conns: map[net.Conn]bool{}}
	for _, h := range cfg.AllowedHosts {
		p, _ := parseHostRule(h)
		s.hosts = append(s.hosts, p)
	}
	s.projects = map[string]*projectAE{}
	for _, p := range cfg.Projects {
		pa := &projectAE{ProjectAE: p}
		for _, h := range p.AllowedHosts {
			r, _ := parseHostRule(h)
			pa.hosts = append(pa.hosts, r)
		}
		s.projects[strings.TrimSpace(p.AETitle)] = pa
	}
	return s, nil
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("dimse: server closed")

// ListenAndServe listens on Config.Addr (with TLS if configured) and serves
// until ctx ends or Close is called.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dimse: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts associations on ln until ctx ends or Close is called. With
// Config.TLS set, connections are wrapped in TLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = true
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.cfg.Logger.Info("dimse: listening", "ae", s.cfg.AETitle, "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil)
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("dimse: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return ErrServerClosed
		}
		s.conns[conn] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
			s.handle(ctx, conn)
		}()
	}
}

// Close stops listening, aborts open associations and waits for their
// handlers to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// maxAssociatePDU bounds an A-ASSOCIATE-RQ; 128 presentation contexts with
// a few transfer syntaxes each take well under this.
const maxAssociatePDU = 256 << 10

func (s *Server) handle(ctx context.Context, conn net.Conn) {
	log := s.cfg.Logger.With("remote", conn.RemoteAddr().String())
	defer func() {
		if r := recover(); r != nil {
			log.Error("dimse: association handler panicked", "panic", r)
		}
		conn.Close()
	}()
	_ = conn.SetDeadline(time.Now().Add(s.cfg.ARTIMTimeout))
	if tc, ok := conn.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("dimse: TLS handshake failed", "err", err)
			return
		}
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	p, err := readPDU(br, maxAssociatePDU)
	if err != nil {
		log.Warn("dimse: no association request", "err", err)
		if errors.Is(err, ErrProtocol) || errors.Is(err, errPDUTooLong) {
			_, _ = conn.Write(encodeAbort(2, abortInvalidParameter))
		}
		return
	}
	if p.Type != pduAssociateRQ {
		log.Warn("dimse: first PDU is not an A-ASSOCIATE-RQ", "type", p.Type)
		_, _ = conn.Write(encodeAbort(2, abortUnexpectedPDU))
		return
	}
	rq, err := decodeAssociate(p.Body, true)
	if err != nil {
		log.Warn("dimse: malformed A-ASSOCIATE-RQ", "err", err)
		_, _ = conn.Write(encodeAbort(2, abortInvalidParameter))
		return
	}
	log = log.With("calling", rq.CallingAE, "called", rq.CalledAE)
	if rej, ok := s.admit(conn, rq); !ok {
		log.Warn("dimse: association rejected", "reason", rej.Error())
		_, _ = conn.Write(rej.encode())
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		log.Warn("dimse: association rejected: too many associations", "max", s.cfg.MaxAssociations)
		_, _ = conn.Write(rejectLocalLimit.encode())
		return
	}
	a, ac := s.negotiate(conn, br, rq)
	if s.cfg.Authenticate != nil {
		ok, response := s.cfg.Authenticate(rq.CallingAE, rq.Identity)
		if !ok {
			log.Warn("dimse: association rejected: user identity not accepted")
			_, _ = conn.Write(rejectCallingAE.encode())
			return
		}
		if rq.Identity != nil && rq.Identity.PositiveResponse {
			ac.IdentityResponse = append([]byte{}, response...)
		}
	}
	if _, err := conn.Write(ac.encode(false)); err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	log.Info("dimse: association accepted", "contexts", len(a.contexts))
	s.serveAssociation(ctx, a, log)
}

// admit applies the called AE title and the allow-lists.
func (s *Server) admit(conn net.Conn, rq *associate) (Rejection, bool) {
	if rq.ProtocolVersion&1 == 0 {
		return rejectProtocolVersion, false
	}
	if rq.ApplicationContext != ApplicationContext {
		return rejectAppContext, false
	}
	callers, hosts := s.cfg.AllowedCallers, s.hosts
	if rq.CalledAE != strings.TrimSpace(s.cfg.AETitle) {
		p, ok := s.projects[rq.CalledAE]
		if !ok {
			return rejectCalledAE, false
		}
		// A project's own lists, where it has them, replace the site's.
		if len(p.AllowedCallers) > 0 {
			callers = p.AllowedCallers
		}
		if len(p.hosts) > 0 {
			hosts = p.hosts
		}
	}
	if len(callers) > 0 {
		ok := false
		for _, ae := range callers {
			if strings.TrimSpace(ae) == rq.CallingAE {
				ok = true
			}
		}
		if !ok {
			return rejectCallingAE, false
		}
	}
	if len(hosts) > 0 {
		ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
		ok := false
		for _, h := range hosts {
			if err == nil && h.Contains(ap.Addr().Unmap()) {
				ok = true
			}
		}
		if !ok {
			return rejectNoReason, false
		}
	}
	return Rejection{}, true
}

func (s *Server) negotiate(conn net.Conn, br *bufio.Reader, rq *associate) (*association, *associate) {
	a := &association{
		conn: conn, br: br, calledAE: rq.CalledAE, callingAE: rq.CallingAE, project: s.projectOf(rq.CalledAE),
		contexts: map[byte]*presentationContext{}, roles: map[string]RoleSelection{},
		maxRecv: s.cfg.MaxPDULength, maxSend: rq.MaxPDULength, idle: s.cfg.IdleTimeout,
		spoolMem: 64 << 20, maxData: s.cfg.MaxDataSetSize, spoolDir: s.cfg.SpoolDir, identity: rq.Identity,
	}
	ac := &associate{
		CalledAE: rq.CalledAE, CallingAE: rq.CallingAE, MaxPDULength: s.cfg.MaxPDULength,
		ImplementationUID: implementationUIDDIMSE, ImplementationName: "RADMARK_DIMSE",
	}
	if rq.AsyncInvoked != 0 || rq.AsyncPerformed != 0 {
		ac.AsyncInvoked, ac.AsyncPerformed = 1, 1
	}
	for _, pc := range rq.Contexts {
		res := PresentationContext{ID: pc.ID, Result: pcAbstractSyntaxNotSupported, TransferSyntaxes: []string{""}}
		if _, dup := a.contexts[pc.ID]; !dup {
			if svc, _ := serviceOf(pc.AbstractSyntax); svc != svcNone && (a.project == "" || svc == svcEcho || svc == svcStore) {
				ts := chooseTransferSyntax(svc, pc.TransferSyntaxes)
				if ts == "" {
					res.Result = pcTransferSyntaxNotSupported
				} else {
					res.Result = pcAccepted
					res.TransferSyntaxes = []string{ts}
					a.contexts[pc.ID] = &presentationContext{ID: pc.ID, AbstractSyntax: pc.AbstractSyntax, TransferSyntax: ts}
				}
			}
		} else {
			res.Result = pcUserRejection
		}
		ac.Contexts = append(ac.Contexts, res)
	}
	for _, r := range rq.Roles {
		// The requestor may act as SCP of storage (C-GET sub-operations);
		// radmark is never the SCP of a storage class in the role of the
		// requestor's SCU beyond the default.
		if IsStorageSOPClass(r.SOPClass) && r.SCP {
			a.roles[r.SOPClass] = RoleSelection{SOPClass: r.SOPClass, SCU: r.SCU, SCP: true}
			ac.Roles = append(ac.Roles, RoleSelection{SOPClass: r.SOPClass, SCU: r.SCU, SCP: true})
		} else {
			ac.Roles = append(ac.Roles, RoleSelection{SOPClass: r.SOPClass, SCU: r.SCU, SCP: false})
		}
	}
	return a, ac
}

func (s *Server) serveAssociation(ctx context.Context, a *association, log *slog.Logger) {
	for {
		m, err := a.readMessage()
		if err != nil {
			switch {
			case errors.Is(err, errReleased):
				_ = a.write(encodeRelease(pduReleaseRP))
				log.Info("dimse: association released")
			case errors.As(err, new(*AbortError)):
				log.Warn("dimse: association aborted by the peer", "err", err)
			case errors.Is(err, io.EOF):
				log.Warn("dimse: connection closed without release")
			default:
				log.Warn("dimse: association ended", "err", err)
			}
			return
		}
		if err := s.dispatch(ctx, a, m, log); err != nil {
			m.close()
			log.Warn("dimse: association aborted", "err", err)
			a.abort(2, abortNotSpecified)
			return
		}
		m.close()
	}
}

// dispatch runs one request. An error return aborts the association.
func (s *Server) dispatch(ctx context.Context, a *association, m *message, log *slog.Logger) error {
	c := m.cmd
	svc, mdl := serviceOf(m.ctx.AbstractSyntax)
	rsp := &Command{MessageIDRespondedTo: c.MessageID, AffectedSOPClassUID: c.AffectedSOPClassUID}
	if c.AffectedSOPClassUID != "" && c.AffectedSOPClassUID != m.ctx.AbstractSyntax {
		rsp.Field = c.Field | 0x8000
		rsp.Status = StatusSOPClassNotSupported
		rsp.ErrorComment = "SOP class differs from the presentation context's"
		return a.writeMessage(m.ctx, rsp, nil)
	}
	switch {
	case c.Field == CEchoRQ && svc == svcEcho:
		rsp.Field = CEchoRSP
		rsp.Status = StatusSuccess
		return a.writeMessage(m.ctx, rsp, nil)
	case c.Field == CStoreRQ && svc == svcStore:
		return s.store(ctx, a, m, log)
	case c.Field == CFindRQ && svc == svcFind:
		return s.find(ctx, a, m, mdl, log)
	case c.Field == CMoveRQ && svc == svcMove:
		return s.retrieve(ctx, a, m, mdl, false, log)
	case c.Field == CGetRQ && svc == svcGet:
		return s.retrieve(ctx, a, m, mdl, true, log)
	case c.Field == CCancelRQ:
		return nil // nothing is running: a late cancel has nothing to stop
	case c.IsResponse():
		return protoErr("unexpected response 0x%04X", c.Field)
	}
	rsp.Field = c.Field | 0x8000
	rsp.Status = StatusUnrecognizedOperation
	rsp.ErrorComment = fmt.Sprintf("operation 0x%04X is not offered on %s", c.Field, m.ctx.AbstractSyntax)
	return a.writeMessage(m.ctx, rsp, nil)
}

// TLSConfig builds the server TLS configuration of PS3.15 B.1 from PEM
// files: the certificate and key radmark presents and, if clientCAFile is
// set, the CAs whose client certificates are required.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("dimse: TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("dimse: client CAs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("dimse: %s holds no PEM certificate", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
