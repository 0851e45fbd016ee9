// Package mailtls builds the TLS client configuration of an IMAP or SMTP
// connection from the operator's settings (an extra CA bundle, the name to
// check, the lowest version) and explains certificate errors: with the
// name the server's certificate is for and who issued it, which is what an
// operator needs to fix a missing intermediate or a private CA.
package mailtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// Options are the settings of one connection.
type Options struct {
	// CA is a PEM bundle trusted in addition to the system roots (the
	// config's tls_ca: file:PATH, already read).
	CA string
	// ServerName is the name the certificate must carry; "" means the host.
	ServerName string
	// MinVersion is "1.2" or "1.3"; "" means Go's default (TLS 1.2).
	MinVersion string
}

// Versions are the accepted MinVersion values.
var Versions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// Config returns a client config for o.
func Config(o Options) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: o.ServerName}
	if o.MinVersion != "" {
		v, ok := Versions[o.MinVersion]
		if !ok {
			return nil, fmt.Errorf("tls_min_version %q: want 1.2 or 1.3", o.MinVersion)
		}
		cfg.MinVersion = v
	}
	if o.CA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(o.CA)) {
			return nil, errors.New("tls_ca: no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// CheckCA reports whether a PEM bundle holds at least one certificate.
func CheckCA(pem string) error {
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(pem)) {
		return errors.New("no PEM certificate in it")
	}
	return nil
}

// Explain adds to a handshake error the certificate's names and issuer, and
// a hint at the setting that fixes it; other errors are returned as they are.
func Explain(err error) error {
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ve) || len(ve.UnverifiedCertificates) == 0 {
		return err
	}
	c := ve.UnverifiedCertificates[0]
	names := c.DNSNames
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	hint := ""
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ua):
		hint = "; trust its issuer with tls_ca: file:PATH"
	case errors.As(err, &he):
		hint = fmt.Sprintf("; the name checked was %q (tls_server_name sets it)", he.Host)
	}
	return fmt.Errorf("certificate for %s issued by %q, valid %s to %s: %w%s",
		strings.Join(names, ", "), c.Issuer.String(), c.NotBefore.Format("2006-01-02"), c.NotAfter.Format("2006-01-02"), err, hint)
}
