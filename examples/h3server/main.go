// Command h3server serves HTTP/3 (quic-go's http3, unmodified) on -members
// members of one xdpmux UDP SO_REUSEPORT group bound to -listen on -iface,
// one quic.Transport per member (package dataplane/quicep). With -policy
// quic (the default) the dataplane routes each QUIC packet to the member
// whose server ID its connection ID carries, so a connection survives a
// change of the client's address or port (NAT rebinding, migration); with
// threshold, modulo or maglev the packet hash picks, as the kernel does.
// With -kernel the same handler runs on -members kernel SO_REUSEPORT UDP
// sockets, each with its own quic-go transport (-iface and -policy unused).
//
//	h3server -iface eth1 -listen 198.18.0.1:443 -members 4 -policy quic
//	h3server -kernel -listen 198.18.0.1:443 -members 4
//
// GET /whoami answers the serving member's index (0 to -members - 1) as
// decimal text. A self-signed certificate (for "localhost" and the -listen
// address) is generated at start unless -cert and -key name PEM files. All
// members share one stateless reset key: a member resets at once a
// connection it does not know, such as one of a stopped member or one the
// hash sent to it after a rebinding (docs/QUIC.md).
//
// With QLOGDIR set, quic-go writes a qlog file per connection there.
//
// Run it in the network namespace of the interface (ip netns exec). It
// serves until SIGINT or SIGTERM, then closes every connection and member.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/qlog"

	"github.com/xdpmux/xdpmux/dataplane"
	"github.com/xdpmux/xdpmux/dataplane/quicep"
	"github.com/xdpmux/xdpmux/examples/internal/reuseport"
	"github.com/xdpmux/xdpmux/examples/internal/serving"
	"github.com/xdpmux/xdpmux/localgroup"
	"github.com/xdpmux/xdpmux/pcb"
	"github.com/xdpmux/xdpmux/rxq"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// options configure a server.
type options struct {
	Iface    string
	Listen   netip.AddrPort
	Members  int
	Policy   localgroup.Policy
	Kernel   bool
	CertFile string
	KeyFile  string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("h3server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iface := fs.String("iface", "", "interface to serve (xdpmux variant)")
	listen := fs.String("listen", "", "ADDR:PORT to serve on")
	members := fs.Int("members", 2, "number of members (endpoints or kernel sockets)")
	policy := fs.String("policy", "quic", "pick policy: quic, threshold, modulo or maglev")
	kernel := fs.Bool("kernel", false, "use kernel SO_REUSEPORT UDP sockets instead of xdpmux")
	cert := fs.String("cert", "", "certificate PEM file (default: self-signed)")
	key := fs.String("key", "", "private key PEM file (with -cert)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o, err := parseOptions(*iface, *listen, *members, *policy, *kernel, *cert, *key)
	if err != nil {
		fmt.Fprintf(stderr, "h3server: %v\n", err)
		return 2
	}
	s, err := start(o)
	if err != nil {
		fmt.Fprintf(stderr, "h3server: %v\n", err)
		return 1
	}
	ready := func() {
		fmt.Fprintf(stdout, "h3server: serving HTTP/3 on %s, %d members (%s)\n", o.Listen, o.Members, s.variant)
	}
	if err = serving.Wait(ready, s.failed, nil); err != nil {
		fmt.Fprintf(stderr, "h3server: %v\n", err)
	}
	if cerr := s.close(); cerr != nil {
		fmt.Fprintf(stderr, "h3server: %v\n", cerr)
		return 1
	}
	if err != nil {
		return 1
	}
	fmt.Fprintln(stdout, "h3server: stopped")
	return 0
}

func parseOptions(iface, listen string, members int, policy string, kernel bool, cert, key string) (options, error) {
	o := options{Iface: iface, Members: members, Kernel: kernel, CertFile: cert, KeyFile: key}
	var err error
	if o.Listen, err = netip.ParseAddrPort(listen); err != nil {
		return o, fmt.Errorf("-listen %q: %w", listen, err)
	}
	if o.Policy, err = localgroup.ParsePolicy(policy); err != nil {
		return o, fmt.Errorf("-policy: %w", err)
	}
	switch {
	case !o.Kernel && o.Iface == "":
		return o, errors.New("-iface is required (or -kernel)")
	case o.Members < 1:
		return o, fmt.Errorf("-members %d: must be at least 1", o.Members)
	case (cert == "") != (key == ""):
		return o, errors.New("-cert and -key go together")
	}
	return o, nil
}

// member is one HTTP/3 server on one transport.
type member struct {
	index int
	tr    *quic.Transport
	ln    *quic.EarlyListener
	ep    *dataplane.Endpoint // nil for -kernel
	srv   *http3.Server
	done  chan struct{} // closed when Serve returned

	stopOnce sync.Once
	stopErr  error
}

// server is a running set of members.
type server struct {
	variant string
	ifc     *dataplane.Interface // nil for -kernel
	members []*member
	failed  chan error
}

// socketOptions are the AF_XDP socket options of the xdpmux variant: the
// defaults plus a TX ring, which replies need.
func socketOptions() rxq.SocketOptions {
	so := rxq.DefaultSocketOptions()
	so.TXRingSize = 2048
	so.CompletionRingSize = 2048
	return so
}

// quicConfig is the quic-go configuration of every member.
func quicConfig() *quic.Config {
	return &quic.Config{MaxIdleTimeout: 30 * time.Second, Tracer: qlog.DefaultConnectionTracer}
}

// start opens the members (in the calling OS thread's network namespace)
// and serves HTTP/3 on each; it returns once all serve.
func start(o options) (_ *server, err error) {
	s := &server{failed: make(chan error, o.Members)}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	tlsConf, err := tlsConfig(o)
	if err != nil {
		return nil, err
	}
	var resetKey quic.StatelessResetKey
	if _, err := rand.Read(resetKey[:]); err != nil {
		return nil, err
	}
	var trs []*quic.Transport
	var eps []*dataplane.Endpoint
	if o.Kernel {
		s.variant = "kernel SO_REUSEPORT"
		for range o.Members {
			pc, err := reuseport.ListenPacket("udp", o.Listen.String())
			if err != nil {
				return nil, err
			}
			trs = append(trs, &quic.Transport{Conn: pc, StatelessResetKey: &resetKey})
			eps = append(eps, nil)
		}
	} else {
		s.variant = "xdpmux on " + o.Iface + ", policy " + o.Policy.String()
		cfg := dataplane.InterfaceConfig{Ifname: o.Iface, Socket: socketOptions()}
		cfg.Config.Table.Policy = o.Policy
		if s.ifc, err = dataplane.OpenInterface(cfg); err != nil {
			return nil, err
		}
		for i := range o.Members {
			// ReusePort even for one member: a group member has a server ID.
			ep, err := s.ifc.Bind(pcb.Spec{Proto: pcb.UDP, Local: o.Listen, ReusePort: true,
				Owner: pcb.Owner("h3server"), Name: fmt.Sprintf("member%d", i)}, dataplane.EndpointOptions{})
			if err != nil {
				return nil, err
			}
			tr, err := quicep.NewTransport(ep, &resetKey)
			if err != nil {
				ep.Close()
				return nil, err
			}
			trs = append(trs, tr)
			eps = append(eps, ep)
		}
	}
	for i, tr := range trs {
		m := &member{index: i, tr: tr, ep: eps[i], done: make(chan struct{})}
		s.members = append(s.members, m)
		ln, err := tr.ListenEarly(http3.ConfigureTLSConfig(tlsConf), quicConfig())
		if err != nil {
			close(m.done)
			return nil, fmt.Errorf("member %d: listen: %w", i, err)
		}
		m.ln = ln
		m.srv = &http3.Server{Handler: handler(i)}
		go func() {
			defer close(m.done)
			if err := m.srv.ServeListener(ln); err != nil && !errors.Is(err, http.ErrServerClosed) &&
				!errors.Is(err, quic.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.failed <- fmt.Errorf("member %d: %w", i, err)
			}
		}()
	}
	return s, nil
}

// handler serves member index's paths.
func handler(index int) http.Handler {
	body := []byte(strconv.Itoa(index))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	return mux
}

// stop stops one member: its HTTP/3 server (closing its connections), its
// transport and its endpoint, which leaves the group. Idempotent.
func (m *member) stop() error {
	m.stopOnce.Do(func() {
		var errs []error
		if m.srv != nil {
			if err := m.srv.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if m.ln != nil {
			m.ln.Close()
		}
		if err := m.tr.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		if m.tr.Conn != nil {
			m.tr.Conn.Close() // the transport does not close a conn it was given
		}
		<-m.done
		m.stopErr = errors.Join(errs...)
	})
	return m.stopErr
}

// close stops every member and closes the interface.
func (s *server) close() error {
	var errs []error
	for _, m := range s.members {
		if err := m.stop(); err != nil {
			errs = append(errs, fmt.Errorf("member %d: %w", m.index, err))
		}
	}
	s.members = nil
	if s.ifc != nil {
		if err := s.ifc.Close(); err != nil {
			errs = append(errs, err)
		}
		s.ifc = nil
	}
	return errors.Join(errs...)
}

// tlsConfig loads -cert/-key, or makes a self-signed certificate for
// localhost and the -listen address.
func tlsConfig(o options) (*tls.Config, error) {
	if o.CertFile != "" {
		c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{c}}, nil
	}
	c, err := selfSigned(o.Listen.Addr())
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}, nil
}

// selfSigned returns a P-256 certificate, valid for a day, for localhost
// and addr.
func selfSigned(addr netip.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "h3server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	if addr.IsValid() && !addr.IsUnspecified() {
		tmpl.IPAddresses = []net.IP{addr.AsSlice()}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
